//! Output: the three tables as Hive-partitioned Parquet on local disk or S3.
//!
//! - `schema`: one Arrow schema per table.
//! - `columns`: each account's rows as Arrow columns, and the `accounts` builders.
//! - `writer`: streams the rows into Parquet row groups in a temporary file.
//! - `store`: publishes each finished file under its final name, atomically.
//! - `s3`: the `object_store` client, signed with the AWS SDK's credentials.
//! - `athena`: the DDL for Athena.

pub mod athena;
mod columns;
mod s3;
pub mod schema;
pub mod store;
pub mod writer;

use std::io;
use std::path::PathBuf;

pub use athena::athena_ddl;
pub use schema::{TABLES, Table, accounts_schema, credential_report_schema, findings_schema};
pub use store::{OutputLocation, OutputStore};
pub use columns::AccountRows;
pub use writer::{ScanWriter, WriterOptions, encode_report_rows};

/// An error of the output stage. Each variant names the file, object or
/// value involved; the underlying error is its `source()`.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "invalid output location {value:?}: {reason}; expected a local directory path or s3://bucket[/prefix]"
    )]
    InvalidLocation { value: String, reason: String },

    #[error("failed to {operation} {}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("output file {location} already exists; a scan id must not be reused")]
    AlreadyExists { location: String },

    #[error("failed to build a record batch for table {table}")]
    Arrow {
        table: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error("failed to encode Parquet for table {table}")]
    Parquet {
        table: &'static str,
        #[source]
        source: parquet::errors::ParquetError,
    },

    #[error(
        "no AWS region is configured for the S3 output bucket {bucket}; set AWS_REGION or a profile region"
    )]
    MissingRegion { bucket: String },

    #[error("no AWS credentials provider is configured for the S3 output bucket {bucket}")]
    MissingCredentials { bucket: String },

    #[error("failed to configure the S3 client for bucket {bucket}")]
    S3Config {
        bucket: String,
        #[source]
        source: Box<object_store::Error>,
    },

    #[error("failed to {operation} s3://{bucket}/{key}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },

    #[error("a blocking output task failed to complete")]
    Task(#[from] tokio::task::JoinError),
}

impl OutputError {
    fn io(operation: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        OutputError::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}
