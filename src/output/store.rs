//! Output roots, and the atomic publishing of finished files.
//!
//! A file is written to a temporary name first and appears under its final
//! name only when complete:
//!
//! - local: `.<file>.tmp` in the final directory, fsynced, then renamed. The
//!   leading dot and the `.tmp` suffix keep it out of the `*.parquet` globs
//!   and hidden-file rules of Hive, Spark, Athena and DuckDB.
//! - S3: a spool file in [`std::env::temp_dir`] (`TMPDIR`), uploaded as one
//!   PUT when small or as a multipart upload otherwise. S3 shows the object
//!   only once the PUT or the upload's completion succeeds.
//!
//! A run that is killed leaves its temporary files behind. They are removed
//! by the next run once they are an hour old: a live writer touches its file
//! every ten minutes, so the sweep never removes a file in use.
//!
//! NOTE: a run killed during a multipart upload leaves the uploaded parts in
//! the bucket, invisible but billed, until a lifecycle rule with
//! `AbortIncompleteMultipartUpload` removes them. orgscan does not list or
//! abort other runs' uploads.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::OutputError;
use super::s3::build_client;
use super::schema::Table;

/// Age after which a temporary file is taken to be left by a killed run.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60 * 60);

/// How often a writer refreshes its temporary file's modification time, well
/// inside [`STALE_TEMP_AGE`] so that no sweep takes a live file for stale.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Name prefix of the spool files of S3 output in the temporary directory.
const SPOOL_PREFIX: &str = ".orgscan-spool-";

/// Name prefix of the local write probe in the output root.
const LOCAL_PROBE_PREFIX: &str = ".orgscan-probe-";

/// Key folder of the S3 write probe, under the output prefix and outside
/// every table's location.
const S3_PROBE_FOLDER: &str = "_orgscan_probe";

/// Upload parts kept in flight at once by one multipart upload.
const MAX_PARTS_IN_FLIGHT: usize = 4;

/// The output root: a local directory or an S3 bucket and key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLocation {
    Local(PathBuf),
    /// `prefix` has no leading or trailing `/` and is empty for the bucket root.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl FromStr for OutputLocation {
    type Err = OutputError;

    /// Parses `s3://bucket`, `s3://bucket/prefix` or a local path. Any other
    /// `scheme://` is rejected.
    fn from_str(value: &str) -> Result<Self, OutputError> {
        let invalid = |reason: String| OutputError::InvalidLocation {
            value: value.to_owned(),
            reason,
        };

        if value.is_empty() {
            return Err(invalid("the value is empty".to_owned()));
        }
        let Some((scheme, rest)) = value.split_once("://") else {
            return Ok(OutputLocation::Local(PathBuf::from(value)));
        };
        if !scheme.eq_ignore_ascii_case("s3") {
            return Err(invalid(format!("the scheme {scheme}:// is not supported")));
        }

        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("the bucket name is missing".to_owned()));
        }
        check_bucket_name(bucket).map_err(invalid)?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            ObjectPath::parse(prefix)
                .map_err(|error| invalid(format!("the key prefix is not valid: {error}")))?;
        }

        Ok(OutputLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// Checks the S3 bucket naming rules that a typo most often breaks: 3 to 63
/// characters of lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit.
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let alphanumeric =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());

    if !(3..=63).contains(&bucket.len()) {
        return Err(format!(
            "the bucket name {bucket:?} must be 3 to 63 characters long"
        ));
    }
    if !bucket.chars().all(allowed) {
        return Err(format!(
            "the bucket name {bucket:?} may contain only lowercase letters, digits, dots and hyphens"
        ));
    }
    if !alphanumeric(bucket.chars().next()) || !alphanumeric(bucket.chars().last()) {
        return Err(format!(
            "the bucket name {bucket:?} must start and end with a letter or digit"
        ));
    }
    Ok(())
}

impl fmt::Display for OutputLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputLocation::Local(path) => write!(f, "{}", path.display()),
            OutputLocation::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            OutputLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Sizes that decide how a file is uploaded to S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOptions {
    /// Files up to this many bytes are uploaded with one PUT, read whole into
    /// memory. Larger files use a multipart upload.
    pub multipart_threshold: u64,
    /// Bytes per multipart part. S3 requires at least 5 MiB for every part but
    /// the last, and allows 10,000 parts.
    pub part_size: usize,
}

