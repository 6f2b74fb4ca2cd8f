//! The Parquet writers of one scan: one file per table, streamed row group
//! by row group, so memory stays flat however many accounts the scan has.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, TimestampMillisecondArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use super::OutputError;
use super::columns::{AccountRows, AccountsColumns};
use super::schema::Table;
use super::store::{OutputStore, PendingFile};
use crate::report::EpochMillis;
use crate::scan::{AccountScan, ScanContext};

/// Rows per Parquet row group unless [`WriterOptions`] sets another number.
///
/// A writer buffers at most about one group per table. Synthetic report rows
/// with random names and timestamps encode to about 68 bytes each (1,000,000
/// rows through [`encode_report_rows`]), so a `credential_report` group is
/// about 4.5 MB, which readers fetch in a few requests.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

/// Tuning of the Parquet writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Rows buffered per table before they are encoded as one row group.
    pub row_group_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
        }
    }
}

/// Returns the name of a scan's file in every table: `<scan_id>.parquet`, or
/// `<scan_id>-shard-<i>-of-<n>.parquet` for one shard of a sharded scan.
pub fn file_name(ctx: &ScanContext) -> String {
    match ctx.shard {
        None => format!("{}.parquet", ctx.scan_id),
        Some((index, count)) => format!("{}-shard-{index}-of-{count}.parquet", ctx.scan_id),
    }
}

/// Columns whose values are unique, or nearly, per row. A dictionary never
/// pays off for them, and min/max statistics of long unique strings cost a
/// comparison per value and prune nothing, so both are off.
const UNIQUE_TEXT_COLUMNS: [&str; 5] = ["arn", "user", "resource", "user_name", "reason"];

/// Text columns with few distinct values that no query prunes by: they keep
/// their dictionary, but their min/max statistics would only cost a
/// comparison per value.
const UNPRUNED_TEXT_COLUMNS: [&str; 8] = [
    "account_name",
    "control_id",
    "status",
    "password_enabled_raw",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
];

/// Timestamp columns of the `credential_report` table, nearly unique per
/// row: no dictionary, but their statistics are cheap and prune by date.
const UNIQUE_TIME_COLUMNS: [&str; 10] = [
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

/// Parquet settings shared by every file: Snappy and version 1.0 data pages,
/// which every reader in use (Athena, Hive, Spark, Trino, DuckDB, pyarrow)
/// decodes. `benches/report_pipeline.rs` measures what the per-column
/// settings save.
fn writer_properties(options: &WriterOptions) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_max_row_group_row_count(Some(options.row_group_rows.max(1)));
    for column in UNIQUE_TEXT_COLUMNS {
        let path = ColumnPath::from(column);
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    for column in UNPRUNED_TEXT_COLUMNS {
        builder =
            builder.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    for column in UNIQUE_TIME_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    builder.build()
}

/// One table's Parquet writer, fed with record batches.
///
/// The `ArrowWriter` encodes each batch into the open row group at once and
/// closes the group when it reaches the row limit, so a table keeps at most
/// one encoded row group in memory.
struct TableWriter<W: Write + Send> {
    table: Table,
    schema: SchemaRef,
    writer: ArrowWriter<W>,
    rows_written: u64,
}

impl<W: Write + Send> TableWriter<W> {
    fn new(table: Table, sink: W, options: &WriterOptions) -> Result<Self, OutputError> {
        let schema = table.schema();
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties(options)))
            .map_err(|source| OutputError::Parquet {
            table: table.name(),
            source,
        })?;

        Ok(TableWriter {
            table,
            schema,
            writer,
            rows_written: 0,
        })
    }

    /// Writes one batch whose columns follow the table's schema.
    fn write_columns(&mut self, columns: Vec<ArrayRef>) -> Result<(), OutputError> {
        let table = self.table.name();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|source| OutputError::Arrow { table, source })?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.writer
            .write(&batch)
            .map_err(|source| OutputError::Parquet { table, source })?;
        self.rows_written += batch.num_rows() as u64;
        Ok(())
    }

    /// Writes the last row group and the footer, and returns the sink. A
    /// table without rows still gets a valid file with its schema.
    fn close(self) -> Result<(W, u64), OutputError> {
        let table = self.table.name();
        let sink = self
            .writer
            .into_inner()
            .map_err(|source| OutputError::Parquet { table, source })?;
        Ok((sink, self.rows_written))
    }
}

/// Returns a `Utf8` column of `rows` copies of `value`.
fn repeated_text(value: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::new_repeated(value, rows))
}

/// Returns a UTC timestamp column of `rows` copies of `value`, or of nulls.
fn repeated_timestamp(value: Option<EpochMillis>, rows: usize) -> ArrayRef {
    let array = match value {
        Some(value) => TimestampMillisecondArray::from_value(value, rows),
        None => TimestampMillisecondArray::new_null(rows),
    };
    Arc::new(array.with_timezone("UTC"))
}

/// Returns the `credential_report` columns of one account's rows: the scan
/// and account columns, then the report's own.
fn credential_report_columns(
    scan_id: &str,
    account_id: &str,
    rows: &AccountRows,
) -> Vec<ArrayRef> {
    let count = rows.report_rows;
    let mut columns = Vec::with_capacity(3 + rows.report.len());
    columns.push(repeated_text(scan_id, count));
    columns.push(repeated_text(account_id, count));
    columns.push(repeated_timestamp(rows.generated_at, count));
    columns.extend(rows.report.iter().cloned());
    columns
}

