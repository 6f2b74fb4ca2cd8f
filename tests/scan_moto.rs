//! End-to-end tests of the orgscan binary: `scan` against an organization in
//! moto on 127.0.0.1, and `evaluate` on saved credential reports in the real
//! AWS format.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use common::{Moto, Seed, describe_output, fixture_path, read_tables, rows, run_orgscan, seed, utc_date_today};

const ROLE_NAME: &str = "OrgScanRole";
const CONTROL_ID: &str = "cis_v120_1_2";
const TABLES: [&str; 3] = ["findings", "credential_report", "accounts"];
const TIMESTAMP_TYPE: &str = "timestamp[ms, tz=UTC]";

/// Fixture account of `tests/fixtures/credential_report.*`.
const FIXTURE_ACCOUNT_ID: &str = "111122223333";

/// Runs `orgscan scan` against `moto`, writing under `output`.
fn scan(moto: &Moto, output: &Path) -> std::process::Output {
    let args = [
        "scan",
        "--output",
        output.to_str().expect("temporary path is not UTF-8"),
        "--role-name",
        ROLE_NAME,
        "--concurrency",
        "4",
        "--log-format",
        "json",
    ];
    run_orgscan(&args, &moto.env())
}

fn str_field<'a>(row: &'a Value, name: &str) -> &'a str {
    row[name]
        .as_str()
        .unwrap_or_else(|| panic!("column {name} is not a non-null string in row {row}"))
}

/// Seeded accounts with the given Organizations status (`ACTIVE`, `SUSPENDED`).
fn seeded_accounts<'a>(seeded: &'a Value, status: &str) -> Vec<&'a Value> {
    seeded["accounts"]
        .as_array()
        .expect("seed output has no accounts array")
        .iter()
        .filter(|account| account["status"] == status)
        .collect()
}

fn seeded_users(account: &Value) -> &[Value] {
    account["users"].as_array().expect("seeded account has no users array")
}

/// Checks what every table of one scan shares: one file per table, named after
/// the scan under today's UTC partition, and one scan_id in every row.
/// Returns the scan_id.
fn assert_one_scan_today(tables: &Value, dates: &[String]) -> String {
    let first_row = rows(tables, "accounts").first().expect("accounts table is empty");
    let scan_id = str_field(first_row, "scan_id").to_string();

    for table in TABLES {
        let files: Vec<&str> = tables[table]["files"]
            .as_array()
            .expect("read_tables returned no files array")
            .iter()
            .map(|file| file.as_str().expect("file path is not a string"))
            .collect();
        let expected: Vec<String> = dates.iter().map(|date| format!("{table}/dt={date}/{scan_id}.parquet")).collect();
        assert_eq!(files.len(), 1, "{table}: expected one file, found {files:?}");
        assert!(expected.iter().any(|path| path == files[0]), "{table}: file {} is not one of {expected:?}", files[0]);

        for row in rows(tables, table) {
            assert_eq!(str_field(row, "scan_id"), scan_id, "{table}: row from another scan: {row}");
        }
    }
    scan_id
}

fn assert_timestamp_columns(tables: &Value, table: &str, columns: &[&str]) {
    let schema = tables[table]["schema"].as_array().expect("read_tables returned no schema");
    for column in columns {
        let field = schema
            .iter()
            .find(|field| field["name"] == *column)
            .unwrap_or_else(|| panic!("{table} has no column {column}"));
        assert_eq!(field["type"], TIMESTAMP_TYPE, "{table}.{column} has the wrong type");
    }
}

/// Dates the scan may have used for its partition: today, and tomorrow too
/// when the scan ran across midnight UTC.
fn partition_dates(before: String, after: String) -> Vec<String> {
    if before == after { vec![before] } else { vec![before, after] }
}