impl Default for UploadOptions {
    /// 16 MiB for both, so an upload keeps at most
    /// `16 MiB x MAX_PARTS_IN_FLIGHT` in memory and a file may reach 156 GiB.
    fn default() -> Self {
        UploadOptions {
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
        }
    }
}

/// An open output root that creates temporary files and publishes them.
#[derive(Debug, Clone)]
pub struct OutputStore {
    backend: Backend,
    upload: UploadOptions,
}

#[derive(Debug, Clone)]
enum Backend {
    Local {
        root: PathBuf,
    },
    S3 {
        client: Arc<AmazonS3>,
        bucket: String,
        prefix: String,
    },
}

impl OutputStore {
    /// Opens `location`. An S3 location gets a client that uses the SDK
    /// config's credentials provider, region and endpoint. No request is sent
    /// until [`Self::check_writable`] or a publish.
    pub async fn open(
        location: &OutputLocation,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<Self, OutputError> {
        match location {
            OutputLocation::Local(root) => Ok(Self::local(root.clone())),
            OutputLocation::S3 { bucket, prefix } => {
                let client = build_client(sdk_config, bucket)?;
                let backend = Backend::S3 {
                    client: Arc::new(client),
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                };
                Ok(OutputStore {
                    backend,
                    upload: UploadOptions::default(),
                })
            }
        }
    }

    /// Opens a local output root, which needs no AWS config.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        OutputStore {
            backend: Backend::Local { root: root.into() },
            upload: UploadOptions::default(),
        }
    }

    /// Replaces the S3 upload sizes; local output ignores them.
    pub fn with_upload_options(mut self, upload: UploadOptions) -> Self {
        self.upload = upload;
        self
    }

    /// Returns the root as a user writes it: a path or `s3://bucket/prefix`.
    pub fn location(&self) -> OutputLocation {
        match &self.backend {
            Backend::Local { root } => OutputLocation::Local(root.clone()),
            Backend::S3 { bucket, prefix, .. } => OutputLocation::S3 {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            },
        }
    }

    /// Checks that output can be written, before any AWS scan call, and
    /// removes temporary files that killed runs left more than an hour ago.
    ///
    /// Local: creates the root and one directory per table, sweeps every
    /// `dt=` directory of the tables, then writes and removes a probe file in
    /// the root. S3: sweeps the spool directory and probes it the same way,
    /// then puts and deletes a probe object under `<prefix>/_orgscan_probe/`.
    pub async fn check_writable(&self) -> Result<(), OutputError> {
        match &self.backend {
            Backend::Local { root } => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || check_local_root(&root)).await?
            }
            Backend::S3 {
                client,
                bucket,
                prefix,
            } => {
                tokio::task::spawn_blocking(check_spool_dir).await??;
                check_bucket(client, bucket, prefix).await
            }
        }
    }

    /// Creates the temporary file for `<table>/dt=<dt>/<file_name>` and
    /// returns it with the handle to write into.
    ///
    /// Local output also creates the `dt=` directory and sweeps its stale
    /// temporary files. Fails with [`OutputError::AlreadyExists`] when the
    /// final file exists, because a scan id is never reused.
    pub(crate) fn create_file(
        &self,
        table: Table,
        dt: &str,
        file_name: &str,
    ) -> Result<(PendingFile, File), OutputError> {
        let relative = format!("{table}/dt={dt}/{file_name}");

        let (temp_path, target) = match &self.backend {
            Backend::Local { root } => {
                let dir = root.join(table.name()).join(format!("dt={dt}"));
                fs::create_dir_all(&dir).map_err(|source| {
                    OutputError::io("create the partition directory", &dir, source)
                })?;
                remove_stale_temp_files(&dir, is_partition_temp_file);

                let final_path = dir.join(file_name);
                if final_path.exists() {
                    return Err(OutputError::AlreadyExists {
                        location: final_path.display().to_string(),
                    });
                }
                (
                    dir.join(format!(".{file_name}.tmp")),
                    Target::Local { final_path },
                )
            }
            Backend::S3 { prefix, .. } => {
                let spool =
                    std::env::temp_dir().join(format!("{SPOOL_PREFIX}{table}-{file_name}.tmp"));
                (
                    spool,
                    Target::S3 {
                        key: ObjectPath::from(join_key(prefix, &relative)),
                    },
                )
            }
        };

        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(|source| OutputError::io("create the temporary file", &temp_path, source))?;
        let handle = file
            .try_clone()
            .map_err(|source| OutputError::io("open a second handle to", &temp_path, source))?;

        let pending = PendingFile {
            temp_path,
            target,
            handle: Some(handle),
            last_touched: Instant::now(),
            renamed: false,
        };
        Ok((pending, file))
    }

    /// Publishes a finished temporary file under its final name and returns
    /// that name: a local path or an `s3://` URI.
    pub(crate) async fn publish(
        &self,
        pending: PendingFile,
        file: File,
    ) -> Result<String, OutputError> {
        match &self.backend {
            Backend::Local { .. } => {
                tokio::task::spawn_blocking(move || publish_local(pending, file)).await?
            }
            Backend::S3 { client, bucket, .. } => {
                drop(file);
                let Target::S3 { key } = &pending.target else {
                    unreachable!("an S3 store creates only S3 targets");
                };
                upload(client, self.upload, &pending.temp_path, key)
                    .await
                    .map_err(|source| OutputError::S3 {
                        operation: "upload",
                        bucket: bucket.clone(),
                        key: key.to_string(),
                        source: Box::new(source),
                    })?;
                // Dropping `pending` removes the spool file.
                Ok(format!("s3://{bucket}/{key}"))
            }
        }
    }
}

