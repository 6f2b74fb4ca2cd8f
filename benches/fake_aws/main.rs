//! A fake of the AWS calls that `orgscan scan` makes, for scale runs on one
//! machine: STS `GetCallerIdentity` and `AssumeRole`, Organizations
//! `ListAccounts`, IAM `GenerateCredentialReport` and `GetCredentialReport`.
//!
//! It listens on 127.0.0.1 only, responds to every call after a fixed latency,
//! and serves each account a credential report of `--users` synthetic users.
//! By default every report is ready at once, so `GenerateCredentialReport`
//! returns COMPLETE, as IAM does while the last report is under four hours
//! old. With `--report-ready-ms`, an account's first `GenerateCredentialReport`
//! returns STARTED, and its report is ready only that long afterwards. Until
//! then `GenerateCredentialReport` returns INPROGRESS and `GetCredentialReport`
//! fails with `ReportInProgress`, as IAM does while it builds a new report.
//! IAM calls are attributed to an account by the access key in their
//! signature: `AssumeRole` hands out `ASIA<account id>FAKE`, and any other
//! key (the dummy keys of the caller) is the management account. Signatures
//! are not checked.
//!
//! `GET /_fake/stats` returns JSON with the calls served per operation and
//! the distinct client connections. It also has the max calls in flight at
//! once, the error responses by code, and for each operation the start of
//! its first call and the end of its last, in milliseconds after the first
//! call the fake served.
//!
//! Build with `cargo build --bench fake_aws` and run the binary it names;
//! `benches/scale.sh` does both. `cargo bench` runs every bench target with
//! `--bench`, and the fake then exits at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use clap::Parser;

#[allow(dead_code)]
#[path = "../support/credential_report.rs"]
mod credential_report;
mod wire;

use wire::{ErrorCode, IAM_NAMESPACE, ReportState, STS_NAMESPACE};

/// The management account's id; member ids count up from [`FIRST_MEMBER_ID`].
const MANAGEMENT_ACCOUNT_ID: &str = "111111111111";
const FIRST_MEMBER_ID: u64 = 200_000_000_000;
const ORGANIZATION_ID: &str = "o-fakeorg0001";
/// `ListAccounts` returns at most this many accounts a page, as in AWS.
const MAX_PAGE_SIZE: usize = 20;
/// Distinct report contents; account `n` gets template `n % REPORT_TEMPLATES`.
const REPORT_TEMPLATES: usize = 16;
/// The text that the account id replaces in a report template.
const ACCOUNT_PLACEHOLDER: &str = "000000000000";
const LIST_ACCOUNTS_TARGET: &str = "AWSOrganizationsV20161128.ListAccounts";

#[derive(Debug, Parser)]
#[command(name = "fake_aws", about = "Serve fake STS, Organizations and IAM APIs on 127.0.0.1 for scale runs")]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free port, printed on the first line of stdout.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Accounts in the organization, the management account included.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// IAM users in each account's credential report, besides the root user.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Delay before every response, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Delay before each ListAccounts response, in milliseconds [default: --latency-ms]
    #[arg(long)]
    list_latency_ms: Option<u64>,
    /// Milliseconds from an account's first GenerateCredentialReport until its
    /// report is ready. 0 makes every report ready at once.
    #[arg(long, default_value_t = 0)]
    report_ready_ms: u64,
    /// The fake exits by itself after this many seconds, so a forgotten one does not linger.
    #[arg(long, default_value_t = 7200)]
    exit_after_secs: u64,
}

/// The organization the fake serves and what it has served.
struct Fake {
    account_ids: Vec<String>,
    known_accounts: HashSet<String>,
    /// Credential reports with [`ACCOUNT_PLACEHOLDER`] in place of the account id.
    report_templates: Vec<String>,
    /// `GeneratedTime` of every report: one hour before the fake started.
    generated_time: String,
    latency: Duration,
    list_latency: Duration,
    /// Time a report takes to generate. Zero makes every report ready at once.
    report_ready: Duration,
    /// The start of each account's report, set by its first `GenerateCredentialReport`.
    report_started: Mutex<HashMap<String, ReportStart>>,
    stats: Stats,
}

/// The start of one account's report generation, on both clocks.
#[derive(Clone, Copy)]
struct ReportStart {
    at: Instant,
    wall: chrono::DateTime<chrono::Utc>,
}

