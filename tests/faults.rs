//! Fault injection: AWS errors and broken reports in one account stay in
//! that account.
//!
//! Each test seeds a small organization in moto and puts `fault_proxy.py` in
//! front of it with rules for one failure. It runs `orgscan scan` through the
//! proxy, then checks the exit code, the three tables, the proxy's call
//! counts and orgscan's DEBUG log lines.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use common::fault_proxy::{FaultProxy, json_log_lines, log_lines_with_message};
use common::{Moto, Seed, describe_output, files_under, fixture_path, read_tables, rows, run_orgscan, seed};

const ROLE_NAME: &str = "OrgScanRole";

/// Account id used in the report fixtures; tests swap in a seeded account.
const FIXTURE_ACCOUNT_ID: &str = "111122223333";

/// The log message of one retried AWS call.
const RETRY_MESSAGE: &str = "retrying AWS call";

/// The log message of one wait for a credential report that is not ready.
const POLL_MESSAGE: &str = "waiting for the credential report";

/// A moto server seeded with an organization, and the seed's description.
struct Org {
    moto: Moto,
    seeded: Value,
}

impl Org {
    /// Starts moto and seeds the management account and `members` member
    /// accounts, each member with a user of every kind: alarm, password with
    /// MFA, no password.
    fn start(members: usize) -> Org {
        let accounts: Vec<Value> = (1..=members)
            .map(|index| {
                json!({
                    "name": format!("member-{index}"),
                    "users": [
                        {"name": format!("console-{index}"), "password": true, "mfa": false},
                        {"name": format!("mfa-{index}"), "password": true, "mfa": true},
                        {"name": format!("api-{index}"), "password": false, "mfa": false},
                    ],
                })
            })
            .collect();
        let spec = json!({
            "management_users": [{"name": "admin", "password": true, "mfa": true}],
            "accounts": accounts,
        });

        let moto = Moto::start();
        let seeded = seed(&moto, Seed::Spec(&spec));
        Org { moto, seeded }
    }

    fn accounts(&self) -> &[Value] {
        self.seeded["accounts"].as_array().expect("seed output has no accounts array")
    }

    /// Returns the id of member account `index` (1-based). Index 0 is the management account.
    fn account_id(&self, index: usize) -> &str {
        str_field(&self.accounts()[index], "id")
    }

    fn ids(&self) -> Vec<&str> {
        self.accounts().iter().map(|account| str_field(account, "id")).collect()
    }
}

/// Runs `orgscan scan` through `proxy` with JSON logs at DEBUG level.
fn scan(proxy: &FaultProxy, output: &Path, extra_args: &[&str]) -> Output {
    let mut args = vec![
        "scan",
        "--output",
        output.to_str().expect("temporary path is not UTF-8"),
        "--role-name",
        ROLE_NAME,
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ];
    args.extend_from_slice(extra_args);
    run_orgscan(&args, &proxy.env())
}

fn str_field<'a>(row: &'a Value, name: &str) -> &'a str {
    row[name]
        .as_str()
        .unwrap_or_else(|| panic!("column {name} is not a non-null string in {row}"))
}

fn rows_of<'a>(tables: &'a Value, table: &str, account_id: &str) -> Vec<&'a Value> {
    rows(tables, table).iter().filter(|row| row["account_id"] == account_id).collect()
}

/// Returns the one `accounts` row of `account_id`.
fn account_row<'a>(tables: &'a Value, account_id: &str) -> &'a Value {
    let matching = rows_of(tables, "accounts", account_id);
    assert_eq!(matching.len(), 1, "account {account_id}: expected one accounts row, found {matching:?}");
    matching[0]
}

/// Checks that a seeded account was scanned and every one of its users got
/// the expected verdict.
fn assert_scanned(tables: &Value, account: &Value) {
    let account_id = str_field(account, "id");
    let users = account["users"].as_array().expect("seeded account has no users array");

    let row = account_row(tables, account_id);
    assert_eq!(row["outcome"], "scanned", "account {account_id}: {row}");
    assert!(row["error_code"].is_null(), "account {account_id} has an error code: {row}");
    assert_eq!(row["users"], users.len(), "account {account_id}: {row}");

    let findings = rows_of(tables, "findings", account_id);
    assert_eq!(findings.len(), users.len(), "account {account_id}: one finding per user: {findings:?}");
    for user in users {
        let arn = str_field(user, "arn");
        let finding = findings
            .iter()
            .find(|finding| finding["resource"] == arn)
            .unwrap_or_else(|| panic!("no finding for {arn}"));
        assert_eq!(finding["status"], user["expected_status"], "{arn}: {finding}");
    }
    assert_eq!(rows_of(tables, "credential_report", account_id).len(), users.len(), "account {account_id}");
}