/// A temporary file on its way to its final name. Dropping it before it is
/// published removes the temporary file, so an abandoned or failed scan
/// leaves nothing behind.
pub(crate) struct PendingFile {
    temp_path: PathBuf,
    target: Target,
    /// A second handle to the file, used to refresh its modification time.
    handle: Option<File>,
    last_touched: Instant,
    /// Set once the temporary file has become the final file.
    renamed: bool,
}

enum Target {
    Local { final_path: PathBuf },
    S3 { key: ObjectPath },
}

impl PendingFile {
    /// Refreshes the file's modification time when [`KEEP_ALIVE_INTERVAL`]
    /// has passed, so that another run's sweep skips it.
    pub(crate) fn keep_alive(&mut self) {
        if self.last_touched.elapsed() < KEEP_ALIVE_INTERVAL {
            return;
        }
        self.last_touched = Instant::now();

        if let Some(handle) = &self.handle
            && let Err(error) = handle.set_modified(SystemTime::now())
        {
            tracing::warn!(path = %self.temp_path.display(), %error, "failed to refresh the temporary file's modification time");
        }
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        self.handle = None;
        if self.renamed {
            return;
        }
        match fs::remove_file(&self.temp_path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %self.temp_path.display(), %error, "failed to remove a temporary output file");
            }
        }
    }
}

fn publish_local(mut pending: PendingFile, file: File) -> Result<String, OutputError> {
    let Target::Local { final_path } = &pending.target else {
        unreachable!("a local store creates only local targets");
    };
    let final_path = final_path.clone();

    file.sync_all()
        .map_err(|source| OutputError::io("flush to disk", &pending.temp_path, source))?;
    drop(file);

    // The scan id in the name makes a clash all but impossible; this check
    // keeps a reused id from replacing an earlier scan's file.
    if final_path.exists() {
        return Err(OutputError::AlreadyExists {
            location: final_path.display().to_string(),
        });
    }
    fs::rename(&pending.temp_path, &final_path)
        .map_err(|source| OutputError::io("rename the temporary file to", &final_path, source))?;
    pending.renamed = true;

    sync_parent_dir(&final_path);
    Ok(final_path.display().to_string())
}

/// Flushes the directory entry of a renamed file to disk. The file is already
/// visible, so a failure only weakens durability after a crash and is logged.
fn sync_parent_dir(path: &Path) {
    let Some(dir) = path.parent() else {
        return;
    };
    if let Err(error) = File::open(dir).and_then(|dir| dir.sync_all()) {
        tracing::warn!(dir = %dir.display(), %error, "failed to flush the output directory to disk");
    }
}

