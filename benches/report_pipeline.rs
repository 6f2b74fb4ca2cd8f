//! CPU cost of the per-account path of a scan, on one core: parse a
//! credential report, evaluate the console-MFA control on every row, and
//! encode the rows as Parquet.
//!
//! The input is one synthetic report of 1,000,000 rows (set
//! `ORGSCAN_BENCH_ROWS` for another size) built in memory by
//! `support/credential_report.rs`. Each stage reports rows/s and bytes/s of
//! that CSV. `csv_byte_records` reads the same bytes with the csv crate alone
//! and no decoding, which bounds what the parser can reach.
//!
//! The `per_account` group reads the same number of rows as reports of
//! 5,000 rows each, near IAM's quota of 5,000 users an account, and runs
//! them through the scan's writer one account at a time, as a scan does.
//! Unlike the single large report, it has no vector of a million rows to
//! grow and free.
//!
//! The `what_if` group measures two changes that the profile suggests,
//! without making them in the library. One sizes the row vector from the
//! input before parsing. The other encodes with no dictionary and no page
//! statistics on the columns that are unique per row.
//!
//! Run with `nice cargo bench --bench report_pipeline`; the results and the
//! machine they came from are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use orgscan::controls::{self, Status};
use orgscan::org::Account;
use orgscan::output::{OutputStore, ScanWriter, WriterOptions, encode_report_rows};
use orgscan::report::parse::read_rows;
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

/// Fails the run unless every generated row parses and the control flags
/// exactly the rows the generator meant to flag, so no stage measures an
/// error path.
fn check_input(bytes: &[u8], mix: &ReportMix) {
    let report = parsed_report(bytes);
    assert_eq!(report.rows.len(), mix.rows, "parsed row count");
    assert!(report.rows.iter().all(Result::is_ok), "every generated row parses");

    let findings = evaluate_report(&report, ACCOUNT_ID, "aws", &default_controls());
    let alarms = findings.iter().filter(|finding| finding.status == Status::Alarm).count();
    assert_eq!(alarms, mix.alarms, "alarm count");
}

fn account_scan(account_id: &str, report: CredentialReport, findings: Vec<controls::Finding>) -> AccountScan {
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
        report: Some(report),
        findings,
    }
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
    let options = WriterOptions::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("failed to build a Tokio runtime");

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

    group.bench_function("parse", |b| b.iter(|| parse_report(black_box(bytes)).expect("report parses")));

    group.bench_function("parse_evaluate", |b| {
        b.iter(|| {
            let report = parsed_report(black_box(bytes));
            let findings = evaluate_report(&report, ACCOUNT_ID, "aws", &control_ids);
            (report, findings)
        })
    });

    group.bench_function("parse_evaluate_encode", |b| {
        b.iter(|| {
            let report = parsed_report(black_box(bytes));
            let findings = evaluate_report(&report, ACCOUNT_ID, "aws", &control_ids);
            let parquet = encode_report_rows(Vec::new(), SCAN_ID, ACCOUNT_ID, &report, &options)
                .expect("encoding to memory succeeds");
            (report, findings, parquet)
        })
    });

    // The scan's own writer: all three tables, findings included, written to
    // temporary files and published. Removing the files is not timed.
    group.bench_function("parse_evaluate_scan_writer", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("failed to create a temporary output directory"),
            |root| {
                let report = parsed_report(black_box(bytes));
                let findings = evaluate_report(&report, ACCOUNT_ID, "aws", &control_ids);
                let scan = account_scan(ACCOUNT_ID, report, findings);

                let store = OutputStore::local(root.path());
                let mut writer = ScanWriter::create(&store, &ScanContext::new(None)).expect("output files are created");
                writer.write_account(&scan).expect("account rows are written");
                let files = runtime.block_on(writer.finish()).expect("output files are published");
                (root, files)
            },
            BatchSize::PerIteration,
        )
    });

    // The stages apart, on rows parsed once outside the timing.
    let report = parsed_report(bytes);
    group.bench_function("evaluate_only", |b| {
        b.iter(|| evaluate_report(black_box(&report), ACCOUNT_ID, "aws", &control_ids))
    });
    group.bench_function("encode_only", |b| {
        b.iter(|| {
            encode_report_rows(Vec::new(), SCAN_ID, ACCOUNT_ID, black_box(&report), &options)
                .expect("encoding to memory succeeds")
        })
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("failed to build a Tokio runtime");

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

    group.bench_function("parse", |b| {
        b.iter(|| {
            for report in &reports {
                black_box(parse_report(report.csv.as_bytes()).expect("report parses"));
            }
        })
    });

    group.bench_function("parse_evaluate", |b| {
        b.iter(|| {
            for report in &reports {
                let parsed = parsed_report(report.csv.as_bytes());
                black_box(evaluate_report(&parsed, &report.account_id, "aws", &control_ids));
            }
        })
    });

    // The whole per-account path of a scan: every account parsed, evaluated
    // and appended to the three tables, then the files published once.
    group.bench_function("parse_evaluate_scan_writer", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("failed to create a temporary output directory"),
            |root| {
                let store = OutputStore::local(root.path());
                let mut writer = ScanWriter::create(&store, &ScanContext::new(None)).expect("output files are created");
                for report in &reports {
                    let parsed = parsed_report(report.csv.as_bytes());
                    let findings = evaluate_report(&parsed, &report.account_id, "aws", &control_ids);
                    writer
                        .write_account(&account_scan(&report.account_id, parsed, findings))
                        .expect("account rows are written");
                }
                let files = runtime.block_on(writer.finish()).expect("output files are published");
                (root, files)
            },
            BatchSize::PerIteration,
        )
    });

    group.finish();
}