/// Checks that `account_id` failed with `error_code`, has one `error`
/// finding and no report rows, and returns its `accounts` row.
fn assert_failed<'a>(tables: &'a Value, account_id: &str, error_code: &str) -> &'a Value {
    let row = account_row(tables, account_id);
    assert_eq!(row["outcome"], "failed", "account {account_id}: {row}");
    assert_eq!(row["error_code"], error_code, "account {account_id}: {row}");
    assert!(row["users"].is_null(), "a failed account has no user count: {row}");

    let findings = rows_of(tables, "findings", account_id);
    assert_eq!(findings.len(), 1, "account {account_id}: expected one error finding, found {findings:?}");
    assert_eq!(findings[0]["status"], "error", "account {account_id}: {}", findings[0]);
    assert!(
        str_field(findings[0], "reason").contains(error_code),
        "the error finding does not name {error_code}: {}",
        findings[0]
    );
    assert!(
        rows_of(tables, "credential_report", account_id).is_empty(),
        "a failed account has report rows"
    );
    row
}

/// Checks that every seeded account except `failed` was scanned, and that
/// the tables hold no account that was not seeded.
fn assert_others_scanned(tables: &Value, org: &Org, failed: &[&str]) {
    for account in org.accounts() {
        if !failed.contains(&str_field(account, "id")) {
            assert_scanned(tables, account);
        }
    }
    assert_eq!(rows(tables, "accounts").len(), org.accounts().len(), "accounts table row count");
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "expected exit {code}:\n{}", describe_output(output));
}

/// Returns the DEBUG retry lines for `operation` in `account_id`, which is
/// "" for calls that belong to no account.
fn retry_lines<'a>(logs: &'a [Value], account_id: &str, operation: &str) -> Vec<&'a Value> {
    log_lines_with_message(logs, RETRY_MESSAGE)
        .into_iter()
        .filter(|line| line["account_id"] == account_id && line["operation"] == operation)
        .collect()
}

/// Checks that retry lines number the attempts 1, 2, ... and carry the
/// attempt bound and a delay within the default policy's full-jitter cap.
fn assert_retry_lines(lines: &[&Value], expected: usize) {
    assert_eq!(lines.len(), expected, "retry lines: {lines:?}");
    for (index, line) in lines.iter().enumerate() {
        let attempt = index as u64 + 1;
        assert_eq!(line["level"], "DEBUG", "{line}");
        assert_eq!(line["attempt"], attempt, "{line}");
        assert_eq!(line["max_attempts"], 8, "{line}");
        let delay = line["delay_ms"].as_u64().unwrap_or_else(|| panic!("retry line without delay_ms: {line}"));
        let cap = (500u64 << index).min(20_000);
        assert!(delay <= cap, "delay {delay} ms above the cap of {cap} ms: {line}");
    }
}

fn error_rule(operation: &str, account: Option<&str>, trigger: Value, status: u16, code: &str, message: &str) -> Value {
    let mut rule = json!({
        "operation": operation,
        "error": {"status": status, "code": code, "message": message},
    });
    if let Some(account) = account {
        rule["account"] = json!(account);
    }
    for (key, value) in trigger.as_object().expect("trigger is a JSON object") {
        rule[key] = value.clone();
    }
    rule
}

