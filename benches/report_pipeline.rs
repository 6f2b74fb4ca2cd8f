//! CPU cost of the per-account path of a scan, on one core: parse a
//! credential report, evaluate the console-MFA control on every row, and
//! encode the rows as Parquet.
//!
//! The input is one synthetic report of 1,000,000 rows (set
//! `ORGSCAN_BENCH_ROWS` for another size) built in memory by
//! `support/credential_report.rs`. Each stage reports rows/s and bytes/s of
//! that CSV. `csv_byte_records` reads the same bytes with the csv crate alone
//! and no decoding, and `records` with the parser's own CSV reader: the
//! bounds under the parser.
//!
//! `parse` builds owned rows, as `orgscan evaluate` does. A scan instead
//! parses, evaluates and builds the Arrow columns of each account in one
//! pass over borrowed rows (`AccountRows::evaluate_report`), which
//! `parse_evaluate` measures. `parse_evaluate_scan_writer` adds the scan's
//! writer, all three tables to files.
//!
//! The `per_account` group reads the same number of rows as reports of
//! 5,000 rows each, near IAM's quota of 5,000 users an account, and runs
//! them through the scan's writer one account at a time, as a scan does.
//! `scan_writer_only` writes columns built before the timing, so it is the
//! Parquet side alone.
//!
//! Run with `nice cargo bench --bench report_pipeline`; the results and the
//! machine they came from are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

use orgscan::controls::{self, Status};
use orgscan::org::Account;
use orgscan::output::{AccountRows, OutputStore, ScanWriter, WriterOptions, encode_report_rows};
use orgscan::report::records::Records;
use orgscan::report::{CredentialReport, parse_report};
use orgscan::scan::{AccountScan, Outcome, ScanContext, evaluate_report};

#[path = "support/credential_report.rs"]
mod credential_report;

use credential_report::{ReportMix, credential_report_csv};

const DEFAULT_ROWS: usize = 1_000_000;
const ACCOUNT_ID: &str = "111122223333";
const SCAN_ID: &str = "0190f2a0-0000-7000-8000-000000000000";
const GENERATED_AT: i64 = 1_717_200_000_000;
const SEED: u64 = 0x6f72_6773_6361_6e00;

/// Rows in the generated report, the root row included.
fn row_count() -> usize {
    match std::env::var("ORGSCAN_BENCH_ROWS") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("invalid ORGSCAN_BENCH_ROWS {text:?}: expected a row count such as 1000000")),
        Err(_) => DEFAULT_ROWS,
    }
}

/// Returns the control ids a scan writes by default: one, so one finding a row.
fn default_controls() -> Vec<String> {
    vec![controls::CONTROL_IDS[0].to_owned()]
}

fn parsed_report(bytes: &[u8]) -> CredentialReport {
    CredentialReport {
        generated_at: Some(GENERATED_AT),
        rows: parse_report(bytes).expect("the generated report parses"),
    }
}

/// Reads every record with the csv crate and decodes nothing: the floor
/// under any parser built on it.
fn count_byte_records(bytes: &[u8]) -> usize {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).expect("the generated report is valid CSV") {
        rows += 1;
    }
    rows
}

/// Splits every record with the parser's own CSV reader and decodes
/// nothing: the floor under the parser as it is built.
fn count_records(bytes: &[u8]) -> usize {
    let mut records = Records::new(bytes);
    let mut rows = 0;
    while records.next_record().is_some() {
        rows += 1;
    }
    rows
}

/// Fails the run unless every generated row parses and the control flags
/// exactly the rows the generator meant to flag, on both the owned and the
/// scan's path, so no stage measures an error path.
fn check_input(bytes: &[u8], mix: &ReportMix) {
    let report = parsed_report(bytes);
    assert_eq!(report.rows.len(), mix.rows, "parsed row count");
    assert!(report.rows.iter().all(Result::is_ok), "every generated row parses");

    let findings = evaluate_report(&report, ACCOUNT_ID, "aws", &default_controls());
    let alarms = findings.iter().filter(|finding| finding.status == Status::Alarm).count();
    assert_eq!(alarms, mix.alarms, "alarm count");

    let rows = account_rows(bytes, ACCOUNT_ID, &default_controls());
    assert_eq!(rows.users, Some(mix.rows as u64), "row count of the scan's path");
    assert_eq!(rows.counts.get(Status::Alarm), mix.alarms as u64, "alarm count of the scan's path");
}

