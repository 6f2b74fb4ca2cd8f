//! A scan killed with SIGKILL never leaves a partial Parquet file in view.
//!
//! orgscan writes each table to `.<file>.tmp` and renames it when complete.
//! This test kills scans at random moments, and once just as the first file
//! of a scan is published. After each kill every visible `*.parquet` file
//! must read completely with pyarrow and DuckDB. A normal run afterwards must
//! succeed, remove temporary files older than an hour and keep younger ones,
//! which a live writer may still own.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use serde_json::json;

use common::fault_proxy::{FaultProxy, spawn_orgscan};
use common::{Moto, Seed, describe_output, files_under, read_tables, rows, seed};

/// Member accounts in the organization: enough for a scan of a few seconds.
const MEMBER_ACCOUNTS: usize = 24;

/// Kills at random moments, in addition to the one at the first publish.
const RANDOM_KILLS: usize = 4;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Age beyond which orgscan removes a temporary file, plus a margin.
const STALE_AGE: Duration = Duration::from_secs(2 * 60 * 60);

const TABLES: [&str; 3] = ["findings", "credential_report", "accounts"];

fn scan_args(output: &Path) -> Vec<String> {
    [
        "scan",
        "--output",
        output.to_str().expect("temporary path is not UTF-8"),
        "--role-name",
        "OrgScanRole",
        "--concurrency",
        "8",
        "--log-format",
        "json",
    ]
    .map(str::to_string)
    .to_vec()
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn parquet_files(dir: &Path) -> BTreeSet<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|path| file_name(path).ends_with(".parquet"))
        .collect()
}

fn temp_files(dir: &Path) -> BTreeSet<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|path| file_name(path).ends_with(".tmp"))
        .collect()
}

/// Checks that every visible `*.parquet` file sits in a table's `dt=`
/// partition and reads completely with pyarrow and DuckDB.
fn assert_visible_files_complete(output: &Path, context: &str) {
    let visible = parquet_files(output);
    for path in &visible {
        let relative = path.strip_prefix(output).unwrap();
        let parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        assert_eq!(parts.len(), 3, "{context}: {} is outside the table layout", relative.display());
        assert!(TABLES.contains(&parts[0].as_str()), "{context}: {} is in no table", relative.display());
        assert!(parts[1].starts_with("dt="), "{context}: {} is in no dt= partition", relative.display());
        assert!(!parts[2].starts_with('.'), "{context}: {} is hidden yet ends in .parquet", relative.display());
    }

    // read_tables.py fails when pyarrow or DuckDB cannot read a file whole,
    // and reports the files it read.
    let tables = read_tables(output);
    let read: usize = TABLES
        .iter()
        .map(|table| tables[*table]["files"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(read, visible.len(), "{context}: read_tables read {read} of {} files", visible.len());
}

/// Starts a scan and kills it when `should_kill` returns true or at the
/// latest after `RUN_TIMEOUT`. Returns whether the scan was still running.
fn kill_scan_when(proxy: &FaultProxy, output: &Path, mut should_kill: impl FnMut(Duration) -> bool) -> bool {
    let mut running = spawn_orgscan(&scan_args(output), &proxy.env());
    let started = Instant::now();
    while !should_kill(started.elapsed()) && started.elapsed() < RUN_TIMEOUT {
        std::thread::sleep(Duration::from_millis(2));
    }
    running.kill()
}

fn set_age(path: &Path, age: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn killed_scans_leave_only_complete_files() {
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Accounts(MEMBER_ACCOUNTS));
    let account_count = seeded["accounts"].as_array().unwrap().len();
    // Latency on the report calls spreads the writes over the scan.
    let rules = json!([
        {"operation": "GenerateCredentialReport", "always": true, "delay_ms": 100},
        {"operation": "GetCredentialReport", "always": true, "delay_ms": 300},
    ]);
    let proxy = FaultProxy::start(&moto, &rules);
    let output_dir = tempfile::tempdir().unwrap();
    let output = output_dir.path();

    // moto generates each account's report during the first scan, and later
    // scans find it ready, so the second full scan gives the duration to aim
    // the kills at.
    let mut scan_time = Duration::ZERO;
    for run in 1..=2 {
        let started = Instant::now();
        let full = spawn_orgscan(&scan_args(output), &proxy.env()).wait(RUN_TIMEOUT);
        scan_time = started.elapsed();
        assert_eq!(full.status.code(), Some(0), "full scan {run} failed:\n{}", describe_output(&full));
        assert_eq!(parquet_files(output).len(), 3 * run, "full scan {run} should publish three files");
    }
    eprintln!("a full scan of {account_count} accounts took {scan_time:?}");

    let mut rng = rand::rng();
    let mut kills_during_scan = 0;
    for round in 0..RANDOM_KILLS {
        let fraction: f64 = rng.random_range(0.05..0.85);
        let kill_at = scan_time.mul_f64(fraction);
        let was_running = kill_scan_when(&proxy, output, |elapsed| elapsed >= kill_at);
        eprintln!("kill {round}: after {kill_at:?} ({fraction:.2} of a scan), still running: {was_running}");
        kills_during_scan += usize::from(was_running);
        assert_visible_files_complete(output, &format!("after kill {round} at {kill_at:?}"));
    }

    // Kill just as a scan publishes its first file, between the renames.
    let before = parquet_files(output);
    let was_running = kill_scan_when(&proxy, output, |_| parquet_files(output).len() > before.len());
    let published = parquet_files(output).len() - before.len();
    eprintln!("kill at publish: {published} of 3 files published, still running: {was_running}");
    kills_during_scan += usize::from(was_running);
    assert_visible_files_complete(output, "after the kill at publish");

    assert!(kills_during_scan >= RANDOM_KILLS, "only {kills_during_scan} kills hit a running scan");
    let left_behind = temp_files(output);
    assert!(!left_behind.is_empty(), "killed scans left no temporary files, so the cleanup goes untested");

    // Files from killed runs count as stale once an hour old; a younger one
    // may belong to a live writer and must stay.
    for path in &left_behind {
        set_age(path, STALE_AGE);
    }
    let young = left_behind.iter().next().unwrap().with_file_name(".young-writer.parquet.tmp");
    fs::write(&young, b"a temporary file of a scan still running").unwrap();

    let before = parquet_files(output);
    let last = spawn_orgscan(&scan_args(output), &proxy.env()).wait(RUN_TIMEOUT);
    assert_eq!(last.status.code(), Some(0), "scan after the kills failed:\n{}", describe_output(&last));

    let remaining = temp_files(output);
    for path in &left_behind {
        assert!(!remaining.contains(path), "stale temporary file {} was not removed", path.display());
    }
    assert!(remaining.contains(&young), "a temporary file younger than an hour was removed");
    assert_eq!(remaining.len(), 1, "temporary files left: {remaining:?}");

    let new_files: Vec<PathBuf> = parquet_files(output).difference(&before).cloned().collect();
    assert_eq!(new_files.len(), 3, "the last scan should publish three files: {new_files:?}");
    let scan_id = file_name(&new_files[0]).trim_end_matches(".parquet").to_string();
    assert_visible_files_complete(output, "after the last scan");

    let tables = read_tables(output);
    let last_accounts: Vec<_> = rows(&tables, "accounts")
        .iter()
        .filter(|row| row["scan_id"] == scan_id.as_str())
        .collect();
    assert_eq!(last_accounts.len(), account_count, "the last scan's accounts table");
    for row in last_accounts {
        assert_eq!(row["outcome"], "scanned", "{row}");
    }
}
