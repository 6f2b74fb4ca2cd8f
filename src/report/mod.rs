//! The IAM credential report: typed rows, the CSV parser and the calls that
//! generate and download a report.
//!
//! `parse` turns report bytes into [`ReportRow`]s; `fetch` drives
//! `GenerateCredentialReport` and `GetCredentialReport` for one account.

pub mod fetch;
pub mod parse;

pub use parse::{ParseError, RowError, parse_report};

/// Milliseconds since the Unix epoch, UTC.
pub type EpochMillis = i64;

/// The user name IAM gives the root user's row.
pub const ROOT_USER: &str = "<root_account>";

/// One typed row of a credential report.
///
/// Timestamps are `None` where the report has `N/A`, `not_supported` or
/// `no_information`; booleans are `None` where the report has no boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub user: String,
    pub arn: String,
    pub user_creation_time: Option<EpochMillis>,
    /// The raw `password_enabled` value (`true`, `false`, `not_supported`, ...),
    /// kept because `not_supported` on the root row is not `false`.
    pub password_enabled_raw: String,
    pub password_enabled: Option<bool>,
    pub password_last_used: Option<EpochMillis>,
    pub password_last_changed: Option<EpochMillis>,
    pub password_next_rotation: Option<EpochMillis>,
    pub mfa_active: Option<bool>,
    pub access_key_1_active: Option<bool>,
    pub access_key_1_last_rotated: Option<EpochMillis>,
    pub access_key_1_last_used_date: Option<EpochMillis>,
    pub access_key_1_last_used_region: Option<String>,
    pub access_key_1_last_used_service: Option<String>,
    pub access_key_2_active: Option<bool>,
    pub access_key_2_last_rotated: Option<EpochMillis>,
    pub access_key_2_last_used_date: Option<EpochMillis>,
    pub access_key_2_last_used_region: Option<String>,
    pub access_key_2_last_used_service: Option<String>,
    pub cert_1_active: Option<bool>,
    pub cert_1_last_rotated: Option<EpochMillis>,
    pub cert_2_active: Option<bool>,
    pub cert_2_last_rotated: Option<EpochMillis>,
}

impl ReportRow {
    /// Tells whether this is the root user's row.
    pub fn is_root(&self) -> bool {
        self.user == ROOT_USER
    }
}

/// A downloaded and parsed credential report of one account.
#[derive(Debug, Clone, Default)]
pub struct CredentialReport {
    /// `GeneratedTime` from `GetCredentialReport`.
    pub generated_at: Option<EpochMillis>,
    /// Every data row in file order. A row that could not be read is an error
    /// that names its line, and the rows around it are kept.
    pub rows: Vec<Result<ReportRow, RowError>>,
}