/// Parses and evaluates one report as a scan does.
fn account_rows(bytes: &[u8], account_id: &str, control_ids: &[String]) -> AccountRows {
    AccountRows::evaluate_report(bytes, Some(GENERATED_AT), account_id, "aws", control_ids)
        .expect("the generated report parses")
}

fn account_scan(account_id: &str, rows: AccountRows) -> AccountScan {
    AccountScan {
        account: Account {
            id: account_id.to_owned(),
            name: "bench".to_owned(),
            status: "ACTIVE".to_owned(),
        },
        outcome: Outcome::Scanned,
        error: None,
        started_at: GENERATED_AT,
        finished_at: GENERATED_AT,
        rows,
    }
}

/// Builds the runtime that publishes the writer's files.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("failed to build a Tokio runtime")
}

/// Writes the accounts through a new `ScanWriter` into `root` and publishes the files.
fn write_scan(runtime: &tokio::runtime::Runtime, root: &std::path::Path, scans: impl Iterator<Item = AccountScan>) -> Vec<String> {
    let store = OutputStore::local(root);
    let mut writer = ScanWriter::create(&store, &ScanContext::new(None)).expect("output files are created");
    for scan in scans {
        writer.write_account(&scan).expect("account rows are written");
    }
    runtime.block_on(writer.finish()).expect("output files are published")
}

fn report_pipeline(c: &mut Criterion) {
    let rows = row_count();
    let (csv, mix) = credential_report_csv(ACCOUNT_ID, rows.saturating_sub(1), SEED);
    let bytes = csv.as_bytes();
    check_input(bytes, &mix);
    eprintln!(
        "report_pipeline input: {} rows, {} bytes ({:.0} bytes a row), {} alarms",
        mix.rows,
        bytes.len(),
        bytes.len() as f64 / mix.rows as f64,
        mix.alarms
    );

    let control_ids = default_controls();
    let runtime = current_thread_runtime();

    let mut group = c.benchmark_group("report_pipeline");
    group
        .throughput(Throughput::ElementsAndBytes {
            elements: mix.rows as u64,
            bytes: bytes.len() as u64,
        })
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));

    group.bench_function("csv_byte_records", |b| b.iter(|| count_byte_records(black_box(bytes))));

    group.bench_function("records", |b| b.iter(|| count_records(black_box(bytes))));

    group.bench_function("parse", |b| b.iter(|| parse_report(black_box(bytes)).expect("report parses")));

    group.bench_function("parse_evaluate", |b| {
        b.iter(|| account_rows(black_box(bytes), ACCOUNT_ID, &control_ids))
    });

    // The report's own table only: the credential_report table encoded to
    // memory, the verdicts built but not written.
    group.bench_function("parse_evaluate_encode_report", |b| {
        b.iter(|| {
            let rows = account_rows(black_box(bytes), ACCOUNT_ID, &control_ids);
            encode_report_rows(Vec::new(), SCAN_ID, ACCOUNT_ID, &rows, &WriterOptions::default())
                .expect("encoding to memory succeeds")
        })
    });

    // The scan's own writer: all three tables, findings included, written to
    // temporary files and published. Removing the files is not timed.
    group.bench_function("parse_evaluate_scan_writer", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("failed to create a temporary output directory"),
            |root| {
                let rows = account_rows(black_box(bytes), ACCOUNT_ID, &control_ids);
                let files = write_scan(&runtime, root.path(), std::iter::once(account_scan(ACCOUNT_ID, rows)));
                (root, files)
            },
            BatchSize::PerIteration,
        )
    });

    group.finish();
}

