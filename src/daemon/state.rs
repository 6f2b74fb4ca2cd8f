//! State shared by the scheduler and the HTTP endpoints: readiness and the
//! daemon's own metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// State of one daemon, shared between the scheduler and the HTTP server.
#[derive(Debug)]
pub struct DaemonState {
    /// Set once the first scan has finished, whatever its result, so
    /// `/readyz` stays 503 until the metrics describe a scan.
    ready: AtomicBool,
    pub metrics: DaemonMetrics,
}

impl DaemonState {
    /// Creates a state that is ready at once (`ready`), or after the first scan.
    pub fn new(ready: bool) -> Self {
        DaemonState {
            ready: AtomicBool::new(ready),
            metrics: DaemonMetrics::new(),
        }
    }

    /// Marks the daemon ready: a scan has finished.
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Tells whether a scan has finished, or none was awaited.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// Metrics that only the daemon has. They live in their own registry with
/// the `orgscan` prefix, served after the process-wide one.
#[derive(Debug)]
pub struct DaemonMetrics {
    registry: Registry,
    /// 1 while a scan runs, else 0.
    pub scan_running: Gauge,
    /// Scheduled scans that did not run because the previous scan was still running.
    pub skipped_ticks: Counter,
    /// Unix time, in seconds, of the next scheduled scan before its jitter.
    pub next_scan: Gauge<f64, AtomicU64>,
}

impl DaemonMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("orgscan");
        let scan_running = Gauge::default();
        let skipped_ticks = Counter::default();
        let next_scan = Gauge::<f64, AtomicU64>::default();

        registry.register("scan_running", "1 while a scan runs, else 0", scan_running.clone());
        registry.register(
            "skipped_ticks",
            "Scheduled scans skipped because the previous scan was still running",
            skipped_ticks.clone(),
        );
        registry.register(
            "next_scan_timestamp_seconds",
            "Unix time of the next scheduled scan, before its random jitter",
            next_scan.clone(),
        );

        DaemonMetrics {
            registry,
            scan_running,
            skipped_ticks,
            next_scan,
        }
    }

    /// Records the wall time of the next scheduled scan.
    pub fn set_next_scan(&self, at: DateTime<Utc>) {
        self.next_scan.set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// Returns the registry, for the `/metrics` encoder.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
