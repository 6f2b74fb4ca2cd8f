//! S3 output against moto on 127.0.0.1: the write probe, single-PUT and
//! multipart publishing, abandoning, and reading the tables back.
//!
//! Each test starts its own moto server and fails, never skips, when
//! python3 (or `$PYTHON`) with moto and boto3 is missing.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use orgscan::controls::{Finding, Status};
use orgscan::org::Account;
use orgscan::output::store::UploadOptions;
use orgscan::output::{AccountRows, OutputError, OutputLocation, OutputStore, ScanWriter, TABLES};
use orgscan::report::{CredentialReport, ReportRow};
use orgscan::scan::{AccountError, AccountScan, Outcome, ScanContext};

const REGION: &str = "us-east-1";
const BUCKET: &str = "orgscan-output";
const PREFIX: &str = "org/scans";
const DT: &str = "2024-05-01";

/// Time moto gets to import and bind its port.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Smallest multipart part moto accepts in these tests, lowered from S3's
/// 5 MiB so that a multipart upload of a few dozen KiB has several parts.
const MOTO_MIN_PART_SIZE: usize = 16 * 1024;

/// Python interpreter for moto and boto3: `$PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

const INSTALL_HINT: &str =
    "python3 (or $PYTHON) with moto and boto3 is required: pip install -r tests/support/requirements.txt";

/// A moto server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
    log: tempfile::NamedTempFile,
}