#[test]
fn assume_role_denied_fails_only_that_account() {
    let org = Org::start(4);
    let denied = org.account_id(2).to_string();
    let role_arn = format!("arn:aws:iam::{denied}:role/{ROLE_NAME}");
    let message = format!(
        "User: arn:aws:sts::123456789012:assumed-role/scanner/orgscan is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    );
    let rules = json!([error_rule("AssumeRole", Some(&denied), json!({"always": true}), 403, "AccessDenied", &message)]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 2);
    let tables = read_tables(output_dir.path());
    let row = assert_failed(&tables, &denied, "assume_role_denied");
    assert!(str_field(row, "error_message").contains(&role_arn), "message does not name {role_arn}: {row}");
    assert!(str_field(row, "error_message").contains("AccessDenied"), "message lacks AWS's code: {row}");
    let ok_findings = rows_of(&tables, "findings", &denied)
        .into_iter()
        .filter(|finding| finding["status"] == "ok")
        .count();
    assert_eq!(ok_findings, 0, "a denied account must never look compliant");
    assert_others_scanned(&tables, &org, &[&denied]);

    assert_eq!(proxy.account_calls(&denied, "AssumeRole"), 1, "access denied must not be retried");
    for member in 1..=4 {
        let account_id = org.account_id(member);
        if account_id != denied {
            assert_eq!(proxy.account_calls(account_id, "AssumeRole"), 1, "account {account_id}");
        }
    }
    let logs = json_log_lines(&output.stderr);
    let warnings: Vec<&Value> = log_lines_with_message(&logs, "account failed")
        .into_iter()
        .filter(|line| line["account_id"] == denied.as_str())
        .collect();
    assert_eq!(warnings.len(), 1, "expected one WARN line for {denied}: {warnings:?}");
    assert_eq!(warnings[0]["level"], "WARN", "{}", warnings[0]);
}

#[test]
fn throttled_generate_report_is_retried() {
    let org = Org::start(2);
    let throttled = org.account_id(1).to_string();
    let control = org.account_id(2).to_string();
    let rules = json!([error_rule(
        "GenerateCredentialReport",
        Some(&throttled),
        json!({"first": 4}),
        400,
        "Throttling",
        "Rate exceeded"
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    assert_others_scanned(&tables, &org, &[]);

    assert_eq!(proxy.injected().len(), 4, "injected faults: {:?}", proxy.injected());
    let control_calls = proxy.account_calls(&control, "GenerateCredentialReport");
    assert!(control_calls >= 1, "the control account made no GenerateCredentialReport call");
    assert_eq!(
        proxy.account_calls(&throttled, "GenerateCredentialReport"),
        control_calls + 4,
        "the throttled account should make the control account's calls plus one per throttled call"
    );

    let logs = json_log_lines(&output.stderr);
    let lines = retry_lines(&logs, &throttled, "iam:GenerateCredentialReport");
    assert_retry_lines(&lines, 4);
    for line in &lines {
        assert_eq!(line["throttled"], true, "{line}");
        assert!(str_field(line, "error").contains("Throttling"), "{line}");
    }
    assert!(retry_lines(&logs, &control, "iam:GenerateCredentialReport").is_empty(), "the control account retried");
}

#[test]
fn report_in_progress_is_polled() {
    // botocore 1.43's IAM model: CredentialReportNotReadyException is code
    // ReportInProgress with HTTP status 404.
    let org = Org::start(2);
    let waiting = org.account_id(1).to_string();
    let control = org.account_id(2).to_string();
    let rules = json!([error_rule(
        "GetCredentialReport",
        Some(&waiting),
        json!({"first": 2}),
        404,
        "ReportInProgress",
        "Report generation is in progress"
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    assert_others_scanned(&tables, &org, &[]);

    let control_calls = proxy.account_calls(&control, "GetCredentialReport");
    assert_eq!(control_calls, 1, "the control account downloads its report once");
    assert_eq!(proxy.account_calls(&waiting, "GetCredentialReport"), 3, "two answers of ReportInProgress, then the report");

    let logs = json_log_lines(&output.stderr);
    let polls = |account_id: &str| {
        log_lines_with_message(&logs, POLL_MESSAGE)
            .into_iter()
            .filter(|line| line["account_id"] == account_id)
            .count()
    };
    assert_eq!(polls(&waiting), polls(&control) + 2, "one wait per ReportInProgress answer");
    assert!(
        retry_lines(&logs, &waiting, "iam:GetCredentialReport").is_empty(),
        "ReportInProgress is a wait for the report, not an error to retry"
    );
}

#[test]
fn report_never_ready_times_out() {
    let org = Org::start(2);
    let stuck = org.account_id(1).to_string();
    let rules = json!([{
        "operation": "GenerateCredentialReport",
        "account": stuck,
        "always": true,
        "report_state": "INPROGRESS",
    }]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let output = scan(&proxy, output_dir.path(), &["--report-timeout", "3s"]);
    let elapsed = started.elapsed();

    assert_exit(&output, 2);
    assert!(elapsed < Duration::from_secs(30), "a 3 s report timeout took {elapsed:?}");
    let tables = read_tables(output_dir.path());
    let row = assert_failed(&tables, &stuck, "report_timeout");
    assert!(str_field(row, "error_message").contains("3s"), "message does not give the timeout: {row}");
    assert_others_scanned(&tables, &org, &[&stuck]);

    let generate_calls = proxy.account_calls(&stuck, "GenerateCredentialReport");
    assert!((2..=6).contains(&generate_calls), "polls within 3 s with backoff from 1 s: {generate_calls}");
    assert_eq!(proxy.account_calls(&stuck, "GetCredentialReport"), 0, "a report never COMPLETE is never downloaded");
}

#[test]
fn report_never_present_backs_off() {
    // botocore 1.43's IAM model: CredentialReportNotPresentException is code
    // ReportNotPresent with HTTP status 410.
    let org = Org::start(2);
    let missing = org.account_id(1).to_string();
    let rules = json!([error_rule(
        "GetCredentialReport",
        Some(&missing),
        json!({"always": true}),
        410,
        "ReportNotPresent",
        "Credential report not present"
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &["--report-timeout", "3s"]);

    assert_exit(&output, 2);
    let tables = read_tables(output_dir.path());
    assert_failed(&tables, &missing, "report_timeout");
    assert_others_scanned(&tables, &org, &[&missing]);

    // Each ReportNotPresent leads to a new GenerateCredentialReport and a
    // wait of at least half a second, so 3 s hold a handful of calls.
    let get_calls = proxy.account_calls(&missing, "GetCredentialReport");
    let generate_calls = proxy.account_calls(&missing, "GenerateCredentialReport");
    assert!((1..=6).contains(&get_calls), "GetCredentialReport calls in 3 s: {get_calls}");
    assert!((2..=8).contains(&generate_calls), "GenerateCredentialReport calls in 3 s: {generate_calls}");
}

#[test]
fn malformed_report_fails_only_that_account() {
    let org = Org::start(4);
    let garbage_account = org.account_id(1).to_string();
    let no_mfa_column_account = org.account_id(2).to_string();
    let bad_base64_account = org.account_id(3).to_string();

    // Bytes that are not text: UTF-8 never starts with 0xff, and every byte
    // is at least 0x80, so none is a comma or a line end.
    let garbage: Vec<u8> = (0..512u32).map(|index| 0xff - (index * 37 % 128) as u8).collect();
    let garbage_base64 = base64::engine::general_purpose::STANDARD.encode(&garbage);
    let without_mfa = std::fs::read_to_string(fixture_path("bad_report_missing_mfa_column.csv"))
        .unwrap()
        .replace(FIXTURE_ACCOUNT_ID, &no_mfa_column_account);
    let rules = json!([
        {"operation": "GetCredentialReport", "account": garbage_account, "report_content_base64": garbage_base64},
        {"operation": "GetCredentialReport", "account": no_mfa_column_account, "report_content": without_mfa},
        {"operation": "GetCredentialReport", "account": bad_base64_account, "report_content_base64": "!!not base64!!"},
    ]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 2);
    let tables = read_tables(output_dir.path());

    let row = assert_failed(&tables, &garbage_account, "report_unparseable");
    let message = str_field(row, "error_message");
    assert!(message.contains(&garbage_account), "message does not name the account: {message}");
    assert!(message.contains("line 1"), "message lacks the line: {message}");
    assert!(message.contains("column 1"), "message lacks the column: {message}");

    let row = assert_failed(&tables, &no_mfa_column_account, "report_unparseable");
    let message = str_field(row, "error_message");
    assert!(message.contains("line 1"), "message lacks the line: {message}");
    assert!(message.contains("mfa_active"), "message does not name the missing column: {message}");

    // The SDK rejects a response whose Content is not base64, so the
    // account fails on the call itself. A retry would get the same response.
    let row = assert_failed(&tables, &bad_base64_account, "report_failed");
    let message = str_field(row, "error_message");
    assert!(message.contains("iam:GetCredentialReport"), "message does not name the operation: {message}");
    assert!(message.contains("base64"), "message does not say what is wrong: {message}");

    assert_others_scanned(&tables, &org, &[&garbage_account, &no_mfa_column_account, &bad_base64_account]);
    for account_id in [&garbage_account, &no_mfa_column_account, &bad_base64_account] {
        assert_eq!(proxy.account_calls(account_id, "GetCredentialReport"), 1, "a bad report is not downloaded again");
    }
}

#[test]
fn bad_report_row_is_one_error_finding() {
    let org = Org::start(2);
    let account_id = org.account_id(1).to_string();
    let report = std::fs::read_to_string(fixture_path("bad_report_one_bad_row.csv"))
        .unwrap()
        .replace(FIXTURE_ACCOUNT_ID, &account_id);
    let rules = json!([{
        "operation": "GetCredentialReport",
        "account": account_id,
        "report_content": report,
        "generated_time": "2024-05-06T07:08:09Z",
    }]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    let row = account_row(&tables, &account_id);
    assert_eq!(row["outcome"], "scanned", "{row}");
    assert_eq!(row["users"], 7, "every report row counts, the bad one too: {row}");
    assert_eq!(row["report_generated_at"], "2024-05-06T07:08:09.000Z", "{row}");

    // The fixture's rows; carol's has mfa_active = maybe.
    let expected = [
        ("root", "alarm"),
        ("user/alice", "alarm"),
        ("user/bob", "ok"),
        ("user/team/carol", "error"),
        ("user/service/deploy-bot", "ok"),
        ("user/erin", "ok"),
        ("user/team/frank", "ok"),
    ];
    let findings = rows_of(&tables, "findings", &account_id);
    assert_eq!(findings.len(), expected.len(), "one finding per row: {findings:?}");
    for (resource, status) in expected {
        let arn = format!("arn:aws:iam::{account_id}:{resource}");
        let finding = findings
            .iter()
            .find(|finding| finding["resource"] == arn.as_str())
            .unwrap_or_else(|| panic!("no finding for {arn}"));
        assert_eq!(finding["status"], status, "{arn}: {finding}");
    }
    let carol = findings.iter().find(|finding| finding["status"] == "error").unwrap();
    let reason = str_field(carol, "reason");
    assert!(reason.contains("line 5"), "reason lacks the line of the bad row: {reason}");
    assert!(reason.contains("mfa_active"), "reason lacks the bad column: {reason}");
    assert!(reason.contains("maybe"), "reason lacks the bad value: {reason}");

    let report_rows = rows_of(&tables, "credential_report", &account_id);
    assert_eq!(report_rows.len(), 6, "the unreadable row is left out of credential_report");
    assert_others_scanned(&tables, &org, &[&account_id]);
}

#[test]
fn throttled_list_accounts_is_retried() {
    let org = Org::start(2);
    let rules = json!([error_rule(
        "ListAccounts",
        None,
        json!({"nth": 1}),
        400,
        "TooManyRequestsException",
        "AWS Organizations can't complete your request because another request is already in progress."
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    assert_others_scanned(&tables, &org, &[]);
    let scanned: Vec<&str> = rows(&tables, "accounts").iter().map(|row| str_field(row, "account_id")).collect();
    for account_id in org.ids() {
        assert!(scanned.contains(&account_id), "account {account_id} missing after the retried page");
    }

    assert_eq!(proxy.calls("ListAccounts"), 2, "one throttled page and its retry");
    let logs = json_log_lines(&output.stderr);
    let lines = retry_lines(&logs, "", "organizations:ListAccounts");
    assert_retry_lines(&lines, 1);
    assert_eq!(lines[0]["throttled"], true, "{}", lines[0]);
}

#[test]
fn expired_token_assumes_role_again() {
    let org = Org::start(2);
    let expired = org.account_id(1).to_string();
    let rules = json!([error_rule(
        "GetCredentialReport",
        Some(&expired),
        json!({"nth": 1}),
        403,
        "ExpiredToken",
        "The security token included in the request is expired"
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    assert_others_scanned(&tables, &org, &[]);

    assert_eq!(proxy.account_calls(&expired, "AssumeRole"), 2, "the role is assumed again once");
    assert_eq!(proxy.account_calls(org.account_id(2), "AssumeRole"), 1, "the other member keeps its credentials");
    assert_eq!(proxy.account_calls(&expired, "GetCredentialReport"), 2, "the report is downloaded with new credentials");

    let logs = json_log_lines(&output.stderr);
    let renewals: Vec<&Value> = log_lines_with_message(&logs, "credentials expired; assuming the role again")
        .into_iter()
        .filter(|line| line["account_id"] == expired.as_str())
        .collect();
    assert_eq!(renewals.len(), 1, "expected one renewal line: {renewals:?}");
}

#[test]
fn expired_token_after_renewal_fails_account() {
    let org = Org::start(2);
    let expired = org.account_id(1).to_string();
    let rules = json!([error_rule(
        "GetCredentialReport",
        Some(&expired),
        json!({"always": true}),
        403,
        "ExpiredToken",
        "The security token included in the request is expired"
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 2);
    let tables = read_tables(output_dir.path());
    let row = assert_failed(&tables, &expired, "credentials_expired");
    assert!(str_field(row, "error_message").contains("ExpiredToken"), "message lacks AWS's code: {row}");
    assert_others_scanned(&tables, &org, &[&expired]);
    assert_eq!(proxy.account_calls(&expired, "AssumeRole"), 2, "the role is assumed again once, not in a loop");
    assert_eq!(proxy.account_calls(&expired, "GetCredentialReport"), 2);
}

#[test]
fn iam_service_failure_is_retried() {
    let org = Org::start(2);
    let mut rule = error_rule(
        "GetCredentialReport",
        None,
        json!({"nth": 1}),
        500,
        "ServiceFailure",
        "The request processing has failed because of an unknown error, exception or failure."
    );
    rule["error"]["type"] = json!("Receiver");
    let proxy = FaultProxy::start(&org.moto, &json!([rule]));
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    assert_others_scanned(&tables, &org, &[]);

    let injected = proxy.injected();
    assert_eq!(injected.len(), 1, "{injected:?}");
    let failed_account = str_field(&injected[0], "account");
    assert_eq!(proxy.account_calls(failed_account, "GetCredentialReport"), 2, "one failure and its retry");
    assert_eq!(proxy.calls("GetCredentialReport"), org.accounts().len() as u64 + 1);

    let logs = json_log_lines(&output.stderr);
    let lines = retry_lines(&logs, failed_account, "iam:GetCredentialReport");
    assert_retry_lines(&lines, 1);
    assert_eq!(lines[0]["throttled"], false, "{}", lines[0]);
    assert!(str_field(lines[0], "error").contains("ServiceFailure"), "{}", lines[0]);
}

#[test]
fn dropped_connection_is_retried() {
    let org = Org::start(2);
    let dropped = org.account_id(1).to_string();
    let rules = json!([{
        "operation": "GenerateCredentialReport",
        "account": dropped,
        "nth": 1,
        "disconnect": true,
    }]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 0);
    let tables = read_tables(output_dir.path());
    assert_others_scanned(&tables, &org, &[]);

    assert_eq!(proxy.injected().len(), 1, "{:?}", proxy.injected());
    let logs = json_log_lines(&output.stderr);
    let lines = retry_lines(&logs, &dropped, "iam:GenerateCredentialReport");
    assert_retry_lines(&lines, 1);
    assert_eq!(lines[0]["throttled"], false, "{}", lines[0]);
}

#[test]
fn generate_report_denied_fails_only_that_account() {
    let org = Org::start(2);
    let denied = org.account_id(1).to_string();
    let rules = json!([error_rule(
        "GenerateCredentialReport",
        Some(&denied),
        json!({"always": true}),
        403,
        "AccessDenied",
        "User is not authorized to perform: iam:GenerateCredentialReport"
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 2);
    let tables = read_tables(output_dir.path());
    let row = assert_failed(&tables, &denied, "report_access_denied");
    let message = str_field(row, "error_message");
    assert!(message.contains("iam:GenerateCredentialReport"), "message does not name the operation: {message}");
    assert!(message.contains(&denied), "message does not name the account: {message}");
    assert_others_scanned(&tables, &org, &[&denied]);
    assert_eq!(proxy.account_calls(&denied, "GenerateCredentialReport"), 1, "access denied must not be retried");
}

#[test]
fn list_accounts_denied_publishes_nothing() {
    let org = Org::start(2);
    let rules = json!([error_rule(
        "ListAccounts",
        None,
        json!({"always": true}),
        400,
        "AccessDeniedException",
        "You don't have permissions to access this resource."
    )]);
    let proxy = FaultProxy::start(&org.moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&proxy, output_dir.path(), &[]);

    assert_exit(&output, 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ListAccounts works only in the management account or a delegated administrator account"),
        "the error does not say who may list accounts:\n{stderr}"
    );
    assert!(stderr.contains("AccessDeniedException"), "the error lacks AWS's code:\n{stderr}");

    let files = files_under(output_dir.path());
    assert!(files.is_empty(), "files were left in the output, temporary or published: {files:?}");

    assert_eq!(proxy.calls("ListAccounts"), 1, "access denied must not be retried");
    assert_eq!(proxy.calls("AssumeRole"), 0, "no account is read without the account list");
    assert_eq!(proxy.calls("GenerateCredentialReport"), 0);
}