/// Columns of the credential_report table whose values are nearly unique per
/// row, so a dictionary only costs time: the user, the ARN and every report
/// timestamp. `report_generated_at` is one value per account and keeps its
/// dictionary.
const UNIQUE_REPORT_COLUMNS: [&str; 12] = [
    "user",
    "arn",
    "user_creation_time",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "cert_1_last_rotated",
    "cert_2_last_rotated",
];

/// Returns a builder with the writer's Parquet settings.
///
/// NOTE: this copies `writer_properties` in `src/output/writer.rs` (Snappy,
/// version 1.0 pages, 65,536-row groups) and must follow it when it changes.
fn current_properties() -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_max_row_group_row_count(Some(orgscan::output::writer::DEFAULT_ROW_GROUP_ROWS))
}

/// Returns the writer's settings with dictionaries off and chunk statistics
/// only for [`UNIQUE_REPORT_COLUMNS`].
fn unique_columns_properties() -> WriterProperties {
    let mut builder = current_properties();
    for name in UNIQUE_REPORT_COLUMNS {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(name), false)
            .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Chunk);
    }
    builder.build()
}

/// Encodes record batches as one Parquet file in memory.
fn encode_batches(batches: &[RecordBatch], properties: &WriterProperties) -> Vec<u8> {
    let schema = batches[0].schema();
    let mut writer =
        ArrowWriter::try_new(Vec::new(), schema, Some(properties.clone())).expect("the writer accepts the schema");
    for batch in batches {
        writer.write(batch).expect("encoding to memory succeeds");
    }
    writer.into_inner().expect("the file is finished")
}

fn what_if(c: &mut Criterion) {
    let rows = row_count();
    let (csv, mix) = credential_report_csv(ACCOUNT_ID, rows.saturating_sub(1), SEED);
    let bytes = csv.as_bytes();

    // The credential_report table as Arrow batches, read back from what the
    // writer encodes, so both settings encode the same columns.
    let report = parsed_report(bytes);
    let encoded = encode_report_rows(Vec::new(), SCAN_ID, ACCOUNT_ID, &report, &WriterOptions::default())
        .expect("encoding to memory succeeds");
    drop(report);
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(encoded))
        .expect("the encoded file has a valid footer")
        .with_batch_size(orgscan::output::writer::DEFAULT_ROW_GROUP_ROWS)
        .build()
        .expect("the encoded file is readable")
        .collect::<Result<_, _>>()
        .expect("every batch decodes");
    let current = current_properties().build();
    let unique_columns = unique_columns_properties();
    eprintln!(
        "what_if: credential_report table of {} rows is {} bytes with the writer's settings and {} bytes \
         without dictionaries on the unique columns",
        mix.rows,
        encode_batches(&batches, &current).len(),
        encode_batches(&batches, &unique_columns).len()
    );

    let mut group = c.benchmark_group("what_if");
    group
        .throughput(Throughput::ElementsAndBytes {
            elements: mix.rows as u64,
            bytes: bytes.len() as u64,
        })
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(10));

    group.bench_function("parse_presized", |b| {
        b.iter(|| {
            // About 230 bytes a row in reports of this shape.
            let mut rows = Vec::with_capacity(bytes.len() / 200);
            rows.extend(read_rows(black_box(bytes)).expect("the header parses"));
            rows
        })
    });
    group.bench_function("encode_batches_current_settings", |b| {
        b.iter(|| encode_batches(black_box(&batches), &current))
    });
    group.bench_function("encode_batches_no_unique_dictionaries", |b| {
        b.iter(|| encode_batches(black_box(&batches), &unique_columns))
    });

    group.finish();
}

criterion_group!(benches, report_pipeline, per_account_pipeline, what_if);
criterion_main!(benches);
