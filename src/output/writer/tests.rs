//! Round trips through the Parquet reader: what the writer stores is read
//! back column by column.

use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use arrow::compute::concat_batches;
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{ConvertedType, LogicalType, TimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::*;
use crate::controls::{Finding, Status};
use crate::org::Account;
use crate::report::{CredentialReport, ReportRow, RowError};
use crate::scan::{AccountError, Outcome};

const SCAN_ID: &str = "0190f5a2-7c1e-7d3a-9f00-5b1c2d3e4f50";
const SCANNED_AT: i64 = 1_714_550_400_000;
const GENERATED_AT: i64 = 1_714_546_800_000;

fn context(shard: Option<(u32, u32)>) -> ScanContext {
    ScanContext {
        scan_id: SCAN_ID.to_owned(),
        scanned_at: SCANNED_AT,
        dt: "2024-05-01".to_owned(),
        shard,
    }
}

fn account(id: &str, name: &str, status: &str) -> Account {
    Account {
        id: id.to_owned(),
        name: name.to_owned(),
        status: status.to_owned(),
    }
}

fn root_row() -> ReportRow {
    ReportRow {
        user: "<root_account>".to_owned(),
        arn: "arn:aws:iam::111111111111:root".to_owned(),
        user_creation_time: Some(1_500_000_000_000),
        password_enabled_raw: "not_supported".to_owned(),
        password_enabled: None,
        password_last_used: Some(1_700_000_000_000),
        password_last_changed: None,
        password_next_rotation: None,
        mfa_active: Some(false),
        access_key_1_active: Some(false),
        access_key_1_last_rotated: None,
        access_key_1_last_used_date: None,
        access_key_1_last_used_region: None,
        access_key_1_last_used_service: None,
        access_key_2_active: Some(false),
        access_key_2_last_rotated: None,
        access_key_2_last_used_date: None,
        access_key_2_last_used_region: None,
        access_key_2_last_used_service: None,
        cert_1_active: Some(false),
        cert_1_last_rotated: None,
        cert_2_active: Some(false),
        cert_2_last_rotated: None,
    }
}

fn alice_row() -> ReportRow {
    ReportRow {
        user: "alice".to_owned(),
        arn: "arn:aws:iam::111111111111:user/alice".to_owned(),
        user_creation_time: Some(1_600_000_000_000),
        password_enabled_raw: "true".to_owned(),
        password_enabled: Some(true),
        password_last_used: Some(1_710_000_000_000),
        password_last_changed: Some(1_650_000_000_000),
        password_next_rotation: Some(1_720_000_000_000),
        mfa_active: Some(false),
        access_key_1_active: Some(true),
        access_key_1_last_rotated: Some(1_660_000_000_000),
        access_key_1_last_used_date: Some(1_711_000_000_000),
        access_key_1_last_used_region: Some("eu-west-1".to_owned()),
        access_key_1_last_used_service: Some("s3".to_owned()),
        access_key_2_active: Some(true),
        access_key_2_last_rotated: Some(1_670_000_000_000),
        access_key_2_last_used_date: None,
        access_key_2_last_used_region: None,
        access_key_2_last_used_service: None,
        cert_1_active: Some(true),
        cert_1_last_rotated: Some(1_680_000_000_000),
        cert_2_active: Some(false),
        cert_2_last_rotated: None,
    }
}

fn finding(resource: &str, user_name: &str, status: Status, reason: &str) -> Finding {
    Finding {
        control_id: "cis_v120_1_2".to_owned(),
        resource: resource.to_owned(),
        user_name: user_name.to_owned(),
        status,
        reason: reason.to_owned(),
    }
}

/// Builds a scanned account: the rows of [`scanned_report`] and two findings.
fn scanned_account() -> AccountScan {
    let findings = vec![
            finding(
                "arn:aws:iam::111111111111:root",
                "<root_account>",
                Status::Alarm,
                "root without MFA",
            ),
            finding(
                "arn:aws:iam::111111111111:user/alice",
                "alice",
                Status::Alarm,
                "alice has a password and no MFA",
            ),
    ];
    AccountScan {
        account: account("111111111111", "prod", "ACTIVE"),
        outcome: Outcome::Scanned,
        error: None,
        started_at: SCANNED_AT + 1_000,
        finished_at: SCANNED_AT + 4_000,
        rows: AccountRows::from_parts(Some(&scanned_report()), &findings),
    }
}

/// Returns the report of [`scanned_account`]: two parsed rows and one that
/// did not parse.
fn scanned_report() -> CredentialReport {
    let bad_row = RowError {
        line: 4,
        user: Some("broken".to_owned()),
        arn: None,
        message: "invalid mfa_active value \"maybe\"".to_owned(),
    };
    CredentialReport {
        generated_at: Some(GENERATED_AT),
        rows: vec![Ok(root_row()), Ok(alice_row()), Err(bad_row)],
    }
}

fn failed_account() -> AccountScan {
    AccountScan {
        account: account("222222222222", "staging", "ACTIVE"),
        outcome: Outcome::Failed,
        error: Some(AccountError {
            code: "assume_role_denied",
            message: "AccessDenied on AssumeRole".to_owned(),
        }),
        started_at: SCANNED_AT + 2_000,
        finished_at: SCANNED_AT + 3_000,
        rows: AccountRows::from_findings(&[finding(
            "arn:aws:::222222222222",
            "",
            Status::Error,
            "credential report could not be read",
        )]),
    }
}

fn skipped_account() -> AccountScan {
    AccountScan {
        account: account("333333333333", "closing", "SUSPENDED"),
        outcome: Outcome::Skipped,
        error: Some(AccountError {
            code: "account_not_active",
            message: "account is SUSPENDED".to_owned(),
        }),
        started_at: SCANNED_AT + 5_000,
        finished_at: SCANNED_AT + 5_000,
        rows: AccountRows::default(),
    }
}

fn table_path(root: &Path, table: Table, name: &str) -> PathBuf {
    root.join(table.name()).join("dt=2024-05-01").join(name)
}

fn read_table(path: &Path) -> RecordBatch {
    let file = fs::File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&schema, &batches).unwrap()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    column
        .as_string::<i32>()
        .iter()
        .map(|value| value.map(str::to_owned))
        .collect()
}

