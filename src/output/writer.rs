//! The Parquet writers of one scan: one file per table, streamed row group
//! by row group, so memory stays flat however many accounts the scan has.

use std::fs::File;
use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use super::OutputError;
use super::columns::{AccountsColumns, CredentialReportColumns, FindingsColumns, TableColumns};
use super::schema::Table;
use super::store::{OutputStore, PendingFile};
use crate::report::CredentialReport;
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
    for column in UNIQUE_TIME_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    builder.build()
}

/// One table's Arrow builders in front of its Parquet writer.
struct TableWriter<C, W: Write + Send> {
    table: Table,
    schema: SchemaRef,
    columns: C,
    writer: ArrowWriter<W>,
    row_group_rows: usize,
    rows_written: u64,
}

impl<C: TableColumns, W: Write + Send> TableWriter<C, W> {
    fn new(
        table: Table,
        columns: C,
        sink: W,
        options: &WriterOptions,
    ) -> Result<Self, OutputError> {
        let schema = table.schema();
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties(options)))
            .map_err(|source| OutputError::Parquet {
            table: table.name(),
            source,
        })?;

        Ok(TableWriter {
            table,
            schema,
            columns,
            writer,
            row_group_rows: options.row_group_rows.max(1),
            rows_written: 0,
        })
    }

    /// Encodes the buffered rows once they fill a row group. Callers append
    /// one account at a time, and IAM allows at most 5,000 users per
    /// account, so a group overshoots the size by at most that many rows.
    fn flush_if_full(&mut self) -> Result<(), OutputError> {
        if self.columns.len() >= self.row_group_rows {
            self.write_buffered()?;
        }
        Ok(())
    }

    fn write_buffered(&mut self) -> Result<(), OutputError> {
        let rows = self.columns.len();
        if rows == 0 {
            return Ok(());
        }

        let table = self.table.name();
        let batch = RecordBatch::try_new(self.schema.clone(), self.columns.finish())
            .map_err(|source| OutputError::Arrow { table, source })?;
        self.writer
            .write(&batch)
            .map_err(|source| OutputError::Parquet { table, source })?;
        self.rows_written += rows as u64;
        Ok(())
    }

    /// Writes the last row group and the footer, and returns the sink. A
    /// table without rows still gets a valid file with its schema.
    fn close(mut self) -> Result<(W, u64), OutputError> {
        self.write_buffered()?;

        let table = self.table.name();
        let sink = self
            .writer
            .into_inner()
            .map_err(|source| OutputError::Parquet { table, source })?;
        Ok((sink, self.rows_written))
    }
}

/// Encodes the parsed rows of one credential report as a complete
/// `credential_report` Parquet file into `sink`, exactly as a scan writes
/// them, and returns the sink. Rows that did not parse are skipped.
pub fn encode_report_rows<W: Write + Send>(
    sink: W,
    scan_id: &str,
    account_id: &str,
    report: &CredentialReport,
    options: &WriterOptions,
) -> Result<W, OutputError> {
    let columns = CredentialReportColumns::new();
    let mut writer = TableWriter::new(Table::CredentialReport, columns, sink, options)?;

    for row in report.rows.iter().flatten() {
        writer
            .columns
            .append(scan_id, account_id, report.generated_at, row);
        writer.flush_if_full()?;
    }

    writer.close().map(|(sink, _)| sink)
}

/// A table's writer and the temporary file it writes to.
struct TableFile<C> {
    writer: TableWriter<C, File>,
    pending: PendingFile,
}

impl<C: TableColumns> TableFile<C> {
    fn create(
        store: &OutputStore,
        ctx: &ScanContext,
        table: Table,
        columns: C,
        options: &WriterOptions,
    ) -> Result<Self, OutputError> {
        let (pending, file) = store.create_file(table, &ctx.dt, &file_name(ctx))?;
        let writer = TableWriter::new(table, columns, file, options)?;
        Ok(TableFile { writer, pending })
    }

    fn after_append(&mut self) -> Result<(), OutputError> {
        self.writer.flush_if_full()?;
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
    findings: TableFile<FindingsColumns>,
    credential_report: TableFile<CredentialReportColumns>,
    accounts: TableFile<AccountsColumns>,
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
        let findings =
            TableFile::create(store, ctx, Table::Findings, FindingsColumns::new(), options)?;
        let credential_report = TableFile::create(
            store,
            ctx,
            Table::CredentialReport,
            CredentialReportColumns::new(),
            options,
        )?;
        let accounts =
            TableFile::create(store, ctx, Table::Accounts, AccountsColumns::new(), options)?;

        Ok(ScanWriter {
            store: store.clone(),
            ctx: ctx.clone(),
            findings,
            credential_report,
            accounts,
        })
    }

    /// Appends one account's rows to the three tables. CPU only, apart from
    /// the local writes of a full row group.
    pub fn write_account(&mut self, scan: &AccountScan) -> Result<(), OutputError> {
        self.findings.writer.columns.append_scan(&self.ctx, scan);
        self.findings.after_append()?;

        self.credential_report
            .writer
            .columns
            .append_scan(&self.ctx, scan);
        self.credential_report.after_append()?;

        self.accounts.writer.columns.append_scan(&self.ctx, scan);
        self.accounts.after_append()
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
            accounts,
        } = self;

        let closed =
            tokio::task::spawn_blocking(move || -> Result<Vec<ClosedFile>, OutputError> {
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