async fn upload(
    client: &AmazonS3,
    options: UploadOptions,
    spool: &Path,
    key: &ObjectPath,
) -> object_store::Result<()> {
    let read_error = |source: std::io::Error| object_store::Error::Generic {
        store: "S3",
        source: format!(
            "failed to read the spool file {}: {source}",
            spool.display()
        )
        .into(),
    };

    let size = tokio::fs::metadata(spool).await.map_err(read_error)?.len();
    if size <= options.multipart_threshold {
        let bytes = tokio::fs::read(spool).await.map_err(read_error)?;
        client.put(key, PutPayload::from(bytes)).await?;
        return Ok(());
    }

    let multipart = client.put_multipart(key).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(multipart, options.part_size);
    match send_parts(&mut writer, spool, options.part_size).await {
        Ok(()) => writer.finish().await.map(|_| ()),
        Err(error) => {
            if let Err(abort_error) = writer.abort().await {
                tracing::warn!(key = %key, error = %abort_error, "failed to abort a multipart upload");
            }
            Err(error)
        }
    }
}

async fn send_parts(
    writer: &mut WriteMultipart,
    spool: &Path,
    part_size: usize,
) -> object_store::Result<()> {
    let read_error = |source: std::io::Error| object_store::Error::Generic {
        store: "S3",
        source: format!(
            "failed to read the spool file {}: {source}",
            spool.display()
        )
        .into(),
    };

    let mut file = tokio::fs::File::open(spool).await.map_err(read_error)?;
    let mut buffer = vec![0; part_size];
    loop {
        writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
        let read = file.read(&mut buffer).await.map_err(read_error)?;
        if read == 0 {
            return Ok(());
        }
        writer.write(&buffer[..read]);
    }
}

fn join_key(prefix: &str, relative: &str) -> String {
    if prefix.is_empty() {
        relative.to_owned()
    } else {
        format!("{prefix}/{relative}")
    }
}

fn check_local_root(root: &Path) -> Result<(), OutputError> {
    fs::create_dir_all(root)
        .map_err(|source| OutputError::io("create the output directory", root, source))?;
    for table in Table::ALL {
        let table_dir = root.join(table.name());
        fs::create_dir_all(&table_dir)
            .map_err(|source| OutputError::io("create the table directory", &table_dir, source))?;
        for partition in partition_dirs(&table_dir) {
            remove_stale_temp_files(&partition, is_partition_temp_file);
        }
    }
    remove_stale_temp_files(root, |name| {
        name.starts_with(LOCAL_PROBE_PREFIX) && name.ends_with(".tmp")
    });

    write_probe_file(root, LOCAL_PROBE_PREFIX)
}

fn check_spool_dir() -> Result<(), OutputError> {
    let spool_dir = std::env::temp_dir();
    remove_stale_temp_files(&spool_dir, |name| {
        name.starts_with(SPOOL_PREFIX) && name.ends_with(".tmp")
    });

    write_probe_file(&spool_dir, SPOOL_PREFIX)
}

/// Writes and removes a small file in `dir`, named so that the sweep removes
/// it should the process die in between.
fn write_probe_file(dir: &Path, prefix: &str) -> Result<(), OutputError> {
    let probe = dir.join(format!("{prefix}{}.tmp", uuid::Uuid::now_v7()));

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|source| OutputError::io("create a probe file in", dir, source))?;
    file.write_all(b"orgscan write probe\n")
        .map_err(|source| OutputError::io("write the probe file", &probe, source))?;
    drop(file);

    fs::remove_file(&probe)
        .map_err(|source| OutputError::io("remove the probe file", &probe, source))
}

async fn check_bucket(client: &AmazonS3, bucket: &str, prefix: &str) -> Result<(), OutputError> {
    let key = ObjectPath::from(join_key(
        prefix,
        &format!("{S3_PROBE_FOLDER}/{}", uuid::Uuid::now_v7()),
    ));
    let s3_error = |operation, source| OutputError::S3 {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_string(),
        source: Box::new(source),
    };

    client
        .put(&key, PutPayload::from_static(b"orgscan write probe\n"))
        .await
        .map_err(|source| s3_error("put the probe object", source))?;
    client
        .delete(&key)
        .await
        .map_err(|source| s3_error("delete the probe object", source))
}

