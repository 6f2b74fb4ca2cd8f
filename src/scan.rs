//! The scan: lists the accounts, reads each one's credential report with at
//! most `concurrency` accounts in flight, evaluates the controls and streams
//! every account's result to the output writers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::aws::{AwsClients, error_chain, partition_of, with_retry};
use crate::config::Settings;
use crate::controls::{self, Finding, Status};
use crate::credentials::RoleAssumer;
use crate::org::{self, Account, OrgError, Selection};
use crate::output::store::OutputStore;
use crate::output::writer::ScanWriter;
use crate::output::{AccountRows, OutputError};
use crate::report::fetch::{FetchError, LimitedIam, ReportFetcher, ReportRateLimiter, report_rate_limiter};
use crate::report::{CredentialReport, EpochMillis};
use crate::telemetry::{self, label};

/// Accounts buffered between the scanning tasks and the writer thread.
const WRITER_QUEUE: usize = 64;
/// Pages of listed accounts buffered ahead of selection.
const PAGE_QUEUE: usize = 4;

/// One account's way through the scan: read it, or only record it.
enum Work {
    Scan(Account),
    /// A skipped account, written as it is.
    Record(AccountScan),
}

/// Identity of one scan, shared by every row and file it writes.
#[derive(Debug, Clone)]
pub struct ScanContext {
    /// A time-ordered UUIDv7, so file names sort by scan time.
    pub scan_id: String,
    pub scanned_at: EpochMillis,
    /// The partition date, `YYYY-MM-DD`, the UTC date of `scanned_at`.
    pub dt: String,
    /// `Some((index, count))` when this run is one shard of a sharded scan.
    pub shard: Option<(u32, u32)>,
}

impl ScanContext {
    /// Starts the identity of a new scan, dated now.
    pub fn new(shard: Option<(u32, u32)>) -> Self {
        let now = chrono::Utc::now();
        ScanContext {
            scan_id: uuid::Uuid::now_v7().to_string(),
            scanned_at: now.timestamp_millis(),
            dt: now.format("%Y-%m-%d").to_string(),
            shard,
        }
    }
}

/// The outcome of one account in one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Scanned,
    Failed,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Scanned => "scanned",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Why an account was failed or skipped: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountError {
    /// A stable snake_case code, listed in the README.
    pub code: &'static str,
    pub message: String,
}

/// The result of scanning one account: one row of the `accounts` table, its
/// report rows and its findings.
#[derive(Debug, Clone)]
pub struct AccountScan {
    pub account: Account,
    pub outcome: Outcome,
    pub error: Option<AccountError>,
    pub started_at: EpochMillis,
    pub finished_at: EpochMillis,
    /// The account's rows of the `findings` and `credential_report` tables.
    pub rows: AccountRows,
}