/// Returns the `findings` columns of one account's rows.
fn findings_columns(ctx: &ScanContext, scan: &AccountScan) -> Vec<ArrayRef> {
    let rows = &scan.rows;
    let count = rows.finding_rows;
    let mut columns = Vec::with_capacity(5 + rows.findings.len());
    columns.push(repeated_text(&ctx.scan_id, count));
    columns.push(repeated_timestamp(Some(ctx.scanned_at), count));
    columns.push(repeated_text(&scan.account.id, count));
    columns.push(repeated_text(&scan.account.name, count));
    columns.extend(rows.findings.iter().cloned());
    columns.push(repeated_timestamp(rows.generated_at, count));
    columns
}

/// Encodes one account's report rows as a complete `credential_report`
/// Parquet file into `sink`, exactly as a scan writes them, and returns the
/// sink.
pub fn encode_report_rows<W: Write + Send>(
    sink: W,
    scan_id: &str,
    account_id: &str,
    rows: &AccountRows,
    options: &WriterOptions,
) -> Result<W, OutputError> {
    let mut writer = TableWriter::new(Table::CredentialReport, sink, options)?;
    if rows.report_rows > 0 {
        writer.write_columns(credential_report_columns(scan_id, account_id, rows))?;
    }
    writer.close().map(|(sink, _)| sink)
}

/// A table's writer and the temporary file it writes to.
struct TableFile {
    writer: TableWriter<File>,
    pending: PendingFile,
}

impl TableFile {
    fn create(
        store: &OutputStore,
        ctx: &ScanContext,
        table: Table,
        options: &WriterOptions,
    ) -> Result<Self, OutputError> {
        let (pending, file) = store.create_file(table, &ctx.dt, &file_name(ctx))?;
        let writer = TableWriter::new(table, file, options)?;
        Ok(TableFile { writer, pending })
    }

    fn write_columns(&mut self, columns: Vec<ArrayRef>) -> Result<(), OutputError> {
        self.writer.write_columns(columns)?;
        self.pending.keep_alive();
        Ok(())
    }

    fn close(self) -> Result<ClosedFile, OutputError> {
        let table = self.writer.table;
        let (file, rows) = self.writer.close()?;
        Ok(ClosedFile {
            table,
            pending: self.pending,
            file,
            rows,
        })
    }
}

struct ClosedFile {
    table: Table,
    pending: PendingFile,
    file: File,
    rows: u64,
}

/// The three table files of one scan, from creation to publication.
///
/// Call [`Self::write_account`] once per account, then [`Self::finish`] to
/// publish, or [`Self::abandon`] to discard. After an error, abandon: the
/// files may be incomplete. Dropping the writer also discards its files.
pub struct ScanWriter {
    store: OutputStore,
    ctx: ScanContext,
    row_group_rows: usize,
    findings: TableFile,
    credential_report: TableFile,
    accounts: TableFile,
    /// The `accounts` rows not yet written: one per account, so they are
    /// buffered up to a row group rather than written one by one.
    account_rows: AccountsColumns,
}

impl ScanWriter {
    /// Creates the three temporary files with the default options.
    pub fn create(store: &OutputStore, ctx: &ScanContext) -> Result<Self, OutputError> {
        Self::create_with_options(store, ctx, &WriterOptions::default())
    }

    /// Creates the three temporary files.
    pub fn create_with_options(
        store: &OutputStore,
        ctx: &ScanContext,
        options: &WriterOptions,
    ) -> Result<Self, OutputError> {
        let findings = TableFile::create(store, ctx, Table::Findings, options)?;
        let credential_report = TableFile::create(store, ctx, Table::CredentialReport, options)?;
        let accounts = TableFile::create(store, ctx, Table::Accounts, options)?;

        Ok(ScanWriter {
            store: store.clone(),
            ctx: ctx.clone(),
            row_group_rows: options.row_group_rows.max(1),
            findings,
            credential_report,
            accounts,
            account_rows: AccountsColumns::new(),
        })
    }

    /// Appends one account's rows to the three tables. CPU only, apart from
    /// the local writes of a full row group.
    pub fn write_account(&mut self, scan: &AccountScan) -> Result<(), OutputError> {
        if scan.rows.finding_rows > 0 {
            self.findings
                .write_columns(findings_columns(&self.ctx, scan))?;
        }
        if scan.rows.report_rows > 0 {
            self.credential_report
                .write_columns(credential_report_columns(
                    &self.ctx.scan_id,
                    &scan.account.id,
                    &scan.rows,
                ))?;
        }

        self.account_rows.append_scan(&self.ctx, scan);
        if self.account_rows.len() >= self.row_group_rows {
            let columns = self.account_rows.finish();
            self.accounts.write_columns(columns)?;
        }
        Ok(())
    }

    /// Closes the three files and publishes each, `accounts` last, and
    /// returns the published locations in [`super::TABLES`] order.
    ///
    /// When a publish fails, the files published before it stay and the rest
    /// are removed.
    pub async fn finish(self) -> Result<Vec<String>, OutputError> {
        let ScanWriter {
            store,
            ctx,
            findings,
            credential_report,
            mut accounts,
            mut account_rows,
            ..
        } = self;

        let closed =
            tokio::task::spawn_blocking(move || -> Result<Vec<ClosedFile>, OutputError> {
                accounts.write_columns(account_rows.finish())?;
                Ok(vec![
                    findings.close()?,
                    credential_report.close()?,
                    accounts.close()?,
                ])
            })
            .await??;

        let mut locations = Vec::with_capacity(closed.len());
        for ClosedFile {
            table,
            pending,
            file,
            rows,
        } in closed
        {
            let location = store.publish(pending, file).await?;
            tracing::debug!(scan_id = %ctx.scan_id, %table, rows, %location, "published output file");
            locations.push(location);
        }
        Ok(locations)
    }

/// Removes the temporary files without publishing anything.
    pub fn abandon(self) {
        // `PendingFile`'s drop removes each temporary file.
        drop(self);
    }
}

#[cfg(test)]
mod tests;