impl Moto {
    fn start() -> Moto {
        let probe = Command::new(python())
            .args(["-c", "import moto, boto3"])
            .output();
        match probe {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "{INSTALL_HINT}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => panic!("failed to run {}: {error}; {INSTALL_HINT}", python()),
        }

        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("S3_UPLOAD_PART_MIN_SIZE", MOTO_MIN_PART_SIZE.to_string())
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start moto: {error}; {INSTALL_HINT}"));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };

        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto exited with {status}; {INSTALL_HINT}\n{}",
                    moto.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto did not listen within {MOTO_START_TIMEOUT:?}\n{}",
                moto.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn create_bucket(&self) {
        let script = format!(
            "import boto3; boto3.client('s3', endpoint_url='{}', region_name='{REGION}', \
             aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket='{BUCKET}')",
            self.endpoint
        );
        let output = Command::new(python())
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "create_bucket failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Builds the SDK config orgscan would load: dummy keys and this endpoint.
    fn sdk_config(&self) -> SdkConfig {
        let credentials = Credentials::new("testing", "testing", None, None, "tests");
        SdkConfig::builder()
            .region(Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .endpoint_url(&self.endpoint)
            .build()
    }

    /// Builds a separate client for the test's own reads.
    fn client(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region(REGION)
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails when a per-service endpoint would send the writer elsewhere than moto.
fn assert_no_s3_endpoint_override() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_S3").is_none(),
        "unset AWS_ENDPOINT_URL_S3: it would take precedence over the moto endpoint"
    );
}

fn context() -> ScanContext {
    ScanContext {
        scan_id: uuid::Uuid::now_v7().to_string(),
        scanned_at: 1_714_550_400_000,
        dt: DT.to_owned(),
        shard: None,
    }
}

fn user_row(account_id: &str, index: usize) -> ReportRow {
    ReportRow {
        user: format!("user-{index:05}"),
        arn: format!("arn:aws:iam::{account_id}:user/user-{index:05}"),
        user_creation_time: Some(1_600_000_000_000 + index as i64),
        password_enabled_raw: "true".to_owned(),
        password_enabled: Some(true),
        password_last_used: Some(1_700_000_000_000 + index as i64),
        password_last_changed: None,
        password_next_rotation: None,
        mfa_active: Some(index.is_multiple_of(2)),
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

fn scanned_account(account_id: &str, users: usize) -> AccountScan {
    let rows: Vec<ReportRow> = (0..users)
        .map(|index| user_row(account_id, index))
        .collect();
    let findings: Vec<Finding> = rows
        .iter()
        .map(|row| Finding {
            control_id: "cis_v120_1_2".to_owned(),
            resource: row.arn.clone(),
            user_name: row.user.clone(),
            status: if row.mfa_active == Some(true) {
                Status::Ok
            } else {
                Status::Alarm
            },
            reason: format!("{} has a console password", row.user),
        })
        .collect();

    AccountScan {
        account: Account {
            id: account_id.to_owned(),
            name: format!("account {account_id}"),
            status: "ACTIVE".to_owned(),
        },
        outcome: Outcome::Scanned,
        error: None,
        started_at: 1_714_550_401_000,
        finished_at: 1_714_550_402_000,
        rows: AccountRows::from_parts(
            Some(&CredentialReport {
                generated_at: Some(1_714_546_800_000),
                rows: rows.into_iter().map(Ok).collect(),
            }),
            &findings,
        ),
    }
}

fn failed_account(account_id: &str) -> AccountScan {
    AccountScan {
        account: Account {
            id: account_id.to_owned(),
            name: "broken".to_owned(),
            status: "ACTIVE".to_owned(),
        },
        outcome: Outcome::Failed,
        error: Some(AccountError {
            code: "assume_role_denied",
            message: "AccessDenied".to_owned(),
        }),
        started_at: 1_714_550_401_000,
        finished_at: 1_714_550_401_500,
        rows: AccountRows::default(),
    }
}

fn object_key(table: &str, ctx: &ScanContext) -> String {
    format!("{PREFIX}/{table}/dt={DT}/{}.parquet", ctx.scan_id)
}

async fn read_object(client: &AmazonS3, key: &str) -> RecordBatch {
    let bytes = client
        .get(&ObjectPath::from(key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

async fn list_keys(client: &AmazonS3, prefix: &str) -> Vec<String> {
    let objects: Vec<_> = client
        .list(Some(&ObjectPath::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    objects
        .into_iter()
        .map(|object| object.location.to_string())
        .collect()
}

/// Spool files of this scan left in the temporary directory.
fn spool_files(ctx: &ScanContext) -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().contains(&ctx.scan_id))
        .collect()
}

async fn open_store(moto: &Moto) -> OutputStore {
    let location: OutputLocation = format!("s3://{BUCKET}/{PREFIX}").parse().unwrap();
    OutputStore::open(&location, &moto.sdk_config())
        .await
        .unwrap()
}

#[tokio::test]
async fn s3_check_writable_removes_probe_object() {
    assert_no_s3_endpoint_override();
    let moto = Moto::start();
    moto.create_bucket();
    let store = open_store(&moto).await;

    store.check_writable().await.unwrap();

    assert_eq!(
        list_keys(&moto.client(), PREFIX).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn s3_check_writable_fails_for_missing_bucket() {
    assert_no_s3_endpoint_override();
    let moto = Moto::start();
    let store = open_store(&moto).await;

    let error = store.check_writable().await.unwrap_err();

    assert!(matches!(error, OutputError::S3 { .. }), "{error:?}");
    assert!(error.to_string().contains(BUCKET), "{error}");
}

#[tokio::test]
async fn s3_scan_publishes_tables_readable_back() {
    assert_no_s3_endpoint_override();
    let moto = Moto::start();
    moto.create_bucket();
    let store = open_store(&moto).await;
    let ctx = context();

    let mut writer = ScanWriter::create(&store, &ctx).unwrap();
    writer
        .write_account(&scanned_account("111111111111", 2))
        .unwrap();
    writer
        .write_account(&failed_account("222222222222"))
        .unwrap();
    let locations = writer.finish().await.unwrap();

    let expected: Vec<String> = TABLES
        .iter()
        .map(|table| format!("s3://{BUCKET}/{}", object_key(table, &ctx)))
        .collect();
    assert_eq!(locations, expected);
    let client = moto.client();
    let findings = read_object(&client, &object_key("findings", &ctx)).await;
    let report = read_object(&client, &object_key("credential_report", &ctx)).await;
    let accounts = read_object(&client, &object_key("accounts", &ctx)).await;
    assert_eq!(findings.num_rows(), 2);
    assert_eq!(report.num_rows(), 2);
    assert_eq!(accounts.num_rows(), 2);
    let outcomes: Vec<Option<&str>> = accounts
        .column_by_name("outcome")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .collect();
    assert_eq!(outcomes, [Some("scanned"), Some("failed")]);
    let users: Vec<Option<&str>> = report
        .column_by_name("user")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .collect();
    assert_eq!(users, [Some("user-00000"), Some("user-00001")]);
    assert_eq!(spool_files(&ctx), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn s3_empty_scan_publishes_every_table() {
    assert_no_s3_endpoint_override();
    let moto = Moto::start();
    moto.create_bucket();
    let store = open_store(&moto).await;
    let ctx = context();

    ScanWriter::create(&store, &ctx)
        .unwrap()
        .finish()
        .await
        .unwrap();

    let client = moto.client();
    for table in TABLES {
        let meta = client
            .head(&ObjectPath::from(object_key(table, &ctx)))
            .await;
        assert!(meta.is_ok(), "{table}: {meta:?}");
    }
}

#[tokio::test]
async fn s3_multipart_upload_publishes_large_file() {
    assert_no_s3_endpoint_override();
    let moto = Moto::start();
    moto.create_bucket();
    let upload = UploadOptions {
        multipart_threshold: MOTO_MIN_PART_SIZE as u64,
        part_size: MOTO_MIN_PART_SIZE,
    };
    let store = open_store(&moto).await.with_upload_options(upload);
    let ctx = context();
    let accounts = 20;
    let users_per_account = 500;

    let mut writer = ScanWriter::create(&store, &ctx).unwrap();
    for index in 0..accounts {
        writer
            .write_account(&scanned_account(
                &format!("{:012}", 100_000 + index),
                users_per_account,
            ))
            .unwrap();
    }
    writer.finish().await.unwrap();

    let client = moto.client();
    let key = object_key("credential_report", &ctx);
    let meta = client.head(&ObjectPath::from(key.as_str())).await.unwrap();
    assert!(
        meta.size > 2 * MOTO_MIN_PART_SIZE as u64,
        "file of {} bytes is too small to need several parts",
        meta.size
    );
    // S3 and moto give a multipart object the ETag `"<md5 of part md5s>-<parts>"`.
    let parts = meta
        .e_tag
        .as_deref()
        .and_then(|tag| tag.trim_matches('"').split_once('-'))
        .map(|(_, parts)| parts.to_owned());
    let expected_parts = meta.size.div_ceil(MOTO_MIN_PART_SIZE as u64).to_string();
    assert_eq!(
        parts.as_deref(),
        Some(expected_parts.as_str()),
        "ETag {:?}",
        meta.e_tag
    );
    let report = read_object(&client, &key).await;
    assert_eq!(report.num_rows(), accounts * users_per_account);
    assert_eq!(spool_files(&ctx), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn s3_abandon_uploads_nothing() {
    assert_no_s3_endpoint_override();
    let moto = Moto::start();
    moto.create_bucket();
    let store = open_store(&moto).await;
    let ctx = context();

    let mut writer = ScanWriter::create(&store, &ctx).unwrap();
    writer
        .write_account(&scanned_account("111111111111", 3))
        .unwrap();
    writer.abandon();

    assert_eq!(
        list_keys(&moto.client(), PREFIX).await,
        Vec::<String>::new()
    );
    assert_eq!(spool_files(&ctx), Vec::<PathBuf>::new());
}