#[test]
fn scan_integration_org_writes_every_user() {
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Preset("integration"));
    let output_dir = tempfile::tempdir().unwrap();

    let date_before = utc_date_today();
    let output = scan(&moto, output_dir.path());
    let date_after = utc_date_today();
    assert_eq!(output.status.code(), Some(0), "scan did not exit 0:\n{}", describe_output(&output));

    let tables = read_tables(output_dir.path());
    let scan_id = assert_one_scan_today(&tables, &partition_dates(date_before, date_after));
    assert!(!scan_id.is_empty(), "scan_id is empty");
    assert_timestamp_columns(&tables, "findings", &["scanned_at", "report_generated_at"]);
    assert_timestamp_columns(&tables, "accounts", &["started_at", "finished_at", "report_generated_at"]);
    assert_timestamp_columns(&tables, "credential_report", &["report_generated_at", "user_creation_time"]);

    let active = seeded_accounts(&seeded, "ACTIVE");
    let suspended = seeded_accounts(&seeded, "SUSPENDED");
    assert!(active.len() >= 6, "integration preset should have at least 6 active accounts");
    assert_eq!(suspended.len(), 1, "integration preset should have one closed account");

    // accounts: one `scanned` row per active account, counting its users.
    let account_rows = rows(&tables, "accounts");
    for account in &active {
        let account_id = str_field(account, "id");
        let matching: Vec<&Value> = account_rows.iter().filter(|row| row["account_id"] == account_id).collect();
        assert_eq!(matching.len(), 1, "account {account_id}: expected one accounts row, found {matching:?}");

        let row = matching[0];
        assert_eq!(row["outcome"], "scanned", "account {account_id}: {row}");
        assert_eq!(row["account_name"], account["name"], "account {account_id}: {row}");
        assert_eq!(row["account_status"], "ACTIVE", "account {account_id}: {row}");
        assert_eq!(row["users"], seeded_users(account).len(), "account {account_id}: {row}");
        assert!(row["error_code"].is_null(), "account {account_id} has an error code: {row}");
        assert!(!row["report_generated_at"].is_null(), "account {account_id} has no report time: {row}");

        let started = str_field(row, "started_at");
        let finished = str_field(row, "finished_at");
        assert!(started <= finished, "account {account_id} finished before it started: {row}");
    }

    // A suspended account is listed as skipped and never scanned.
    let closed_id = str_field(suspended[0], "id");
    let closed_rows: Vec<&Value> = account_rows.iter().filter(|row| row["account_id"] == closed_id).collect();
    assert_eq!(closed_rows.len(), 1, "closed account {closed_id}: expected one accounts row, found {closed_rows:?}");
    assert_eq!(closed_rows[0]["outcome"], "skipped", "closed account {closed_id}: {}", closed_rows[0]);
    assert_eq!(closed_rows[0]["account_status"], "SUSPENDED", "closed account {closed_id}: {}", closed_rows[0]);
    assert_eq!(
        account_rows.len(),
        active.len() + 1,
        "accounts table has rows for accounts that were never seeded: {account_rows:?}"
    );

    // findings: exactly one per seeded user, with the expected status.
    let finding_rows = rows(&tables, "findings");
    let mut findings_by_arn: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for row in finding_rows {
        findings_by_arn.entry(str_field(row, "resource")).or_default().push(row);
    }

    let mut expected_users = 0;
    for account in &active {
        let account_id = str_field(account, "id");
        for user in seeded_users(account) {
            expected_users += 1;
            let arn = str_field(user, "arn");
            let user_name = str_field(user, "user_name");
            let findings = findings_by_arn.get(arn).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(findings.len(), 1, "user {arn}: expected one finding, found {findings:?}");

            let finding = findings[0];
            assert_eq!(finding["status"], user["expected_status"], "user {arn} (password {}, MFA {}): {finding}", user["password"], user["mfa"]);
            assert_eq!(finding["user_name"], user_name, "user {arn}: {finding}");
            assert_eq!(finding["account_id"], account_id, "user {arn}: {finding}");
            assert_eq!(finding["account_name"], account["name"], "user {arn}: {finding}");
            assert_eq!(finding["control_id"], CONTROL_ID, "user {arn}: {finding}");
            assert!(str_field(finding, "reason").contains(user_name), "reason does not name user {user_name}: {finding}");
            assert!(!finding["scanned_at"].is_null(), "user {arn} has no scanned_at: {finding}");
            assert!(!finding["report_generated_at"].is_null(), "user {arn} has no report time: {finding}");
        }
    }
    assert_eq!(finding_rows.len(), expected_users, "findings table has rows for unseeded users");

    let team_users = finding_rows.iter().filter(|row| str_field(row, "resource").contains(":user/team/")).count();
    assert!(team_users >= 40, "expected the /team/ users in findings, found {team_users}");

    // credential_report: one row per seeded user, typed.
    let report_rows = rows(&tables, "credential_report");
    assert_eq!(report_rows.len(), expected_users, "credential_report row count");
    let report_by_arn: BTreeMap<&str, &Value> = report_rows.iter().map(|row| (str_field(row, "arn"), row)).collect();
    assert_eq!(report_by_arn.len(), expected_users, "credential_report has duplicate ARNs");
    for account in &active {
        for user in seeded_users(account) {
            let arn = str_field(user, "arn");
            let row = report_by_arn.get(arn).unwrap_or_else(|| panic!("credential_report has no row for {arn}"));
            assert_eq!(row["account_id"], account["id"], "{arn}: {row}");
            assert_eq!(row["user"], user["user_name"], "{arn}: {row}");
            assert_eq!(row["password_enabled"], user["password"], "{arn}: {row}");
            assert_eq!(row["mfa_active"], user["mfa"], "{arn}: {row}");
            let raw = if user["password"] == true { "true" } else { "false" };
            assert_eq!(row["password_enabled_raw"], raw, "{arn}: {row}");
        }
    }
}