fn texts(batch: &RecordBatch, name: &str) -> Vec<String> {
    strings(batch, name)
        .into_iter()
        .map(|value| value.unwrap_or_else(|| panic!("null in {name}")))
        .collect()
}

fn timestamps(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    column
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect()
}

fn booleans(batch: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    column.as_boolean().iter().collect()
}

fn int64s(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    column.as_primitive::<Int64Type>().iter().collect()
}

/// Writes the three sample accounts into a new local root.
async fn write_sample_scan(root: &Path) -> Vec<String> {
    let store = OutputStore::local(root);
    let mut writer = ScanWriter::create(&store, &context(None)).unwrap();
    for scan in [scanned_account(), failed_account(), skipped_account()] {
        writer.write_account(&scan).unwrap();
    }
    writer.finish().await.unwrap()
}

#[test]
fn file_name_without_shard() {
    assert_eq!(file_name(&context(None)), format!("{SCAN_ID}.parquet"));
}

#[test]
fn file_name_with_shard() {
    assert_eq!(
        file_name(&context(Some((2, 8)))),
        format!("{SCAN_ID}-shard-2-of-8.parquet")
    );
}

#[tokio::test]
async fn finish_returns_final_paths_in_table_order() {
    let temp = tempfile::tempdir().unwrap();

    let locations = write_sample_scan(temp.path()).await;

    let expected: Vec<String> = Table::ALL
        .iter()
        .map(|table| {
            table_path(temp.path(), *table, &format!("{SCAN_ID}.parquet"))
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(locations, expected);
}

#[tokio::test]
async fn sharded_scan_writes_shard_file_names() {
    let temp = tempfile::tempdir().unwrap();
    let store = OutputStore::local(temp.path());

    let writer = ScanWriter::create(&store, &context(Some((0, 3)))).unwrap();
    writer.finish().await.unwrap();

    for table in Table::ALL {
        let path = table_path(
            temp.path(),
            table,
            &format!("{SCAN_ID}-shard-0-of-3.parquet"),
        );
        assert!(path.is_file(), "{}", path.display());
    }
}

#[tokio::test]
async fn findings_round_trip_every_column() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;

    let batch = read_table(&table_path(
        temp.path(),
        Table::Findings,
        &format!("{SCAN_ID}.parquet"),
    ));

    assert_eq!(batch.num_rows(), 3);
    assert_eq!(texts(&batch, "scan_id"), [SCAN_ID; 3]);
    assert_eq!(timestamps(&batch, "scanned_at"), [Some(SCANNED_AT); 3]);
    assert_eq!(
        texts(&batch, "account_id"),
        ["111111111111", "111111111111", "222222222222"]
    );
    assert_eq!(texts(&batch, "account_name"), ["prod", "prod", "staging"]);
    assert_eq!(texts(&batch, "control_id"), ["cis_v120_1_2"; 3]);
    assert_eq!(
        texts(&batch, "resource"),
        [
            "arn:aws:iam::111111111111:root",
            "arn:aws:iam::111111111111:user/alice",
            "arn:aws:::222222222222"
        ]
    );
    assert_eq!(texts(&batch, "user_name"), ["<root_account>", "alice", ""]);
    assert_eq!(texts(&batch, "status"), ["alarm", "alarm", "error"]);
    assert_eq!(
        texts(&batch, "reason"),
        [
            "root without MFA",
            "alice has a password and no MFA",
            "credential report could not be read"
        ]
    );
    assert_eq!(
        timestamps(&batch, "report_generated_at"),
        [Some(GENERATED_AT), Some(GENERATED_AT), None]
    );
}

#[tokio::test]
async fn credential_report_round_trips_every_column() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;

    let batch = read_table(&table_path(
        temp.path(),
        Table::CredentialReport,
        &format!("{SCAN_ID}.parquet"),
    ));

    assert_eq!(batch.num_rows(), 2, "only the parsed rows are written");
    assert_eq!(batch.num_columns(), 26);
    assert_eq!(texts(&batch, "scan_id"), [SCAN_ID; 2]);
    assert_eq!(texts(&batch, "account_id"), ["111111111111"; 2]);
    assert_eq!(
        timestamps(&batch, "report_generated_at"),
        [Some(GENERATED_AT); 2]
    );
    assert_eq!(texts(&batch, "user"), ["<root_account>", "alice"]);
    assert_eq!(
        texts(&batch, "arn"),
        [
            "arn:aws:iam::111111111111:root",
            "arn:aws:iam::111111111111:user/alice"
        ]
    );
    assert_eq!(
        timestamps(&batch, "user_creation_time"),
        [Some(1_500_000_000_000), Some(1_600_000_000_000)]
    );
    assert_eq!(booleans(&batch, "password_enabled"), [None, Some(true)]);
    assert_eq!(
        texts(&batch, "password_enabled_raw"),
        ["not_supported", "true"]
    );
    assert_eq!(
        timestamps(&batch, "password_last_used"),
        [Some(1_700_000_000_000), Some(1_710_000_000_000)]
    );
    assert_eq!(
        timestamps(&batch, "password_last_changed"),
        [None, Some(1_650_000_000_000)]
    );
    assert_eq!(
        timestamps(&batch, "password_next_rotation"),
        [None, Some(1_720_000_000_000)]
    );
    assert_eq!(booleans(&batch, "mfa_active"), [Some(false), Some(false)]);
    assert_eq!(
        booleans(&batch, "access_key_1_active"),
        [Some(false), Some(true)]
    );
    assert_eq!(
        timestamps(&batch, "access_key_1_last_rotated"),
        [None, Some(1_660_000_000_000)]
    );
    assert_eq!(
        timestamps(&batch, "access_key_1_last_used_date"),
        [None, Some(1_711_000_000_000)]
    );
    assert_eq!(
        strings(&batch, "access_key_1_last_used_region"),
        [None, Some("eu-west-1".to_owned())]
    );
    assert_eq!(
        strings(&batch, "access_key_1_last_used_service"),
        [None, Some("s3".to_owned())]
    );
    assert_eq!(
        booleans(&batch, "access_key_2_active"),
        [Some(false), Some(true)]
    );
    assert_eq!(
        timestamps(&batch, "access_key_2_last_rotated"),
        [None, Some(1_670_000_000_000)]
    );
    assert_eq!(
        timestamps(&batch, "access_key_2_last_used_date"),
        [None, None]
    );
    assert_eq!(
        strings(&batch, "access_key_2_last_used_region"),
        [None, None]
    );
    assert_eq!(
        strings(&batch, "access_key_2_last_used_service"),
        [None, None]
    );
    assert_eq!(booleans(&batch, "cert_1_active"), [Some(false), Some(true)]);
    assert_eq!(
        timestamps(&batch, "cert_1_last_rotated"),
        [None, Some(1_680_000_000_000)]
    );
    assert_eq!(
        booleans(&batch, "cert_2_active"),
        [Some(false), Some(false)]
    );
    assert_eq!(timestamps(&batch, "cert_2_last_rotated"), [None, None]);
}