fn is_partition_temp_file(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Lists the `dt=` directories of a table; an unreadable table directory
/// shows up later, when the scan creates its file there.
fn partition_dirs(table_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(table_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("dt="))
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// Removes the files in `dir` whose name matches `is_temp` and that were last
/// modified more than [`STALE_TEMP_AGE`] ago. Failures are logged, not
/// returned: a leftover file harms no reader.
fn remove_stale_temp_files(dir: &Path, is_temp: impl Fn(&str) -> bool) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "failed to list a directory for stale temporary files");
            return;
        }
    };

    let now = SystemTime::now();
    for entry in entries.filter_map(Result::ok) {
        if !is_temp(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let modified = entry.metadata().and_then(|metadata| metadata.modified());
        let is_stale = modified.is_ok_and(|modified| {
            now.duration_since(modified)
                .is_ok_and(|age| age > STALE_TEMP_AGE)
        });
        if !is_stale {
            continue;
        }

        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed a temporary file left by an earlier run")
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "failed to remove a stale temporary file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_location_parses_accepted_forms() {
        let cases = [
            (
                "s3://bucket",
                OutputLocation::S3 {
                    bucket: "bucket".into(),
                    prefix: "".into(),
                },
            ),
            (
                "s3://bucket/",
                OutputLocation::S3 {
                    bucket: "bucket".into(),
                    prefix: "".into(),
                },
            ),
            (
                "s3://bucket/orgscan",
                OutputLocation::S3 {
                    bucket: "bucket".into(),
                    prefix: "orgscan".into(),
                },
            ),
            (
                "s3://my.bucket-1/a/b/",
                OutputLocation::S3 {
                    bucket: "my.bucket-1".into(),
                    prefix: "a/b".into(),
                },
            ),
            (
                "S3://bucket/x",
                OutputLocation::S3 {
                    bucket: "bucket".into(),
                    prefix: "x".into(),
                },
            ),
            (
                "./orgscan-data",
                OutputLocation::Local(PathBuf::from("./orgscan-data")),
            ),
            (
                "/var/lib/orgscan",
                OutputLocation::Local(PathBuf::from("/var/lib/orgscan")),
            ),
            (
                "relative/dir",
                OutputLocation::Local(PathBuf::from("relative/dir")),
            ),
        ];

        for (value, expected) in cases {
            let parsed: OutputLocation = value
                .parse()
                .unwrap_or_else(|error| panic!("{value}: {error}"));
            assert_eq!(parsed, expected, "{value}");
        }
    }

    #[test]
    fn output_location_rejects_invalid_values() {
        let cases = [
            ("", "empty"),
            ("s3://", "bucket name is missing"),
            ("s3:///prefix", "bucket name is missing"),
            ("gs://bucket/prefix", "scheme gs://"),
            ("file:///tmp/out", "scheme file://"),
            ("https://example.com/out", "scheme https://"),
            ("s3://My_Bucket/x", "lowercase letters"),
            ("s3://ab", "3 to 63"),
            ("s3://-bucket", "start and end"),
            ("s3://bucket/a//b", "key prefix"),
        ];

        for (value, reason) in cases {
            let error = value.parse::<OutputLocation>().unwrap_err();
            let message = error.to_string();
            assert!(message.contains(reason), "{value}: {message}");
            assert!(
                message.contains(&format!("{value:?}")),
                "{value}: {message}"
            );
            assert!(
                message.contains("s3://bucket[/prefix]"),
                "{value}: {message}"
            );
        }
    }

    #[test]
    fn output_location_display_round_trips() {
        for value in ["s3://bucket", "s3://bucket/a/b", "/var/lib/orgscan"] {
            let parsed: OutputLocation = value.parse().unwrap();

            assert_eq!(parsed.to_string(), value);
        }
    }

    fn set_age(path: &Path, age: Duration) {
        let file = OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[tokio::test]
    async fn check_writable_creates_root_and_table_dirs() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("new").join("root");
        let store = OutputStore::local(&root);

        store.check_writable().await.unwrap();

        for table in Table::ALL {
            assert!(root.join(table.name()).is_dir(), "{table}");
        }
        let leftovers: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.to_string_lossy().starts_with(LOCAL_PROBE_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn check_writable_fails_when_root_is_a_file() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("plain-file");
        fs::write(&file, b"").unwrap();
        let store = OutputStore::local(file.join("root"));

        let error = store.check_writable().await.unwrap_err();

        assert!(matches!(error, OutputError::Io { .. }), "{error:?}");
        assert!(error.to_string().contains("plain-file"), "{error}");
    }

    #[tokio::test]
    async fn check_writable_removes_only_stale_temp_files() {
        let temp = tempfile::tempdir().unwrap();
        let partition = temp.path().join("findings").join("dt=2024-05-01");
        fs::create_dir_all(&partition).unwrap();
        let stale = partition.join(".old-scan.parquet.tmp");
        let fresh = partition.join(".live-scan.parquet.tmp");
        let published = partition.join("old-scan.parquet");
        for path in [&stale, &fresh, &published] {
            fs::write(path, b"data").unwrap();
        }
        set_age(&stale, Duration::from_secs(2 * 3600));
        set_age(&published, Duration::from_secs(2 * 3600));

        OutputStore::local(temp.path())
            .check_writable()
            .await
            .unwrap();

        assert!(!stale.exists());
        assert!(fresh.exists());
        assert!(published.exists());
    }

    #[test]
    fn create_file_rejects_existing_final_file() {
        let temp = tempfile::tempdir().unwrap();
        let store = OutputStore::local(temp.path());
        let partition = temp.path().join("accounts").join("dt=2024-05-01");
        fs::create_dir_all(&partition).unwrap();
        fs::write(partition.join("scan.parquet"), b"earlier scan").unwrap();

        let error = store
            .create_file(Table::Accounts, "2024-05-01", "scan.parquet")
            .err()
            .unwrap();

        assert!(
            matches!(error, OutputError::AlreadyExists { .. }),
            "{error:?}"
        );
        assert_eq!(
            fs::read(partition.join("scan.parquet")).unwrap(),
            b"earlier scan"
        );
    }

    #[test]
    fn pending_file_drop_removes_temp_file() {
        let temp = tempfile::tempdir().unwrap();
        let store = OutputStore::local(temp.path());

        let (pending, file) = store
            .create_file(Table::Findings, "2024-05-01", "scan.parquet")
            .unwrap();
        let temp_path = pending.temp_path.clone();
        assert!(temp_path.exists());
        drop(file);
        drop(pending);

        assert!(!temp_path.exists());
    }

    #[test]
    fn temp_file_name_is_hidden_from_parquet_globs() {
        let temp = tempfile::tempdir().unwrap();
        let store = OutputStore::local(temp.path());

        let (pending, _file) = store
            .create_file(Table::Findings, "2024-05-01", "scan.parquet")
            .unwrap();
        let name = pending
            .temp_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();

        assert_eq!(name, ".scan.parquet.tmp");
        assert_eq!(
            pending.temp_path.parent().unwrap(),
            temp.path().join("findings").join("dt=2024-05-01")
        );
    }

    #[test]
    fn keep_alive_refreshes_modification_time() {
        let temp = tempfile::tempdir().unwrap();
        let store = OutputStore::local(temp.path());
        let (mut pending, _file) = store
            .create_file(Table::Findings, "2024-05-01", "scan.parquet")
            .unwrap();
        set_age(&pending.temp_path, Duration::from_secs(2 * 3600));
        pending.last_touched = Instant::now() - KEEP_ALIVE_INTERVAL;

        pending.keep_alive();

        let modified = fs::metadata(&pending.temp_path)
            .unwrap()
            .modified()
            .unwrap();
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default();
        assert!(age < Duration::from_secs(60), "{age:?}");
    }

    #[test]
    fn join_key_skips_empty_prefix() {
        assert_eq!(
            join_key("", "findings/dt=2024-05-01/a.parquet"),
            "findings/dt=2024-05-01/a.parquet"
        );
        assert_eq!(join_key("org/scans", "accounts/x"), "org/scans/accounts/x");
    }
}