#[test]
fn scan_pages_through_45_accounts() {
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Accounts(45));
    moto.clear_recorded_requests();
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&moto, output_dir.path());
    assert_eq!(output.status.code(), Some(0), "scan did not exit 0:\n{}", describe_output(&output));

    let seeded_ids: BTreeSet<&str> = seeded["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| str_field(account, "id"))
        .collect();
    assert_eq!(seeded_ids.len(), 46, "seed should create 45 members and the management account");

    let tables = read_tables(output_dir.path());
    let account_ids: Vec<&str> = rows(&tables, "accounts").iter().map(|row| str_field(row, "account_id")).collect();
    let distinct: BTreeSet<&str> = account_ids.iter().copied().collect();
    assert_eq!(account_ids.len(), distinct.len(), "an account was scanned twice: {account_ids:?}");
    assert_eq!(distinct, seeded_ids, "accounts table differs from the seeded organization");

    let finding_accounts: BTreeSet<&str> = rows(&tables, "findings").iter().map(|row| str_field(row, "account_id")).collect();
    assert_eq!(finding_accounts.len(), 45, "every member account has one user and so one finding");

    // moto returns up to 100 accounts per page unless asked for fewer; AWS
    // returns at most 20. Only requests for smaller pages make this test page.
    let list_calls = moto.requests_for("ListAccounts");
    assert!(
        list_calls.len() >= 3,
        "46 accounts took {} ListAccounts calls; expected pages of at most 20 (MaxResults=20): {list_calls:?}",
        list_calls.len()
    );
}

/// Runs `orgscan evaluate` on `report` and returns the tables it wrote.
fn evaluate(report: &Path) -> Value {
    let output_dir = tempfile::tempdir().unwrap();
    let args = [
        "evaluate",
        "--report",
        report.to_str().expect("fixture path is not UTF-8"),
        "--account-id",
        FIXTURE_ACCOUNT_ID,
        "--output",
        output_dir.path().to_str().expect("temporary path is not UTF-8"),
    ];
    let output = run_orgscan(&args, &[]);
    assert_eq!(output.status.code(), Some(0), "evaluate did not exit 0:\n{}", describe_output(&output));
    read_tables(output_dir.path())
}