/// The state of one account's report at a given moment.
enum ReportStatus {
    /// No `GenerateCredentialReport` has been received for the account.
    Absent,
    InProgress,
    /// Ready, with its `GeneratedTime`.
    Ready(String),
}

#[derive(Default)]
struct Stats {
    calls: Mutex<BTreeMap<String, u64>>,
    /// The start of each operation's first call and the end of its last, in
    /// milliseconds after `first_call`.
    spans: Mutex<BTreeMap<String, (u64, u64)>>,
    first_call: OnceLock<Instant>,
    peers: Mutex<HashSet<SocketAddr>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    errors: AtomicU64,
    errors_by_code: Mutex<BTreeMap<&'static str, u64>>,
}

/// Counts one call as in flight until dropped, and then records when it ended.
struct InFlight<'a> {
    stats: &'a Stats,
    operation: String,
}

impl Stats {
    fn begin(&self, peer: SocketAddr, operation: &str) -> InFlight<'_> {
        let started = self.millis_since_first_call();
        *self.calls.lock().expect("stats lock").entry(operation.to_owned()).or_default() += 1;
        self.spans
            .lock()
            .expect("stats lock")
            .entry(operation.to_owned())
            .or_insert((started, started));
        self.peers.lock().expect("stats lock").insert(peer);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight {
            stats: self,
            operation: operation.to_owned(),
        }
    }

    fn millis_since_first_call(&self) -> u64 {
        self.first_call.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    fn count_error(&self, code: Option<&'static str>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.errors_by_code.lock().expect("stats lock").entry(code.unwrap_or("unknown")).or_default() += 1;
    }

    fn to_json(&self) -> serde_json::Value {
        let spans: BTreeMap<String, serde_json::Value> = self
            .spans
            .lock()
            .expect("stats lock")
            .iter()
            .map(|(operation, (first, last))| {
                (operation.clone(), serde_json::json!({ "first_start_ms": first, "last_end_ms": last }))
            })
            .collect();
        serde_json::json!({
            "calls": *self.calls.lock().expect("stats lock"),
            "spans": spans,
            "connections": self.peers.lock().expect("stats lock").len(),
            "max_in_flight": self.max_in_flight.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "errors_by_code": *self.errors_by_code.lock().expect("stats lock"),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let ended = self.stats.millis_since_first_call();
        if let Some(span) = self.stats.spans.lock().expect("stats lock").get_mut(&self.operation) {
            span.1 = span.1.max(ended);
        }
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Fake {
    fn new(args: &Args) -> Self {
        let mut account_ids = vec![MANAGEMENT_ACCOUNT_ID.to_owned()];
        account_ids.extend((1..args.accounts as u64).map(|n| format!("{:012}", FIRST_MEMBER_ID + n)));
        let report_templates = (0..REPORT_TEMPLATES as u64)
            .map(|seed| credential_report::credential_report_csv(ACCOUNT_PLACEHOLDER, args.users, seed).0)
            .collect();
        let generated = chrono::Utc::now() - chrono::Duration::hours(1);

        Fake {
            known_accounts: account_ids.iter().cloned().collect(),
            account_ids,
            report_templates,
            generated_time: generated.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            latency: Duration::from_millis(args.latency_ms),
            list_latency: Duration::from_millis(args.list_latency_ms.unwrap_or(args.latency_ms)),
            report_ready: Duration::from_millis(args.report_ready_ms),
            report_started: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        }
    }

    /// Finds the account a signed request acts in, from the access key of
    /// its `Authorization` header.
    fn caller_account(&self, headers: &HeaderMap) -> String {
        let access_key = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split("Credential=").nth(1))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        match access_key.strip_prefix("ASIA").and_then(|rest| rest.get(..12)) {
            Some(account) if self.known_accounts.contains(account) => account.to_owned(),
            _ => MANAGEMENT_ACCOUNT_ID.to_owned(),
        }
    }

    /// Handles `GenerateCredentialReport`. Starts the account's report on the
    /// first call and returns the report's state.
    fn generate_report(&self, account_id: &str) -> ReportState {
        if self.report_ready.is_zero() {
            return ReportState::Complete;
        }
        let mut started = self.report_started.lock().expect("report lock");
        match started.get(account_id) {
            None => {
                let start = ReportStart {
                    at: Instant::now(),
                    wall: chrono::Utc::now(),
                };
                started.insert(account_id.to_owned(), start);
                ReportState::Started
            }
            Some(start) if start.at.elapsed() < self.report_ready => ReportState::InProgress,
            Some(_) => ReportState::Complete,
        }
    }

    /// Returns whether the account's report is absent, in progress or ready now.
    fn report_status(&self, account_id: &str) -> ReportStatus {
        if self.report_ready.is_zero() {
            return ReportStatus::Ready(self.generated_time.clone());
        }
        let start = self.report_started.lock().expect("report lock").get(account_id).copied();
        match start {
            None => ReportStatus::Absent,
            Some(start) if start.at.elapsed() < self.report_ready => ReportStatus::InProgress,
            Some(start) => {
                let ready = start.wall + chrono::Duration::from_std(self.report_ready).unwrap_or_default();
                ReportStatus::Ready(ready.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
        }
    }

    fn report_csv(&self, account_id: &str) -> String {
        let number: usize = account_id.parse::<u64>().map_or(0, |n| (n % REPORT_TEMPLATES as u64) as usize);
        self.report_templates[number].replace(ACCOUNT_PLACEHOLDER, account_id)
    }
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    if method == Method::GET && uri.path() == "/_fake/stats" {
        return wire::json_response(&fake.stats.to_json(), &request_id);
    }

    let target = headers.get("x-amz-target").and_then(|value| value.to_str().ok());
    let response = match target {
        Some(target) => {
            let _in_flight = fake.stats.begin(peer, target.rsplit('.').next().unwrap_or(target));
            tokio::time::sleep(fake.list_latency).await;
            organizations(&fake, target, &body, &request_id)
        }
        None => {
            let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
            let action = params.get("Action").cloned().unwrap_or_default();
            let _in_flight = fake.stats.begin(peer, &action);
            tokio::time::sleep(fake.latency).await;
            query(&fake, &action, &params, &headers, &request_id)
        }
    };

    if !response.status().is_success() {
        fake.stats.count_error(response.extensions().get::<ErrorCode>().map(|code| code.0));
    }
    response
}

/// Handles STS and IAM calls, which share the query protocol.
fn query(fake: &Fake, action: &str, params: &HashMap<String, String>, headers: &HeaderMap, request_id: &str) -> Response {
    match action {
        "GetCallerIdentity" => {
            let account = fake.caller_account(headers);
            let arn = format!("arn:aws:iam::{account}:user/orgscan-bench");
            let result = wire::caller_identity_result(&account, &arn, "AIDAFAKEBENCHSCANNER");
            wire::query_response(STS_NAMESPACE, action, &result, request_id)
        }
        "AssumeRole" => assume_role(fake, params, request_id),
        "GenerateCredentialReport" => {
            let state = fake.generate_report(&fake.caller_account(headers));
            wire::query_response(IAM_NAMESPACE, action, &wire::generate_report_result(state), request_id)
        }
        "GetCredentialReport" => {
            let account = fake.caller_account(headers);
            match fake.report_status(&account) {
                ReportStatus::Ready(generated_time) => {
                    let content = base64::engine::general_purpose::STANDARD.encode(fake.report_csv(&account));
                    let result = wire::get_report_result(&content, &generated_time);
                    wire::query_response(IAM_NAMESPACE, action, &result, request_id)
                }
                // The codes and statuses of CredentialReportNotReadyException
                // and CredentialReportNotPresentException in IAM's service model.
                ReportStatus::InProgress => wire::query_error(
                    StatusCode::NOT_FOUND,
                    IAM_NAMESPACE,
                    "ReportInProgress",
                    &format!("the credential report of account {account} is still being generated"),
                    request_id,
                ),
                ReportStatus::Absent => wire::query_error(
                    StatusCode::GONE,
                    IAM_NAMESPACE,
                    "ReportNotPresent",
                    &format!("account {account} has no credential report; call GenerateCredentialReport first"),
                    request_id,
                ),
            }
        }
        _ => wire::query_error(
            StatusCode::BAD_REQUEST,
            STS_NAMESPACE,
            "InvalidAction",
            &format!("the fake does not implement action {action:?}"),
            request_id,
        ),
    }
}

fn assume_role(fake: &Fake, params: &HashMap<String, String>, request_id: &str) -> Response {
    let role_arn = params.get("RoleArn").map(String::as_str).unwrap_or_default();
    let session_name = params.get("RoleSessionName").map(String::as_str).unwrap_or("session");
    let parsed = role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .filter(|(account, role)| fake.known_accounts.contains(*account) && !role.is_empty());
    let Some((account, role_name)) = parsed else {
        return wire::query_error(
            StatusCode::FORBIDDEN,
            STS_NAMESPACE,
            "AccessDenied",
            &format!("not authorized to perform sts:AssumeRole on resource {role_arn}"),
            request_id,
        );
    };

    let seconds: i64 = params.get("DurationSeconds").and_then(|text| text.parse().ok()).unwrap_or(3600);
    let expiration = (chrono::Utc::now() + chrono::Duration::seconds(seconds)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let access_key_id = format!("ASIA{account}FAKE");
    let secret_access_key = format!("fake-secret-access-key-{account}");
    let session_token = format!("fake-session-token-{account}-{request_id}");
    let credentials = wire::AssumedCredentials {
        access_key_id: &access_key_id,
        secret_access_key: &secret_access_key,
        session_token: &session_token,
        expiration: &expiration,
    };
    let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}");
    let role_id = format!("AROAFAKE{account}:{session_name}");

    let result = wire::assume_role_result(&assumed_arn, &role_id, &credentials);
    wire::query_response(STS_NAMESPACE, "AssumeRole", &result, request_id)
}

/// Handles Organizations calls, on the JSON 1.1 protocol.
fn organizations(fake: &Fake, target: &str, body: &[u8], request_id: &str) -> Response {
    if target != LIST_ACCOUNTS_TARGET {
        return wire::json_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the fake does not implement {target}"),
            request_id,
        );
    }
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();

    let page_size = match request.get("MaxResults").and_then(serde_json::Value::as_u64) {
        None => MAX_PAGE_SIZE,
        Some(size @ 1..=20) => size as usize,
        Some(size) => {
            let message = format!("MaxResults {size} is out of range; expected 1 to 20");
            return wire::json_error(StatusCode::BAD_REQUEST, "InvalidInputException", &message, request_id);
        }
    };
    let start = match request.get("NextToken").and_then(serde_json::Value::as_str) {
        None => 0,
        Some(token) => match token.strip_prefix("offset-").and_then(|offset| offset.parse::<usize>().ok()) {
            Some(offset) if offset < fake.account_ids.len() => offset,
            _ => {
                let message = format!("invalid NextToken {token:?}");
                return wire::json_error(StatusCode::BAD_REQUEST, "InvalidInputException", &message, request_id);
            }
        },
    };

    let end = (start + page_size).min(fake.account_ids.len());
    let accounts: Vec<serde_json::Value> = fake.account_ids[start..end]
        .iter()
        .enumerate()
        .map(|(offset, id)| account_json(id, start + offset))
        .collect();
    let mut response = serde_json::json!({ "Accounts": accounts });
    if end < fake.account_ids.len() {
        response["NextToken"] = serde_json::Value::String(format!("offset-{end}"));
    }
    wire::json_response(&response, request_id)
}

fn account_json(id: &str, index: usize) -> serde_json::Value {
    let name = if index == 0 { "management".to_owned() } else { format!("bench-{index:05}") };
    serde_json::json!({
        "Id": id,
        "Arn": format!("arn:aws:organizations::{MANAGEMENT_ACCOUNT_ID}:account/{ORGANIZATION_ID}/{id}"),
        "Email": format!("aws+{id}@example.com"),
        "Name": name,
        "Status": "ACTIVE",
        "State": "ACTIVE",
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": 1_700_000_000.0,
    })
}

async fn shutdown_signal(exit_after: Duration) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = tokio::time::sleep(exit_after) => eprintln!("fake_aws: stopping after {}s", exit_after.as_secs()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    if std::env::args().any(|arg| arg == "--bench") {
        eprintln!("fake_aws is a server for benches/scale.sh, not a benchmark; skipping it");
        return Ok(());
    }
    let args = Args::parse();
    let fake = Arc::new(Fake::new(&args));

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port)).await?;
    let address = listener.local_addr()?;
    println!("fake_aws listening on http://{address}");
    std::io::stdout().flush()?;

    let app = Router::new().fallback(handle).with_state(Arc::clone(&fake));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal(Duration::from_secs(args.exit_after_secs)))
        .await?;

    eprintln!("fake_aws stats: {}", fake.stats.to_json());
    Ok(())
}
