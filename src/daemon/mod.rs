//! `orgscan daemon`: scans on a schedule and serves `/healthz`, `/readyz`
//! and `/metrics` until SIGTERM or SIGINT.
//!
//! - [`schedule`]: `--interval` and `--schedule` (cron), ticks and jitter.
//! - [`scheduler`]: the loop that runs one scan at a time and handles shutdown.
//! - [`shutdown`]: shutdown requests, from signals to every task.
//! - [`state`]: readiness and the daemon's own metrics.
//! - [`http`]: the HTTP endpoints.
//!
//! The config is validated once, at start, and every scan uses it, so a
//! change of the file takes a restart.

pub mod http;
pub mod schedule;
pub mod scheduler;
pub mod shutdown;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::ArgGroup;

use crate::aws::{AwsClients, error_chain, load_sdk_config};
use crate::config::{self, ScanArgs, Settings};
use crate::scan::{Outcome, run_scan};
use crate::telemetry::{self, label};
use schedule::{CronSchedule, Schedule, Ticker};
use scheduler::{LoopOptions, Scheduler};
use state::DaemonState;

/// The HTTP address used when `--listen` is not given: loopback only, so a
/// daemon started by hand exposes nothing to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";

/// How long in-flight HTTP requests may take to finish once the scheduler
/// has stopped. Handlers only read memory, so this is generous.
const HTTP_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Flags of `orgscan daemon`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(ArgGroup::new("when").required(true).args(["interval", "cron"])))]
pub struct DaemonArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Time between scans, such as 30m or 6h, counted from the daemon's start.
    #[arg(long, env = "ORGSCAN_INTERVAL", value_parser = schedule::parse_interval)]
    pub interval: Option<Duration>,
    /// Cron expression in UTC: 5 fields (minute hour day-of-month month
    /// day-of-week, days 0-7 or SUN-SAT), or 6 or 7 fields with seconds first
    /// and an optional year last (days 1-7 from Sunday, or SUN-SAT).
    #[arg(long = "schedule", value_name = "CRON", env = "ORGSCAN_SCHEDULE")]
    pub cron: Option<CronSchedule>,
    /// Address of the HTTP server for /healthz, /readyz and /metrics.
    #[arg(long, env = "ORGSCAN_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// How long a running scan may go on after SIGTERM or SIGINT before it is
    /// abandoned and its unpublished files are removed.
    #[arg(long, env = "ORGSCAN_GRACE_PERIOD", default_value = "60s", value_parser = parse_duration_flag)]
    pub grace_period: Duration,
    /// Upper bound of the random delay before each scheduled scan, capped at
    /// half the time between two scans. 0s turns it off.
    #[arg(long, env = "ORGSCAN_JITTER", default_value = "30s", value_parser = parse_duration_flag)]
    pub jitter: Duration,
    /// Wait for the first tick instead of scanning at start. /readyz is then
    /// 200 from the start.
    #[arg(long)]
    pub no_initial_scan: bool,
}

impl DaemonArgs {
    /// Returns the schedule that the flags select. Clap requires exactly one of them.
    pub fn schedule(&self) -> Schedule {
        match (&self.interval, &self.cron) {
            (Some(interval), _) => Schedule::Interval(*interval),
            (None, Some(cron)) => Schedule::Cron(cron.clone()),
            (None, None) => unreachable!("clap requires --interval or --schedule"),
        }
    }

    fn loop_options(&self) -> LoopOptions {
        LoopOptions {
            initial_scan: !self.no_initial_scan,
            jitter: self.jitter,
            grace_period: self.grace_period,
        }
    }
}

fn parse_duration_flag(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|err| format!("{err} (expected a duration such as 0s, 30s or 2m)"))
}