/// Rows in each report of the `per_account` group: the root row and 4,999 users.
const ROWS_PER_ACCOUNT: usize = 5_000;

/// One member account's id and credential report.
struct AccountReport {
    account_id: String,
    csv: String,
}

fn per_account_reports(total_rows: usize) -> Vec<AccountReport> {
    let accounts = (total_rows / ROWS_PER_ACCOUNT).max(1);
    (0..accounts as u64)
        .map(|index| {
            let account_id = format!("{:012}", 100_000_000_000 + index);
            let (csv, mix) = credential_report_csv(&account_id, ROWS_PER_ACCOUNT - 1, SEED + index);
            check_input(csv.as_bytes(), &mix);
            AccountReport { account_id, csv }
        })
        .collect()
}

fn per_account_pipeline(c: &mut Criterion) {
    let reports = per_account_reports(row_count());
    let rows = reports.len() * ROWS_PER_ACCOUNT;
    let bytes: usize = reports.iter().map(|report| report.csv.len()).sum();
    eprintln!("per_account input: {} reports, {rows} rows, {bytes} bytes", reports.len());

    let control_ids = default_controls();
    let runtime = current_thread_runtime();

    let mut group = c.benchmark_group("per_account");
    group
        .throughput(Throughput::ElementsAndBytes {
            elements: rows as u64,
            bytes: bytes as u64,
        })
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));

    group.bench_function("parse_evaluate", |b| {
        b.iter(|| {
            for report in &reports {
                black_box(account_rows(report.csv.as_bytes(), &report.account_id, &control_ids));
            }
        })
    });

    group.bench_function("parse_evaluate_encode_report", |b| {
        b.iter(|| {
            for report in &reports {
                let rows = account_rows(report.csv.as_bytes(), &report.account_id, &control_ids);
                black_box(
                    encode_report_rows(Vec::new(), SCAN_ID, &report.account_id, &rows, &WriterOptions::default())
                        .expect("encoding to memory succeeds"),
                );
            }
        })
    });

    // The whole per-account path of a scan: every account parsed, evaluated
    // and appended to the three tables, then the files published once.
    group.bench_function("parse_evaluate_scan_writer", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("failed to create a temporary output directory"),
            |root| {
                let scans = reports.iter().map(|report| {
                    account_scan(&report.account_id, account_rows(report.csv.as_bytes(), &report.account_id, &control_ids))
                });
                let files = write_scan(&runtime, root.path(), scans);
                (root, files)
            },
            BatchSize::PerIteration,
        )
    });

    // The same path split over two threads as a scan splits it: one thread
    // parses and evaluates, the other writes, with a bounded queue between.
    group.bench_function("parse_evaluate_scan_writer_two_threads", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("failed to create a temporary output directory"),
            |root| {
                let (sender, receiver) = std::sync::mpsc::sync_channel::<AccountScan>(8);
                let files = std::thread::scope(|scope| {
                    scope.spawn(|| {
                        for report in &reports {
                            let rows = account_rows(report.csv.as_bytes(), &report.account_id, &control_ids);
                            sender.send(account_scan(&report.account_id, rows)).expect("the writer is running");
                        }
                        drop(sender);
                    });
                    write_scan(&runtime, root.path(), receiver.into_iter())
                });
                (root, files)
            },
            BatchSize::PerIteration,
        )
    });

    // The writer alone, on columns built before the timing: Parquet
    // encoding of the three tables and the file writes.
    let built: Vec<AccountScan> = reports
        .iter()
        .map(|report| account_scan(&report.account_id, account_rows(report.csv.as_bytes(), &report.account_id, &control_ids)))
        .collect();
    group.bench_function("scan_writer_only", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("failed to create a temporary output directory"),
            |root| {
                let files = write_scan(&runtime, root.path(), built.iter().cloned());
                (root, files)
            },
            BatchSize::PerIteration,
        )
    });

    group.finish();
}

criterion_group!(benches, report_pipeline, per_account_pipeline);
criterion_main!(benches);
