//! The scheduling loop: waits for each tick, adds jitter, runs one scan at a
//! time, and on shutdown gives a running scan its grace period before it
//! abandons it.
//!
//! The loop is generic over the scan, so tests drive it with fake scans on
//! tokio's paused clock.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::schedule::{Ticker, draw_jitter};
use super::shutdown::Shutdown;
use super::state::DaemonState;

/// Options of the loop, apart from the schedule itself.
#[derive(Debug, Clone, Copy)]
pub struct LoopOptions {
    /// Scan once at start, before the first tick.
    pub initial_scan: bool,
    /// Upper bound of the random delay before each scheduled scan.
    pub jitter: Duration,
    /// How long a running scan may go on after a shutdown request.
    pub grace_period: Duration,
}

/// The end of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// The scan future completed, whatever its result.
    Finished,
    /// Shutdown dropped the scan future before it completed.
    Abandoned,
}

/// Runs scans on a schedule until shutdown.
pub struct Scheduler<C> {
    ticker: Ticker,
    options: LoopOptions,
    state: Arc<DaemonState>,
    /// The wall clock, for cron schedules: `Utc::now` in the daemon, a clock
    /// that follows tokio's paused time in tests.
    wall_clock: C,
}

impl<C: Fn() -> DateTime<Utc>> Scheduler<C> {
    pub fn new(ticker: Ticker, options: LoopOptions, state: Arc<DaemonState>, wall_clock: C) -> Self {
        Scheduler {
            ticker,
            options,
            state,
            wall_clock,
        }
    }

    /// Runs `scan` at start (when [`LoopOptions::initial_scan`] is set) and
    /// on each tick, never two at once, until `shutdown` is requested.
    /// Returns once no scan runs any more.
    pub async fn run<F, Fut>(mut self, mut shutdown: Shutdown, mut scan: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        if self.options.initial_scan && !shutdown.is_requested() {
            tracing::info!("starting the initial scan");
            if self.run_scan(&mut shutdown, scan()).await == ScanEnd::Abandoned || shutdown.is_requested() {
                return;
            }
        }

        loop {
            let now = tokio::time::Instant::now();
            let Some(tick) = self.ticker.next_tick(now, (self.wall_clock)()) else {
                tracing::warn!("the schedule has no fire time left, so no further scan starts");
                shutdown.requested().await;
                return;
            };
            if tick.skipped > 0 {
                tracing::warn!(
                    skipped = tick.skipped,
                    "skipped scheduled scans because the previous scan was still running"
                );
                self.state.metrics.skipped_ticks.inc_by(tick.skipped);
            }

            let jitter = draw_jitter(self.options.jitter, &tick, &mut rand::rng());
            self.state.metrics.set_next_scan(tick.wall);
            tracing::info!(
                next_scan = %tick.wall.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                jitter_ms = jitter.as_millis() as u64,
                "next scan scheduled"
            );

            tokio::select! {
                biased;
                () = shutdown.requested() => return,
                () = tokio::time::sleep_until(tick.at + jitter) => {}
            }

            tracing::info!("starting a scheduled scan");
            if self.run_scan(&mut shutdown, scan()).await == ScanEnd::Abandoned || shutdown.is_requested() {
                return;
            }
        }
    }

    /// Runs one scan to its end, or until shutdown and its grace period end.
    async fn run_scan<Fut: Future<Output = ()>>(&self, shutdown: &mut Shutdown, scan: Fut) -> ScanEnd {
        let metrics = &self.state.metrics;
        metrics.scan_running.set(1);

        let mut scan = Box::pin(scan);
        let end = tokio::select! {
            biased;
            () = &mut scan => ScanEnd::Finished,
            () = shutdown.requested() => self.finish_within_grace(shutdown, &mut scan).await,
        };
        // Dropping the future abandons the scan: its writer removes its
        // temporary files, so nothing more is published.
        // NOTE: a scan dropped while it publishes its three files keeps those
        // already published. `accounts` is published last, so a scan without
        // it is incomplete.
        drop(scan);

        metrics.scan_running.set(0);
        match end {
            ScanEnd::Finished => self.state.mark_ready(),
            ScanEnd::Abandoned => tracing::warn!(
                grace_period = %humantime::format_duration(self.options.grace_period),
                "the running scan was abandoned at shutdown, and its temporary files are removed"
            ),
        }
        end
    }

    async fn finish_within_grace<Fut: Future<Output = ()>>(
        &self,
        shutdown: &mut Shutdown,
        scan: &mut std::pin::Pin<Box<Fut>>,
    ) -> ScanEnd {
        tracing::info!(
            grace_period = %humantime::format_duration(self.options.grace_period),
            "shutdown requested during a scan, waiting for it to finish"
        );
        tokio::select! {
            biased;
            () = scan.as_mut() => ScanEnd::Finished,
            () = shutdown.immediate() => ScanEnd::Abandoned,
            () = tokio::time::sleep(self.options.grace_period) => ScanEnd::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests;
