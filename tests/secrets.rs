//! Secrets never reach logs or output, even at TRACE level.
//!
//! The scan runs through the fault proxy with distinctive values for the
//! scanner's secret key and session token, with every crate logging at
//! TRACE, and with faults that send errors through the logging paths. The
//! proxy records the secrets that moto's AssumeRole returned. None of these
//! secrets may appear in stdout, stderr, any output file's bytes or the
//! values that the Parquet readers return.

mod common;


use serde_json::json;

use common::fault_proxy::FaultProxy;
use common::{Moto, Seed, describe_output, files_under, read_tables, run_orgscan, seed};

const SCANNER_SECRET_KEY: &str = "orgscanTestSecretKey7f3a9cDoNotLog";
const SCANNER_SESSION_TOKEN: &str = "orgscanTestSessionToken51d2e8DoNotLog";

/// Returns the forms a secret could take in text: whole, percent-encoded as
/// in a form body, and a middle slice that a truncated print would keep.
fn secret_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    if encoded != secret {
        forms.push(encoded);
    }
    if secret.len() >= 40 {
        forms.push(secret[12..36].to_string());
    }
    forms
}

fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

#[test]
fn trace_scan_leaks_no_secret() {
    let spec = json!({
        "management_users": [{"name": "admin", "password": true, "mfa": true}],
        "accounts": [
            {"name": "member-1", "users": [{"name": "alice", "password": true, "mfa": false}]},
            {"name": "member-2", "users": [{"name": "bob", "password": true, "mfa": true}]},
            {"name": "member-3", "users": [{"name": "carol", "password": false, "mfa": false}]},
        ],
    });
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Spec(&spec));
    let member = |index: usize| seeded["accounts"][index]["id"].as_str().unwrap().to_string();

    // Errors go through the logging and error paths too: an expired token
    // (the role is assumed again), a denied role and a throttled call.
    let rules = json!([
        {"operation": "GetCredentialReport", "account": member(1), "nth": 1,
         "error": {"status": 403, "code": "ExpiredToken", "message": "The security token included in the request is expired"}},
        {"operation": "AssumeRole", "account": member(2), "always": true,
         "error": {"status": 403, "code": "AccessDenied", "message": "not authorized to perform: sts:AssumeRole"}},
        {"operation": "GenerateCredentialReport", "account": member(3), "nth": 1,
         "error": {"status": 400, "code": "Throttling", "message": "Rate exceeded"}},
    ]);
    let proxy = FaultProxy::start(&moto, &rules);

    let mut secrets = vec![SCANNER_SECRET_KEY.to_string(), SCANNER_SESSION_TOKEN.to_string()];
    for log_format in ["json", "text"] {
        let output_dir = tempfile::tempdir().unwrap();
        let args = [
            "scan",
            "--output",
            output_dir.path().to_str().unwrap(),
            "--role-name",
            "OrgScanRole",
            "--log-format",
            log_format,
            "--log-level",
            "trace",
        ];
        let mut env = proxy.env();
        env.extend([
            ("RUST_LOG", "trace"),
            ("AWS_SECRET_ACCESS_KEY", SCANNER_SECRET_KEY),
            ("AWS_SESSION_TOKEN", SCANNER_SESSION_TOKEN),
        ]);
        let output = run_orgscan(&args, &env);

        assert_eq!(output.status.code(), Some(2), "one denied account means exit 2:\n{}", describe_output(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("aws_smithy_runtime"), "the SDK's TRACE lines are missing, so the check is void");

        for credentials in proxy.assumed_credentials() {
            secrets.push(credentials.secret_access_key);
            secrets.push(credentials.session_token);
        }
        assert!(
            secrets.len() >= 2 + 2 * 3,
            "expected AssumeRole secrets for two members, one of them twice: {} secrets",
            secrets.len()
        );

        let files = files_under(output_dir.path());
        assert!(files.len() >= 3, "the scan wrote no tables: {files:?}");
        let tables = read_tables(output_dir.path()).to_string();

        for secret in &secrets {
            for form in secret_forms(secret) {
                assert!(!contains_bytes(&output.stdout, &form), "{log_format} run: stdout contains a secret ({form})");
                assert!(!contains_bytes(&output.stderr, &form), "{log_format} run: stderr contains a secret ({form})");
                for file in &files {
                    let bytes = std::fs::read(file).unwrap();
                    assert!(!contains_bytes(&bytes, &form), "{log_format} run: {} contains a secret ({form})", file.display());
                }
                assert!(!tables.contains(&form), "{log_format} run: a table value contains a secret ({form})");
            }
        }
    }
}
