//! Logging and metrics.
//!
//! Logs go to stderr, as readable lines on a terminal and JSON lines
//! elsewhere (Kubernetes). Metrics live in one process-wide Prometheus
//! registry that the daemon serves. Their labels never carry account ids, so
//! their cardinality does not grow with the organization.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines on a terminal, JSON lines otherwise.
    Auto,
    Text,
    Json,
}

impl LogFormat {
    /// Resolves `Auto` by looking at stderr, where the logs go.
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

/// Starts the tracing subscriber. `RUST_LOG` overrides `default_level`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,orgscan={default_level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format.resolve() {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        _ => builder.with_target(false).try_init(),
    };
    // A second call (tests start several scans in one process) keeps the first subscriber.
    let _ = result;
}

type Labels = Vec<(String, String)>;

/// Every metric orgscan exports.
pub struct Metrics {
    pub registry: Registry,
    pub scans_started: Counter,
    /// Finished scans by result: `success`, `partial` or `failed`.
    pub scans_finished: Family<Labels, Counter>,
    /// Accounts by outcome: `scanned`, `failed` or `skipped`.
    pub accounts: Family<Labels, Counter>,
    /// Findings by status.
    pub findings: Family<Labels, Counter>,
    /// Wall time of whole scans, in seconds.
    pub scan_duration: Histogram,
    /// Unix time, in seconds, of the last scan that scanned every account.
    pub last_success: Gauge<f64, AtomicU64>,
    /// Retried AWS calls by operation.
    pub aws_retries: Family<Labels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("orgscan");
        let scans_started = Counter::default();
        let scans_finished = Family::<Labels, Counter>::default();
        let accounts = Family::<Labels, Counter>::default();
        let findings = Family::<Labels, Counter>::default();
        let buckets = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0];
        let scan_duration = Histogram::new(buckets);
        let last_success = Gauge::<f64, AtomicU64>::default();
        let aws_retries = Family::<Labels, Counter>::default();

        registry.register("scans_started", "Scans started", scans_started.clone());
        registry.register("scans_finished", "Scans finished, by result", scans_finished.clone());
        registry.register("accounts", "Accounts processed, by outcome", accounts.clone());
        registry.register("findings", "Findings written, by status", findings.clone());
        registry.register("scan_duration_seconds", "Wall time of a scan", scan_duration.clone());
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the last scan in which every account was scanned",
            last_success.clone(),
        );
        registry.register("aws_retries", "Retried AWS calls, by operation", aws_retries.clone());

        Metrics {
            registry,
            scans_started,
            scans_finished,
            accounts,
            findings,
            scan_duration,
            last_success,
            aws_retries,
        }
    }

    /// Renders the registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Returns the process-wide metrics, created on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Builds a label set with one label.
pub fn label(name: &str, value: &str) -> Labels {
    vec![(name.to_owned(), value.to_owned())]
}

/// Counts one retried AWS call.
pub fn record_retry(operation: &'static str) {
    metrics().aws_retries.get_or_create(&label("operation", operation)).inc();
}