/// Expected findings of the fixture report: ARN, user name, status and a word
/// the reason must contain. The root row alarms because `not_supported` counts
/// as a console password, as in Powerpipe's control.
const FIXTURE_FINDINGS: [(&str, &str, &str, &str); 7] = [
    ("arn:aws:iam::111122223333:root", "<root_account>", "alarm", "root"),
    ("arn:aws:iam::111122223333:user/alice", "alice", "alarm", "alice"),
    ("arn:aws:iam::111122223333:user/bob", "bob", "ok", "bob"),
    ("arn:aws:iam::111122223333:user/team/carol", "carol", "alarm", "carol"),
    ("arn:aws:iam::111122223333:user/service/deploy-bot", "deploy-bot", "ok", "deploy-bot"),
    ("arn:aws:iam::111122223333:user/erin", "erin", "ok", "erin"),
    ("arn:aws:iam::111122223333:user/team/frank", "frank", "ok", "frank"),
];

fn assert_fixture_findings(tables: &Value) {
    let findings = rows(tables, "findings");
    assert_eq!(findings.len(), FIXTURE_FINDINGS.len(), "one finding per report row: {findings:?}");

    for (arn, user_name, status, reason_word) in FIXTURE_FINDINGS {
        let finding = findings
            .iter()
            .find(|row| row["resource"] == arn)
            .unwrap_or_else(|| panic!("no finding for {arn}"));
        assert_eq!(finding["status"], status, "{arn}: {finding}");
        assert_eq!(finding["user_name"], user_name, "{arn}: {finding}");
        assert_eq!(finding["account_id"], FIXTURE_ACCOUNT_ID, "{arn}: {finding}");
        assert_eq!(finding["control_id"], CONTROL_ID, "{arn}: {finding}");
        assert!(str_field(finding, "reason").contains(reason_word), "reason does not name {reason_word}: {finding}");
    }

    let report = rows(tables, "credential_report");
    assert_eq!(report.len(), FIXTURE_FINDINGS.len(), "credential_report row count");
    let root = report.iter().find(|row| row["user"] == "<root_account>").expect("no root row in credential_report");
    assert_eq!(root["password_enabled_raw"], "not_supported", "root row: {root}");
    assert!(root["password_last_changed"].is_null(), "not_supported must read as null: {root}");
    let carol = report.iter().find(|row| row["user"] == "carol").expect("no row for carol");
    assert!(carol["password_last_used"].is_null(), "no_information must read as null: {carol}");
    assert_eq!(carol["user_creation_time"], "2023-06-30T22:10:05.000Z", "carol: {carol}");
}

#[test]
fn evaluate_csv_fixture_matches_expected() {
    let tables = evaluate(&fixture_path("credential_report.csv"));
    assert_fixture_findings(&tables);
}

#[test]
fn evaluate_json_fixture_keeps_generated_time() {
    let tables = evaluate(&fixture_path("credential_report.json"));
    assert_fixture_findings(&tables);

    for finding in rows(&tables, "findings") {
        assert_eq!(finding["report_generated_at"], "2024-05-06T07:08:09.000Z", "{finding}");
    }
}

#[test]
fn evaluate_csv_with_bom_and_crlf() {
    let fixture = std::fs::read_to_string(fixture_path("credential_report.csv")).unwrap();
    let windows_style = format!("\u{feff}{}", fixture.replace('\n', "\r\n"));
    let report_dir = tempfile::tempdir().unwrap();
    let report = report_dir.path().join("report.csv");
    std::fs::write(&report, windows_style).unwrap();

    let tables = evaluate(&report);
    assert_fixture_findings(&tables);
}