#[tokio::test]
async fn accounts_round_trip_every_column() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;

    let batch = read_table(&table_path(
        temp.path(),
        Table::Accounts,
        &format!("{SCAN_ID}.parquet"),
    ));

    assert_eq!(batch.num_rows(), 3);
    assert_eq!(texts(&batch, "scan_id"), [SCAN_ID; 3]);
    assert_eq!(
        texts(&batch, "account_id"),
        ["111111111111", "222222222222", "333333333333"]
    );
    assert_eq!(
        texts(&batch, "account_name"),
        ["prod", "staging", "closing"]
    );
    assert_eq!(
        texts(&batch, "account_status"),
        ["ACTIVE", "ACTIVE", "SUSPENDED"]
    );
    assert_eq!(texts(&batch, "outcome"), ["scanned", "failed", "skipped"]);
    assert_eq!(
        strings(&batch, "error_code"),
        [
            None,
            Some("assume_role_denied".to_owned()),
            Some("account_not_active".to_owned())
        ]
    );
    assert_eq!(
        strings(&batch, "error_message"),
        [
            None,
            Some("AccessDenied on AssumeRole".to_owned()),
            Some("account is SUSPENDED".to_owned())
        ]
    );
    assert_eq!(
        timestamps(&batch, "started_at"),
        [
            Some(SCANNED_AT + 1_000),
            Some(SCANNED_AT + 2_000),
            Some(SCANNED_AT + 5_000)
        ]
    );
    assert_eq!(
        timestamps(&batch, "finished_at"),
        [
            Some(SCANNED_AT + 4_000),
            Some(SCANNED_AT + 3_000),
            Some(SCANNED_AT + 5_000)
        ]
    );
    assert_eq!(
        int64s(&batch, "users"),
        [Some(3), None, None],
        "users counts every report row"
    );
    assert_eq!(
        timestamps(&batch, "report_generated_at"),
        [Some(GENERATED_AT), None, None]
    );
}