/// Runs the daemon until SIGTERM or SIGINT, then returns `Ok` once no scan
/// runs any more. Fails before any AWS call when the config is invalid, the
/// address cannot be bound or the signal handlers cannot be installed.
pub async fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let settings = config::load_settings(&args.scan).context("failed to load the configuration")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {} (set another address with --listen)", args.listen))?;
    let (trigger, shutdown) = shutdown::channel();
    shutdown::listen_for_signals(trigger).context("failed to install the SIGTERM and SIGINT handlers")?;

    let sdk_config = load_sdk_config(None).await;
    let clients = AwsClients::new(sdk_config, settings.sts_region.as_deref());

    let schedule = args.schedule();
    let options = args.loop_options();
    let state = Arc::new(DaemonState::new(!options.initial_scan));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http_state = http::HttpState {
        daemon: Arc::clone(&state),
        shutdown: shutdown.clone(),
    };
    let server = tokio::spawn(http::serve(listener, http_state, async {
        let _ = http_stopped.await;
    }));

    tracing::info!(
        listen = %args.listen,
        schedule = %schedule,
        jitter = %humantime::format_duration(options.jitter),
        grace_period = %humantime::format_duration(options.grace_period),
        initial_scan = options.initial_scan,
        output = %settings.output,
        "daemon started"
    );

    let ticker = Ticker::new(schedule, tokio::time::Instant::now(), Utc::now());
    let scheduler = Scheduler::new(ticker, options, state, Utc::now);
    scheduler.run(shutdown, || scan_and_log(&settings, &clients)).await;

    let _ = stop_http.send(());
    match tokio::time::timeout(HTTP_STOP_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(err))) => tracing::warn!(error = %err, "the HTTP server failed while stopping"),
        Ok(Err(err)) => tracing::warn!(error = %err, "the HTTP server task failed"),
        Err(_) => tracing::warn!("timed out after 5s waiting for the HTTP server to stop"),
    }
    tracing::info!("daemon stopped");
    Ok(())
}

/// Runs one scan. A scan that writes nothing is logged at ERROR with its
/// chain of causes and counted as `failed`, and the daemon goes on either way.
async fn scan_and_log(settings: &Settings, clients: &AwsClients) {
    match run_scan(settings, clients, None).await {
        Ok(summary) => {
            // run_scan logs the totals and records the metrics of a finished scan.
            let failed = summary.count(Outcome::Failed);
            if failed > 0 {
                tracing::warn!(scan_id = %summary.scan_id, failed, "scan finished with failed accounts");
            }
        }
        Err(err) => {
            telemetry::metrics().scans_finished.get_or_create(&label("result", "failed")).inc();
            tracing::error!(error = %error_chain(&err), "scan failed, retrying at the next scheduled time");
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    /// `orgscan daemon`'s flags as a command of their own.
    #[derive(Debug, Parser)]
    struct DaemonCommand {
        #[command(flatten)]
        args: DaemonArgs,
    }

    fn parse(flags: &[&str]) -> Result<DaemonArgs, clap::Error> {
        let argv = std::iter::once("daemon").chain(flags.iter().copied());
        DaemonCommand::try_parse_from(argv).map(|command| command.args)
    }

    #[test]
    fn flags_definition_valid() {
        DaemonCommand::command().debug_assert();
    }

    #[test]
    fn flags_defaults() {
        let args = parse(&["--interval", "6h"]).unwrap();
        assert!(matches!(args.schedule(), Schedule::Interval(interval) if interval == Duration::from_secs(6 * 3600)));
        assert_eq!(args.listen, DEFAULT_LISTEN.parse::<SocketAddr>().unwrap());
        assert_eq!(args.grace_period, Duration::from_secs(60));
        assert_eq!(args.jitter, Duration::from_secs(30));
        assert!(!args.no_initial_scan);
    }

    #[test]
    fn flags_cron_schedule() {
        let args = parse(&["--schedule", "0 */6 * * *", "--jitter", "0s", "--no-initial-scan"]).unwrap();
        assert!(matches!(args.schedule(), Schedule::Cron(cron) if cron.expression == "0 */6 * * *"));
        assert_eq!(args.jitter, Duration::ZERO);
        assert!(args.loop_options().jitter.is_zero());
        assert!(!args.loop_options().initial_scan);
    }

    #[test]
    fn flags_need_exactly_one_schedule() {
        let neither = parse(&[]).unwrap_err();
        assert_eq!(neither.kind(), clap::error::ErrorKind::MissingRequiredArgument, "{neither}");

        let both = parse(&["--interval", "1h", "--schedule", "0 * * * *"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict, "{both}");
    }

    #[test]
    fn flags_reject_invalid_values() {
        let cases = [
            (&["--interval", "0s"][..], "at least 1s"),
            (&["--schedule", "0 0 * *"][..], "4 fields"),
            (&["--interval", "1h", "--jitter", "soon"][..], "expected a duration"),
            (&["--interval", "1h", "--listen", "localhost"][..], "localhost"),
        ];
        for (flags, expected) in cases {
            let err = parse(flags).unwrap_err().to_string();
            assert!(err.contains(expected), "{flags:?}: {err}");
        }
    }
}
