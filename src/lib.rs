//! orgscan finds, across every account of an AWS Organization, the IAM users
//! who can sign in to the console with a password but have no MFA device, and
//! writes the results as Hive-partitioned Parquet.
//!
//! The modules follow the pipeline, in order:
//!
//! - [`config`]: the TOML file and command-line overrides, validated.
//! - [`aws`]: SDK clients, error classification and bounded retries.
//! - [`org`]: Organizations `ListAccounts` and account selection.
//! - [`credentials`]: `AssumeRole` into each account, with redacted secrets.
//! - [`report`]: credential report download and parsing.
//! - [`controls`]: the verdict for each report row.
//! - [`output`]: Arrow schemas, Parquet writers, atomic publishing.
//! - [`scan`]: the pipeline for one scan.
//! - [`summary`]: the end-of-scan table.
//! - [`evaluate`]: the controls over one saved report, offline.
//! - [`daemon`]: scans on a schedule, with health and metrics endpoints.
//! - [`telemetry`]: logging and metrics.

pub mod aws;
pub mod config;
pub mod controls;
pub mod credentials;
pub mod daemon;
pub mod evaluate;
pub mod org;
pub mod output;
pub mod report;
pub mod scan;
pub mod summary;
pub mod telemetry;