#[tokio::test]
async fn written_files_carry_table_schemas() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;

    for table in Table::ALL {
        let batch = read_table(&table_path(
            temp.path(),
            table,
            &format!("{SCAN_ID}.parquet"),
        ));
        assert_eq!(batch.schema(), table.schema(), "{table}");
    }
}

#[tokio::test]
async fn empty_scan_writes_every_table_with_its_schema() {
    let temp = tempfile::tempdir().unwrap();
    let store = OutputStore::local(temp.path());

    let writer = ScanWriter::create(&store, &context(None)).unwrap();
    let locations = writer.finish().await.unwrap();

    assert_eq!(locations.len(), 3);
    for table in Table::ALL {
        let path = table_path(temp.path(), table, &format!("{SCAN_ID}.parquet"));
        let file = fs::File::open(&path).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(builder.metadata().file_metadata().num_rows(), 0, "{table}");
        assert_eq!(builder.schema(), &table.schema(), "{table}");
    }
}

#[tokio::test]
async fn timestamps_are_utc_adjusted_millis() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;
    let path = table_path(temp.path(), Table::Accounts, &format!("{SCAN_ID}.parquet"));

    let reader = SerializedFileReader::new(fs::File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr();
    let started_at = schema
        .columns()
        .iter()
        .find(|column| column.name() == "started_at")
        .unwrap();

    assert_eq!(
        started_at.logical_type_ref(),
        Some(&LogicalType::timestamp(true, TimeUnit::MILLIS))
    );
    assert_eq!(started_at.converted_type(), ConvertedType::TIMESTAMP_MILLIS);
}

