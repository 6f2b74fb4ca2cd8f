//! The `orgscan` command line: parses arguments, starts logging and calls
//! the library. Errors are logged once, here, with their chain of causes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use orgscan::aws::{AwsClients, load_sdk_config};
use orgscan::config::{self, ScanArgs};
use orgscan::scan::{Outcome, run_scan};
use orgscan::telemetry::{self, LogFormat};
use orgscan::{daemon, evaluate, output, summary};

/// Exit code when some accounts failed and the rest were written.
const EXIT_PARTIAL: u8 = 2;
/// Exit code when nothing could be written.
const EXIT_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "orgscan", version, about = "Find IAM users with a console password and no MFA in every account of an AWS Organization")]
struct Cli {
    /// Log format: auto picks text on a terminal and JSON lines otherwise.
    #[arg(long, global = true, value_enum, default_value = "auto", env = "ORGSCAN_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log level for orgscan's own messages; RUST_LOG overrides it.
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "ORGSCAN_LOG_LEVEL",
        value_parser = ["trace", "debug", "info", "warn", "error"]
    )]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan every account once, write the three tables and exit
    /// (0: all scanned, 2: some accounts failed, 1: nothing written).
    Scan(ScanArgs),
    /// Scan on a schedule and serve /healthz, /readyz and /metrics until
    /// SIGTERM or SIGINT.
    Daemon(daemon::DaemonArgs),
    /// Evaluate one saved credential report offline.
    Evaluate(evaluate::EvaluateArgs),
    /// Check a config file and print the settings it gives.
    ValidateConfig(ScanArgs),
    /// Print Athena DDL for the three tables, with partition projection on dt.
    AthenaDdl {
        /// Output root the tables live under, s3://bucket/prefix.
        #[arg(long)]
        location: String,
        /// Athena database name.
        #[arg(long, default_value = "orgscan")]
        database: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    telemetry::init_logging(cli.log_format, &cli.log_level);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "failed to start the async runtime");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error = %format_args!("{err:#}"), "orgscan failed");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Prints a command-line error and picks the exit code. Help and version
/// exit 0; a usage error exits 1, so that 2 keeps its one meaning: some
/// accounts failed and the rest were written.
fn usage_error(err: &clap::Error) -> ExitCode {
    let _ = err.print();
    match err.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_FAILED),
    }
}

/// Resolves on SIGINT or SIGTERM, with the signal's name.
async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};

    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler the default action still ends the process.
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => scan(args, cli.log_format).await,
        Command::Daemon(args) => daemon::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Evaluate(args) => evaluate::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::ValidateConfig(args) => validate_config(args),
        Command::AthenaDdl { location, database } => {
            let parsed: output::OutputLocation = location
                .parse()
                .with_context(|| format!("invalid --location {location:?}"))?;
            if !matches!(parsed, output::OutputLocation::S3 { .. }) {
                anyhow::bail!(
                    "invalid --location {location:?}: Athena reads tables from S3 only; pass the \
                     s3://bucket/prefix that the scans write to with --output"
                );
            }
            print!("{}", output::athena::athena_ddl(&location, &database));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn scan(args: ScanArgs, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    let settings = config::load_settings(&args).context("failed to load the configuration")?;
    let sdk_config = load_sdk_config(None).await;
    let clients = AwsClients::new(sdk_config, settings.sts_region.as_deref());

    let progress = (log_format.resolve() == LogFormat::Text && std::io::stderr().is_terminal())
        .then(|| indicatif::ProgressBar::new(0).with_message("accounts"));
    // On SIGINT or SIGTERM the scan future is dropped, so its writer removes
    // its temporary files and nothing is published.
    let summary = tokio::select! {
        result = run_scan(&settings, &clients, progress) => result.context("scan failed")?,
        signal = termination_signal() => {
            tracing::warn!(signal, "scan interrupted; its temporary files are removed and nothing was published");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };

    print!("{}", summary::render(&summary));
    if summary.count(Outcome::Failed) > 0 {
        Ok(ExitCode::from(EXIT_PARTIAL))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn validate_config(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let path: Option<PathBuf> = args.config.clone();
    let settings = config::load_settings(&args).context("invalid configuration")?;
    match path {
        Some(path) => println!("{} is valid", path.display()),
        None => println!("no config file given; the defaults and flags are valid"),
    }
    println!("{settings:#?}");
    Ok(ExitCode::SUCCESS)
}
