//! The IAM credential report: typed rows, the CSV parser and the calls that
//! generate and download a report.
//!
//! `parse` turns report bytes into [`ReportRow`]s; `fetch` drives
//! `GenerateCredentialReport` and `GetCredentialReport` for one account.

pub mod fetch;
pub mod parse;
pub mod records;

pub use parse::{ParseError, RowError, parse_report, read_rows};

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

    /// Borrows the row as a [`ReportRowRef`].
    pub fn as_row_ref(&self) -> ReportRowRef<'_> {
        ReportRowRef {
            user: &self.user,
            arn: &self.arn,
            user_creation_time: self.user_creation_time,
            password_enabled_raw: &self.password_enabled_raw,
            password_enabled: self.password_enabled,
            password_last_used: self.password_last_used,
            password_last_changed: self.password_last_changed,
            password_next_rotation: self.password_next_rotation,
            mfa_active: self.mfa_active,
            access_key_1_active: self.access_key_1_active,
            access_key_1_last_rotated: self.access_key_1_last_rotated,
            access_key_1_last_used_date: self.access_key_1_last_used_date,
            access_key_1_last_used_region: self.access_key_1_last_used_region.as_deref(),
            access_key_1_last_used_service: self.access_key_1_last_used_service.as_deref(),
            access_key_2_active: self.access_key_2_active,
            access_key_2_last_rotated: self.access_key_2_last_rotated,
            access_key_2_last_used_date: self.access_key_2_last_used_date,
            access_key_2_last_used_region: self.access_key_2_last_used_region.as_deref(),
            access_key_2_last_used_service: self.access_key_2_last_used_service.as_deref(),
            cert_1_active: self.cert_1_active,
            cert_1_last_rotated: self.cert_1_last_rotated,
            cert_2_active: self.cert_2_active,
            cert_2_last_rotated: self.cert_2_last_rotated,
        }
    }
}

/// A [`ReportRow`] whose text borrows from the report being read, so that
/// reading a row allocates nothing. A scan evaluates and writes these rows
/// straight from the parser's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRowRef<'a> {
    pub user: &'a str,
    pub arn: &'a str,
    pub user_creation_time: Option<EpochMillis>,
    pub password_enabled_raw: &'a str,
    pub password_enabled: Option<bool>,
    pub password_last_used: Option<EpochMillis>,
    pub password_last_changed: Option<EpochMillis>,
    pub password_next_rotation: Option<EpochMillis>,
    pub mfa_active: Option<bool>,
    pub access_key_1_active: Option<bool>,
    pub access_key_1_last_rotated: Option<EpochMillis>,
    pub access_key_1_last_used_date: Option<EpochMillis>,
    pub access_key_1_last_used_region: Option<&'a str>,
    pub access_key_1_last_used_service: Option<&'a str>,
    pub access_key_2_active: Option<bool>,
    pub access_key_2_last_rotated: Option<EpochMillis>,
    pub access_key_2_last_used_date: Option<EpochMillis>,
    pub access_key_2_last_used_region: Option<&'a str>,
    pub access_key_2_last_used_service: Option<&'a str>,
    pub cert_1_active: Option<bool>,
    pub cert_1_last_rotated: Option<EpochMillis>,
    pub cert_2_active: Option<bool>,
    pub cert_2_last_rotated: Option<EpochMillis>,
}

impl ReportRowRef<'_> {
    /// Tells whether this is the root user's row.
    pub fn is_root(&self) -> bool {
        self.user == ROOT_USER
    }

    /// Copies the row into an owned [`ReportRow`].
    pub fn to_report_row(&self) -> ReportRow {
        ReportRow {
            user: self.user.to_owned(),
            arn: self.arn.to_owned(),
            user_creation_time: self.user_creation_time,
            password_enabled_raw: self.password_enabled_raw.to_owned(),
            password_enabled: self.password_enabled,
            password_last_used: self.password_last_used,
            password_last_changed: self.password_last_changed,
            password_next_rotation: self.password_next_rotation,
            mfa_active: self.mfa_active,
            access_key_1_active: self.access_key_1_active,
            access_key_1_last_rotated: self.access_key_1_last_rotated,
            access_key_1_last_used_date: self.access_key_1_last_used_date,
            access_key_1_last_used_region: self.access_key_1_last_used_region.map(str::to_owned),
            access_key_1_last_used_service: self.access_key_1_last_used_service.map(str::to_owned),
            access_key_2_active: self.access_key_2_active,
            access_key_2_last_rotated: self.access_key_2_last_rotated,
            access_key_2_last_used_date: self.access_key_2_last_used_date,
            access_key_2_last_used_region: self.access_key_2_last_used_region.map(str::to_owned),
            access_key_2_last_used_service: self.access_key_2_last_used_service.map(str::to_owned),
            cert_1_active: self.cert_1_active,
            cert_1_last_rotated: self.cert_1_last_rotated,
            cert_2_active: self.cert_2_active,
            cert_2_last_rotated: self.cert_2_last_rotated,
        }
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