#[tokio::test]
async fn finish_leaves_no_temp_files() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;

    for table in Table::ALL {
        let dir = temp.path().join(table.name()).join("dt=2024-05-01");
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [format!("{SCAN_ID}.parquet")], "{table}");
    }
}

#[test]
fn abandon_leaves_no_files() {
    let temp = tempfile::tempdir().unwrap();
    let store = OutputStore::local(temp.path());
    let mut writer = ScanWriter::create(&store, &context(None)).unwrap();
    writer.write_account(&scanned_account()).unwrap();

    writer.abandon();

    for table in Table::ALL {
        let dir = temp.path().join(table.name()).join("dt=2024-05-01");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert!(names.is_empty(), "{table}: {names:?}");
    }
}

#[tokio::test]
async fn rerun_with_same_scan_id_keeps_earlier_files() {
    let temp = tempfile::tempdir().unwrap();
    write_sample_scan(temp.path()).await;
    let store = OutputStore::local(temp.path());

    let error = ScanWriter::create(&store, &context(None)).err().unwrap();

    assert!(
        matches!(error, OutputError::AlreadyExists { .. }),
        "{error:?}"
    );
    let batch = read_table(&table_path(
        temp.path(),
        Table::Accounts,
        &format!("{SCAN_ID}.parquet"),
    ));
    assert_eq!(batch.num_rows(), 3);
}

#[tokio::test]
async fn row_groups_stream_at_configured_size() {
    let temp = tempfile::tempdir().unwrap();
    let store = OutputStore::local(temp.path());
    let options = WriterOptions { row_group_rows: 2 };
    let mut writer = ScanWriter::create_with_options(&store, &context(None), &options).unwrap();

    for _ in 0..5 {
        writer.write_account(&skipped_account()).unwrap();
    }
    writer.finish().await.unwrap();

    let path = table_path(temp.path(), Table::Accounts, &format!("{SCAN_ID}.parquet"));
    let reader = SerializedFileReader::new(fs::File::open(path).unwrap()).unwrap();
    let row_groups: Vec<i64> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|group| group.num_rows())
        .collect();
    assert_eq!(row_groups, [2, 2, 1]);
}

#[test]
fn encode_report_rows_writes_parsed_rows() {
    let rows = AccountRows::from_parts(Some(&scanned_report()), &[]);

    let bytes = encode_report_rows(
        Vec::new(),
        SCAN_ID,
        "111111111111",
        &rows,
        &WriterOptions::default(),
    )
    .unwrap();

    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 2);
    assert_eq!(texts(&batches[0], "user"), ["<root_account>", "alice"]);
    assert!(
        batches[0]
            .column_by_name("password_enabled")
            .unwrap()
            .is_null(0)
    );
}