/// A scan that could not write anything.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the output is not usable")]
    Output(#[from] OutputError),
    #[error("failed to identify the caller with sts:GetCallerIdentity: {0}")]
    Identity(String),
    #[error(transparent)]
    Organization(#[from] OrgError),
    #[error("the scan was cancelled before it finished; nothing was published")]
    Cancelled,
}

/// The totals of one finished scan, for the summary and the exit code.
#[derive(Debug, Clone, Default)]
pub struct ScanSummary {
    pub scan_id: String,
    pub caller_arn: String,
    pub accounts: BTreeMap<Outcome, u64>,
    pub findings: BTreeMap<Status, u64>,
    /// Alarm counts by account id and name, for the accounts with alarms.
    pub alarms_by_account: BTreeMap<(String, String), u64>,
    /// Failed accounts: id, error code, message.
    pub failures: Vec<(String, &'static str, String)>,
    pub files: Vec<String>,
    pub elapsed: std::time::Duration,
}

impl ScanSummary {
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.accounts.get(&outcome).copied().unwrap_or(0)
    }

    fn record(&mut self, scan: &AccountScan) {
        *self.accounts.entry(scan.outcome).or_default() += 1;
        telemetry::metrics().accounts.get_or_create(&label("outcome", scan.outcome.as_str())).inc();

        for (status, count) in scan.rows.counts.iter().filter(|(_, count)| *count > 0) {
            *self.findings.entry(status).or_default() += count;
        }
        let alarms = scan.rows.counts.get(Status::Alarm);
        if alarms > 0 {
            self.alarms_by_account
                .insert((scan.account.id.clone(), scan.account.name.clone()), alarms);
        }
        if let (Outcome::Failed, Some(error)) = (scan.outcome, &scan.error) {
            self.failures.push((scan.account.id.clone(), error.code, error.message.clone()));
        }
    }
}

/// Everything the per-account tasks share.
struct AccountWork {
    clients: AwsClients,
    assumer: RoleAssumer,
    fetcher: ReportFetcher,
    limiter: Arc<ReportRateLimiter>,
    own_account: String,
    assume_role_in_own_account: bool,
    partition: String,
    controls: Vec<String>,
}

/// Runs one whole scan and publishes its three files.
///
/// The output is checked before any AWS call, so a bad output location
/// fails fast. One account's failure becomes a row in the `accounts` table
/// and never stops the others.
pub async fn run_scan(
    settings: &Settings,
    clients: &AwsClients,
    progress: Option<ProgressBar>,
) -> Result<ScanSummary, ScanError> {
    let started = Instant::now();
    let context = ScanContext::new(settings.shard.map(|shard| (shard.index, shard.count)));
    telemetry::metrics().scans_started.inc();

    let store = OutputStore::open(&settings.output, &clients.sdk_config).await?;
    store.check_writable().await?;

    let identity = with_retry(&settings.retry, "sts:GetCallerIdentity", "", || {
        clients.sts.get_caller_identity().send()
    })
    .await
    .map_err(|err| ScanError::Identity(error_chain(&err)))?;
    let caller_arn = identity.arn().unwrap_or_default().to_owned();
    let own_account = identity.account().unwrap_or_default().to_owned();
    let partition = partition_of(&caller_arn).unwrap_or("aws").to_owned();

    tracing::info!(
        scan_id = %context.scan_id,
        caller = %caller_arn,
        output = %settings.output,
        concurrency = settings.concurrency,
        "scan started"
    );

    let ou_members = org::resolve_ou_members(&clients.organizations, &settings.retry, settings).await?;
    let mut summary = ScanSummary {
        scan_id: context.scan_id.clone(),
        caller_arn: caller_arn.clone(),
        ..ScanSummary::default()
    };

    let writer = ScanWriter::create(&store, &context)?;
    let (sender, receiver) = mpsc::channel::<AccountScan>(WRITER_QUEUE);
    let writer_thread = tokio::task::spawn_blocking(move || write_all(writer, receiver));

    let work = Arc::new(AccountWork {
        clients: clients.clone(),
        assumer: RoleAssumer::new(
            clients.sts.clone(),
            &partition,
            &settings.role_name,
            settings.external_id.clone(),
            &settings.session_name,
            settings.session_duration,
            settings.retry,
        ),
        fetcher: ReportFetcher {
            retry: settings.retry,
            timeout: settings.report_timeout,
        },
        limiter: report_rate_limiter(settings.report_calls_per_second, settings.report_calls_burst),
        own_account,
        assume_role_in_own_account: settings.assume_role_in_own_account,
        partition,
        controls: settings.controls.clone(),
    });

    // Three stages run at once: listing sends pages of accounts, selecting
    // turns each account into work, and scanning runs that work with at most
    // `concurrency` accounts in flight. Scanning starts with the first page.
    let (page_sender, page_receiver) = mpsc::channel::<Vec<Account>>(PAGE_QUEUE);
    let (work_sender, work_receiver) = mpsc::channel::<Work>(settings.concurrency);
    let listing = org::send_account_pages(&clients.organizations, &settings.retry, &caller_arn, page_sender);
    let selecting = select_accounts(page_receiver, work_sender, settings, &ou_members, progress.as_ref());
    let scanning = async {
        let queued = futures::stream::unfold(work_receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let results = queued
            .map(|item| {
                let work = Arc::clone(&work);
                async move {
                    match item {
                        Work::Scan(account) => scan_on_worker(work, account).await,
                        Work::Record(scan) => scan,
                    }
                }
            })
            .buffer_unordered(settings.concurrency);
        let mut results = std::pin::pin!(results);
        while let Some(scan) = results.next().await {
            summary.record(&scan);
            if let (Some(bar), Outcome::Scanned | Outcome::Failed) = (&progress, scan.outcome) {
                bar.inc(1);
            }
            if sender.send(scan).await.is_err() {
                // The writer thread stopped on an error, which its result below returns.
                break;
            }
        }
    };
    let (listed, selected, ()) = tokio::join!(listing, selecting, scanning);
    listed?;
    selected?;
    drop(sender);

    let writer = writer_thread.await.map_err(OutputError::Task)??;
    // Publishing runs in its own task, so a caller that drops this future
    // (the daemon abandoning a scan) never leaves a scan half published.
    summary.files = tokio::spawn(writer.finish()).await.map_err(OutputError::Task)??;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }

    summary.elapsed = started.elapsed();
    record_scan_metrics(&summary);
    tracing::info!(
        scan_id = %summary.scan_id,
        scanned = summary.count(Outcome::Scanned),
        failed = summary.count(Outcome::Failed),
        skipped = summary.count(Outcome::Skipped),
        alarms = summary.findings.get(&Status::Alarm).copied().unwrap_or(0),
        elapsed_ms = summary.elapsed.as_millis() as u64,
        "scan finished"
    );
    Ok(summary)
}

/// Turns each listed account into work for the scanning stage, and logs
/// what was selected once the listing ends.
///
/// # Errors
///
/// Returns [`OrgError::NoIncludedAccount`] when `scan.include_accounts` is
/// the only include list and none of its ids is in the organization, which
/// is a mistake in the configuration, never an empty scan to publish.
async fn select_accounts(
    mut pages: mpsc::Receiver<Vec<Account>>,
    work: mpsc::Sender<Work>,
    settings: &Settings,
    ou_members: &org::OuMembers,
    progress: Option<&ProgressBar>,
) -> Result<(), OrgError> {
    let mut listed = BTreeSet::new();
    let (mut selected, mut skipped) = (0u64, 0u64);
    while let Some(page) = pages.recv().await {
        for account in page {
            listed.insert(account.id.clone());
            let item = match org::select(&account, settings, ou_members) {
                Selection::Scan => {
                    selected += 1;
                    if let Some(bar) = progress {
                        bar.inc_length(1);
                    }
                    Work::Scan(account)
                }
                Selection::Skip(reason) => {
                    skipped += 1;
                    Work::Record(skipped_account(account, reason))
                }
                Selection::OtherShard => continue,
            };
            if work.send(item).await.is_err() {
                return Ok(());
            }
        }
    }

    // A mistyped id in scan.include_accounts would otherwise scan nothing, silently.
    for id in settings.include_accounts.difference(&listed) {
        tracing::warn!(account_id = %id, "scan.include_accounts lists an account that is not in the organization");
    }
    tracing::info!(listed = listed.len(), selected, skipped, "accounts selected");

    let include = &settings.include_accounts;
    if !include.is_empty() && settings.include_ous.is_empty() && include.is_disjoint(&listed) {
        let ids: Vec<&str> = include.iter().map(String::as_str).collect();
        return Err(OrgError::NoIncludedAccount { ids: ids.join(", ") });
    }
    Ok(())
}

/// Drains the queue into the writer on a blocking thread, since Parquet
/// encoding is CPU work. Returns the writer, ready to publish.
fn write_all(mut writer: ScanWriter, mut receiver: mpsc::Receiver<AccountScan>) -> Result<ScanWriter, OutputError> {
    while let Some(scan) = receiver.blocking_recv() {
        writer.write_account(&scan)?;
    }
    Ok(writer)
}

fn record_scan_metrics(summary: &ScanSummary) {
    let metrics = telemetry::metrics();
    for (status, count) in &summary.findings {
        metrics.findings.get_or_create(&label("status", status.as_str())).inc_by(*count);
    }
    metrics.scan_duration.observe(summary.elapsed.as_secs_f64());
    let result = if summary.count(Outcome::Failed) == 0 { "success" } else { "partial" };
    metrics.scans_finished.get_or_create(&label("result", result)).inc();
    if result == "success" {
        metrics.last_success.set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
    }
}

fn now_millis() -> EpochMillis {
    chrono::Utc::now().timestamp_millis()
}

fn skipped_account(account: Account, reason: AccountError) -> AccountScan {
    let now = now_millis();
    AccountScan {
        account,
        outcome: Outcome::Skipped,
        error: Some(reason),
        started_at: now,
        finished_at: now,
        rows: AccountRows::default(),
    }
}

/// Scans one account in its own task, so that parsing and evaluating large
/// reports spread over the runtime's worker threads. A task that panics
/// fails only its account.
async fn scan_on_worker(work: Arc<AccountWork>, account: Account) -> AccountScan {
    let fallback = account.clone();
    let shared = Arc::clone(&work);
    let started_at = now_millis();

    match tokio::spawn(async move { scan_account(&work, account).await }).await {
        Ok(scan) => scan,
        Err(err) => {
            let error = AccountError {
                code: "internal_error",
                message: format!("the task scanning account {} failed: {err}", fallback.id),
            };
            tracing::error!(account_id = %fallback.id, error = %error.message, "account task failed");
            let findings = account_error_findings(&fallback.id, &shared.partition, &shared.controls, &error);
            AccountScan {
                account: fallback,
                outcome: Outcome::Failed,
                error: Some(error),
                started_at,
                finished_at: now_millis(),
                rows: AccountRows::from_findings(&findings),
            }
        }
    }
}

/// Reads and evaluates one account. Never fails: a failure is recorded in
/// the returned row, with one `error` finding per control.
async fn scan_account(work: &AccountWork, account: Account) -> AccountScan {
    let started_at = now_millis();
    let span = tracing::debug_span!("account", account_id = %account.id);
    let result = read_account(work, &account.id).instrument(span).await;
    let finished_at = now_millis();

    match result {
        Ok(rows) => {
            tracing::debug!(account_id = %account.id, users = rows.users, "account scanned");
            AccountScan {
                account,
                outcome: Outcome::Scanned,
                error: None,
                started_at,
                finished_at,
                rows,
            }
        }
        Err(error) => {
            tracing::warn!(account_id = %account.id, error_code = error.code, error = %error.message, "account failed");
            let findings = account_error_findings(&account.id, &work.partition, &work.controls, &error);
            AccountScan {
                account,
                outcome: Outcome::Failed,
                error: Some(error),
                started_at,
                finished_at,
                rows: AccountRows::from_findings(&findings),
            }
        }
    }
}

/// Gets credentials, downloads, parses and evaluates the report of one
/// account. Expired credentials are renewed once.
async fn read_account(work: &AccountWork, account_id: &str) -> Result<AccountRows, AccountError> {
    let use_own_credentials = account_id == work.own_account && !work.assume_role_in_own_account;
    let mut renewed = false;

    let fetched = loop {
        let credentials = if use_own_credentials {
            None
        } else {
            let credentials = work.assumer.assume(account_id).await.map_err(|err| AccountError {
                code: err.code(),
                message: err.to_string(),
            })?;
            Some(credentials)
        };
        let iam = LimitedIam::new(work.clients.iam(credentials), Arc::clone(&work.limiter));

        match work.fetcher.fetch(&iam, account_id).await {
            Ok(fetched) => break fetched,
            Err(err @ FetchError::CredentialsExpired { .. }) if !renewed && !use_own_credentials => {
                tracing::debug!(account_id, error = %err, "credentials expired; assuming the role again");
                renewed = true;
            }
            Err(err) => {
                return Err(AccountError {
                    code: err.code(),
                    message: err.to_string(),
                });
            }
        }
    };

    AccountRows::evaluate_report(&fetched.content, fetched.generated_at, account_id, &work.partition, &work.controls)
        .map_err(|err| AccountError {
            code: "report_unparseable",
            message: format!("the credential report of account {account_id} could not be parsed: {err}"),
        })
}

/// Evaluates every row of a report. An unreadable row becomes an
/// `error` finding and the other rows keep their verdicts.
pub fn evaluate_report(report: &CredentialReport, account_id: &str, partition: &str, control_ids: &[String]) -> Vec<Finding> {
    let mut findings = Vec::with_capacity(report.rows.len() * control_ids.len());
    for row in &report.rows {
        match row {
            Ok(row) => findings.extend(controls::findings_for_row(row, control_ids)),
            Err(err) => findings.extend(controls::error_findings_for_row(err, account_id, partition, control_ids)),
        }
    }
    findings
}

/// Builds one `error` finding per control for an account that could not be read,
/// so the account never looks compliant.
fn account_error_findings(account_id: &str, partition: &str, control_ids: &[String], error: &AccountError) -> Vec<Finding> {
    control_ids
        .iter()
        .map(|control_id| Finding {
            control_id: control_id.clone(),
            resource: format!("arn:{partition}:::{account_id}"),
            user_name: String::new(),
            status: Status::Error,
            reason: format!("account {account_id} could not be evaluated ({}): {}", error.code, error.message),
        })
        .collect()
}
