//! The credential report CSV parser.
//!
//! Columns are matched by header name, so their order does not matter and
//! unknown columns are ignored. A report-wide problem (empty input, a header
//! that is not text, a missing required column) is a [`ParseError`]. A problem
//! in one row is a [`RowError`] in that row's place, and the rows around it
//! still parse.
//!
//! The parser reads records with [`super::records`] and decodes their fields
//! in place into a [`ReportRowRef`], which allocates nothing. A
//! [`ReportRow`] costs one allocation per owned string.
//! Timestamps of the shape IAM writes (`2024-01-31T09:15:00+00:00`) take a
//! fast path; other ISO 8601 forms go through chrono.

use std::fmt;

use chrono::DateTime;

use super::records::{Record, Records};
use super::{EpochMillis, ReportRow, ReportRowRef};

/// The 22 columns of an IAM credential report, in the order IAM writes them.
pub const STANDARD_COLUMNS: [&str; 22] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

/// Columns without which a row cannot be evaluated. The others become `None`
/// when the header lacks them.
pub const REQUIRED_COLUMNS: [&str; 4] = ["user", "arn", "password_enabled", "mfa_active"];

/// Maximum number of characters of a bad value quoted in an error message.
const MAX_QUOTED_VALUE_CHARS: usize = 64;

/// Maximum number of characters of a bad header quoted in an error message.
const MAX_QUOTED_HEADER_CHARS: usize = 160;

/// A failure that makes the whole report unreadable.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("credential report is empty; expected a CSV header line starting with user,arn")]
    Empty,

    #[error(
        "credential report header on line {line} is not UTF-8 text at column {column}; expected \
         CSV column names such as user,arn,password_enabled,mfa_active (binary data, or base64 \
         content that was not decoded?)"
    )]
    HeaderNotUtf8 { line: u64, column: usize },

    #[error(
        "credential report header on line {line} is missing required column(s) {}; a credential \
         report header has at least user, arn, password_enabled and mfa_active, but this one \
         is {found}",
        .missing.join(", ")
    )]
    MissingColumns {
        line: u64,
        missing: Vec<&'static str>,
        /// The start of the header as read, quoted, for the message.
        found: String,
    },

    #[error(
        "credential report header on line {line} has column {name} twice, at columns {first} \
         and {second}; expected each column once"
    )]
    DuplicateColumn {
        line: u64,
        name: &'static str,
        first: usize,
        second: usize,
    },

}

/// A report row that could not be read, with whatever could be read of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credential report line {line}{}: {message}", UserNote(.user.as_deref()))]
pub struct RowError {
    /// The 1-based line in the report file where the row starts.
    pub line: u64,
    /// The `user` field, when it could be read.
    pub user: Option<String>,
    /// The `arn` field, when it could be read.
    pub arn: Option<String>,
    /// The bad column and value, and what was expected there.
    pub message: String,
}

/// Formats ` (user alice)` for a known user and nothing otherwise.
struct UserNote<'a>(Option<&'a str>);

impl fmt::Display for UserNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(user) => write!(f, " (user {user})"),
            None => Ok(()),
        }
    }
}

/// Parses a whole credential report into rows, in file order.
///
/// # Errors
///
/// Returns a [`ParseError`] when the report as a whole is unreadable; a bad
/// row is an `Err` item in the returned list.
pub fn parse_report(bytes: &[u8]) -> Result<Vec<Result<ReportRow, RowError>>, ParseError> {
    Ok(read_rows(bytes)?.collect())
}

/// Reads the header of a credential report and returns an iterator over its
/// rows, which are decoded one at a time.
///
/// # Errors
///
/// Returns a [`ParseError`] when the header is missing, not text or lacks a
/// required column.
pub fn read_rows(bytes: &[u8]) -> Result<RowIter<'_>, ParseError> {
    let mut records = Records::new(bytes);

    let Some(header) = records.next_record() else {
        return Err(ParseError::Empty);
    };
    let columns = ColumnIndexes::from_header(&header, header.line())?;
    let header_len = header.len();

    Ok(RowIter {
        records,
        columns,
        header_len,
    })
}

/// Rows of a credential report, decoded one at a time; see [`read_rows`].
pub struct RowIter<'a> {
    records: Records<'a>,
    columns: ColumnIndexes,
    header_len: usize,
}

impl fmt::Debug for RowIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowIter")
            .field("header_len", &self.header_len)
            .finish_non_exhaustive()
    }
}

impl RowIter<'_> {
    /// Reads the next row without copying its text: the returned row
    /// borrows the report, or the reader's buffer for a row with quotes,
    /// until the next call. `None` at the end.
    pub fn next_row_ref(&mut self) -> Option<Result<ReportRowRef<'_>, RowError>> {
        let record = self.records.next_record()?;
        Some(decode_row(record, &self.columns, self.header_len))
    }
}

impl Iterator for RowIter<'_> {
    type Item = Result<ReportRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row_ref()
            .map(|row| row.map(|row| row.to_report_row()))
    }
}

/// One of the 22 standard columns, as an index into [`STANDARD_COLUMNS`].
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
enum Column {
    User,
    Arn,
    UserCreationTime,
    PasswordEnabled,
    PasswordLastUsed,
    PasswordLastChanged,
    PasswordNextRotation,
    MfaActive,
    AccessKey1Active,
    AccessKey1LastRotated,
    AccessKey1LastUsedDate,
    AccessKey1LastUsedRegion,
    AccessKey1LastUsedService,
    AccessKey2Active,
    AccessKey2LastRotated,
    AccessKey2LastUsedDate,
    AccessKey2LastUsedRegion,
    AccessKey2LastUsedService,
    Cert1Active,
    Cert1LastRotated,
    Cert2Active,
    Cert2LastRotated,
}

impl Column {
    fn name(self) -> &'static str {
        STANDARD_COLUMNS[self as usize]
    }
}

/// Position of each standard column in the file, `None` when the header lacks it.
#[derive(Debug, Clone)]
struct ColumnIndexes([Option<usize>; STANDARD_COLUMNS.len()]);

impl ColumnIndexes {
    fn from_header(header: &Record<'_>, line: u64) -> Result<Self, ParseError> {
        if header.is_empty() {
            return Err(ParseError::Empty);
        }

        let mut indexes = [None; STANDARD_COLUMNS.len()];
        for (index, raw_name) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw_name)
                .map_err(|_| ParseError::HeaderNotUtf8 {
                    line,
                    column: index + 1,
                })?
                .trim();
            let Some(standard) = STANDARD_COLUMNS
                .iter()
                .position(|standard| standard.eq_ignore_ascii_case(name))
            else {
                continue;
            };
            if let Some(first) = indexes[standard] {
                return Err(ParseError::DuplicateColumn {
                    line,
                    name: STANDARD_COLUMNS[standard],
                    first: first + 1,
                    second: index + 1,
                });
            }
            indexes[standard] = Some(index);
        }

        let missing: Vec<&'static str> = REQUIRED_COLUMNS
            .into_iter()
            .filter(|required| {
                let standard = STANDARD_COLUMNS.iter().position(|name| name == required);
                standard.is_some_and(|standard| indexes[standard].is_none())
            })
            .collect();
        if !missing.is_empty() {
            return Err(ParseError::MissingColumns {
                line,
                missing,
                found: quote_header(header),
            });
        }

        Ok(Self(indexes))
    }

    /// Returns the raw field of `column` in `record`, or `None` when the
    /// header lacks the column or the row is too short to have it.
    fn field<'r>(&self, record: &Record<'r>, column: Column) -> Option<&'r [u8]> {
        self.0[column as usize].and_then(|index| record.get(index))
    }

    /// Returns the field of `column` as text, or its bytes when they are not
    /// UTF-8; `None` as [`Self::field`] does.
    fn text<'r>(&self, record: &Record<'r>, column: Column) -> Option<Result<&'r str, &'r [u8]>> {
        self.0[column as usize].and_then(|index| record.get_text(index))
    }
}

/// A bad field, before it is tied to its row.
struct FieldError {
    column: Column,
    value: String,
    expected: &'static str,
}

impl FieldError {
    fn new(column: Column, raw: &[u8], expected: &'static str) -> Self {
        Self {
            column,
            value: quote_value(raw),
            expected,
        }
    }

    fn into_message(self) -> String {
        format!(
            "invalid value {} in column {}; expected {}",
            self.value,
            self.column.name(),
            self.expected
        )
    }
}

const EXPECTED_TIMESTAMP: &str = "an ISO 8601 timestamp with an offset such as 2024-01-31T09:15:00+00:00, N/A, \
     not_supported or no_information";
const EXPECTED_BOOLEAN: &str = "true, false, N/A, not_supported or no_information";
const EXPECTED_TEXT: &str = "UTF-8 text";

/// Decodes one record into a row, or into an error naming its line, user and ARN.
fn decode_row<'r>(
    record: Record<'r>,
    columns: &ColumnIndexes,
    header_len: usize,
) -> Result<ReportRowRef<'r>, RowError> {
    let line = record.line();
    let user = columns
        .text(&record, Column::User)
        .and_then(Result::ok);
    let arn = columns
        .text(&record, Column::Arn)
        .and_then(Result::ok);
    let row_error = |message: String| RowError {
        line,
        user: user.filter(|user| !user.is_empty()).map(str::to_owned),
        arn: arn.filter(|arn| !arn.is_empty()).map(str::to_owned),
        message,
    };

    if record.len() != header_len {
        return Err(row_error(format!(
            "row has {} fields but the header has {header_len}; the row may be truncated or \
             contain an unquoted comma",
            record.len()
        )));
    }

    decode_fields(&record, columns).map_err(|err| row_error(err.into_message()))
}

fn decode_fields<'r>(
    record: &Record<'r>,
    columns: &ColumnIndexes,
) -> Result<ReportRowRef<'r>, FieldError> {
    let field = |column: Column| columns.field(record, column);
    let timestamp = |column: Column| decode_timestamp(column, field(column));
    let boolean = |column: Column| decode_boolean(column, field(column));
    let text = |column: Column| columns.text(record, column);
    let optional_text = |column: Column| decode_optional_text(column, text(column));

    Ok(ReportRowRef {
        user: decode_required_text(Column::User, text(Column::User))?,
        arn: decode_required_text(Column::Arn, text(Column::Arn))?,
        user_creation_time: timestamp(Column::UserCreationTime)?,
        password_enabled_raw: decode_text(Column::PasswordEnabled, text(Column::PasswordEnabled))?,
        password_enabled: boolean(Column::PasswordEnabled)?,
        password_last_used: timestamp(Column::PasswordLastUsed)?,
        password_last_changed: timestamp(Column::PasswordLastChanged)?,
        password_next_rotation: timestamp(Column::PasswordNextRotation)?,
        mfa_active: boolean(Column::MfaActive)?,
        access_key_1_active: boolean(Column::AccessKey1Active)?,
        access_key_1_last_rotated: timestamp(Column::AccessKey1LastRotated)?,
        access_key_1_last_used_date: timestamp(Column::AccessKey1LastUsedDate)?,
        access_key_1_last_used_region: optional_text(Column::AccessKey1LastUsedRegion)?,
        access_key_1_last_used_service: optional_text(Column::AccessKey1LastUsedService)?,
        access_key_2_active: boolean(Column::AccessKey2Active)?,
        access_key_2_last_rotated: timestamp(Column::AccessKey2LastRotated)?,
        access_key_2_last_used_date: timestamp(Column::AccessKey2LastUsedDate)?,
        access_key_2_last_used_region: optional_text(Column::AccessKey2LastUsedRegion)?,
        access_key_2_last_used_service: optional_text(Column::AccessKey2LastUsedService)?,
        cert_1_active: boolean(Column::Cert1Active)?,
        cert_1_last_rotated: timestamp(Column::Cert1LastRotated)?,
        cert_2_active: boolean(Column::Cert2Active)?,
        cert_2_last_rotated: timestamp(Column::Cert2LastRotated)?,
    })
}

/// Tells whether a field is one of IAM's markers for "no value". An empty
/// field counts as one too, because nothing else can be read from it.
fn is_no_value(raw: &[u8]) -> bool {
    matches!(raw, b"" | b"N/A" | b"not_supported" | b"no_information")
}

fn decode_required_text<'r>(
    column: Column,
    field: Option<Result<&'r str, &'r [u8]>>,
) -> Result<&'r str, FieldError> {
    let text = decode_text(column, field)?;
    if text.is_empty() {
        return Err(FieldError::new(column, b"", "a non-empty value"));
    }
    Ok(text)
}

/// Returns a text field; a missing field reads as empty.
fn decode_text<'r>(
    column: Column,
    field: Option<Result<&'r str, &'r [u8]>>,
) -> Result<&'r str, FieldError> {
    match field {
        None => Ok(""),
        Some(Ok(text)) => Ok(text),
        Some(Err(raw)) => Err(FieldError::new(column, raw, EXPECTED_TEXT)),
    }
}

fn decode_optional_text<'r>(
    column: Column,
    field: Option<Result<&'r str, &'r [u8]>>,
) -> Result<Option<&'r str>, FieldError> {
    match field {
        None | Some(Ok("" | "N/A")) => Ok(None),
        field => decode_text(column, field).map(Some),
    }
}

fn decode_boolean(column: Column, raw: Option<&[u8]>) -> Result<Option<bool>, FieldError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match raw {
        b"true" | b"TRUE" => Ok(Some(true)),
        b"false" | b"FALSE" => Ok(Some(false)),
        _ if is_no_value(raw) => Ok(None),
        _ if raw.eq_ignore_ascii_case(b"true") => Ok(Some(true)),
        _ if raw.eq_ignore_ascii_case(b"false") => Ok(Some(false)),
        _ => Err(FieldError::new(column, raw, EXPECTED_BOOLEAN)),
    }
}

fn decode_timestamp(column: Column, raw: Option<&[u8]>) -> Result<Option<EpochMillis>, FieldError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if is_no_value(raw) {
        return Ok(None);
    }
    parse_timestamp(raw)
        .map(Some)
        .ok_or_else(|| FieldError::new(column, raw, EXPECTED_TIMESTAMP))
}

/// Parses an ISO 8601 timestamp with an offset into UTC epoch milliseconds.
///
/// The shapes IAM writes, `YYYY-MM-DDTHH:MM:SS+00:00` and `...Z`, are read
/// directly. Anything else goes through chrono's RFC 3339 parser, and then
/// through its `%z` parser for offsets without a colon such as `+0000`.
pub fn parse_timestamp(raw: &[u8]) -> Option<EpochMillis> {
    if let Some(millis) = parse_utc_fixed(raw) {
        return Some(millis);
    }

    let text = std::str::from_utf8(raw).ok()?.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|timestamp| timestamp.timestamp_millis())
}

/// Reads `YYYY-MM-DDTHH:MM:SS+00:00` or `YYYY-MM-DDTHH:MM:SSZ` without a
/// general parser; `None` for any other shape or an impossible date.
fn parse_utc_fixed(raw: &[u8]) -> Option<EpochMillis> {
    let utc_suffix = match raw.len() {
        25 => &raw[19..] == b"+00:00",
        20 => raw[19] == b'Z',
        _ => false,
    };
    if !utc_suffix {
        return None;
    }
    let separators =
        raw[4] == b'-' && raw[7] == b'-' && raw[10] == b'T' && raw[13] == b':' && raw[16] == b':';
    if !separators {
        return None;
    }

    let year = parse_digits(&raw[0..4])?;
    let month = parse_digits(&raw[5..7])?;
    let day = parse_digits(&raw[8..10])?;
    let hour = parse_digits(&raw[11..13])?;
    let minute = parse_digits(&raw[14..16])?;
    let second = parse_digits(&raw[17..19])?;

    // A leap second (second 60) is left to chrono.
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let seconds = days * 86_400 + i64::from(hour * 3_600 + minute * 60 + second);
    Some(seconds * 1_000)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar,
/// counted in 400-year eras of 146,097 days that start on March 1st, so the
/// leap day falls at the end of each year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn parse_digits(raw: &[u8]) -> Option<u32> {
    raw.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// Quotes a raw value for an error message, cut to a readable length.
fn quote_value(raw: &[u8]) -> String {
    quote_cut(&String::from_utf8_lossy(raw), MAX_QUOTED_VALUE_CHARS)
}

/// Quotes a header for an error message, its fields joined by commas.
fn quote_header(header: &Record<'_>) -> String {
    let fields: Vec<_> = header.iter().map(String::from_utf8_lossy).collect();
    quote_cut(&fields.join(","), MAX_QUOTED_HEADER_CHARS)
}

fn quote_cut(text: &str, max_chars: usize) -> String {
    let mut cut: String = text.chars().take(max_chars).collect();
    if text.chars().nth(max_chars).is_some() {
        cut.push_str("...");
    }
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,\
password_last_changed,password_next_rotation,mfa_active,access_key_1_active,\
access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,\
access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,\
access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,\
cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    const ROOT_ROW: &str = "<root_account>,arn:aws:iam::111122223333:root,\
2019-03-04T17:21:05+00:00,not_supported,2024-05-01T08:00:12+00:00,not_supported,\
not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A";

    const NO_PASSWORD_ROW: &str = "svc-deploy,arn:aws:iam::111122223333:user/svc-deploy,\
2021-06-10T12:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-02T03:04:05+00:00,\
2024-05-30T22:10:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A";

    const NO_INFORMATION_ROW: &str = "bob,arn:aws:iam::111122223333:user/bob,\
2022-02-14T09:30:00+00:00,true,no_information,2022-02-14T09:31:00+00:00,N/A,false,false,\
N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A";

    const TEAM_ROW: &str = "alice,arn:aws:iam::111122223333:user/team/alice,\
2020-01-15T10:00:00+00:00,true,2024-06-01T07:45:30+00:00,2023-12-01T00:00:00+00:00,\
2024-05-31T00:00:00+00:00,true,true,2023-12-01T00:00:00+00:00,2024-06-01T07:50:00+00:00,\
eu-west-1,iam,true,2024-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A";

    const NA_ROW: &str = "carol,arn:aws:iam::111122223333:user/carol,N/A,N/A,N/A,N/A,N/A,\
N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A";

    fn report(lines: &[&str]) -> String {
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    fn parse_ok(text: &str) -> Vec<ReportRow> {
        parse_report(text.as_bytes())
            .expect("report parses")
            .into_iter()
            .map(|row| row.expect("row parses"))
            .collect()
    }

    fn single_row(row: &str) -> ReportRow {
        let mut rows = parse_ok(&report(&[HEADER, row]));
        assert_eq!(rows.len(), 1);
        rows.remove(0)
    }

    fn single_row_error(row: &str) -> RowError {
        let mut rows = parse_report(report(&[HEADER, row]).as_bytes()).expect("report parses");
        assert_eq!(rows.len(), 1);
        rows.remove(0).expect_err("row is rejected")
    }

    #[test]
    fn root_row_not_supported_is_none() {
        let row = single_row(ROOT_ROW);

        assert_eq!(row.user, "<root_account>");
        assert!(row.is_root());
        assert_eq!(row.arn, "arn:aws:iam::111122223333:root");
        assert_eq!(row.user_creation_time, Some(1_551_720_065_000));
        assert_eq!(row.password_enabled_raw, "not_supported");
        assert_eq!(row.password_enabled, None);
        assert_eq!(row.password_last_used, Some(1_714_550_412_000));
        assert_eq!(row.password_last_changed, None);
        assert_eq!(row.password_next_rotation, None);
        assert_eq!(row.mfa_active, Some(false));
        assert_eq!(row.access_key_1_active, Some(false));
        assert_eq!(row.access_key_1_last_used_region, None);
        assert_eq!(row.cert_2_last_rotated, None);
    }

    #[test]
    fn user_without_password() {
        let row = single_row(NO_PASSWORD_ROW);

        assert_eq!(row.user, "svc-deploy");
        assert_eq!(row.password_enabled_raw, "false");
        assert_eq!(row.password_enabled, Some(false));
        assert_eq!(row.password_last_used, None);
        assert_eq!(row.user_creation_time, Some(1_623_326_400_000));
        assert_eq!(row.access_key_1_active, Some(true));
        assert_eq!(
            row.access_key_1_last_used_region.as_deref(),
            Some("us-east-1")
        );
        assert_eq!(row.access_key_1_last_used_service.as_deref(), Some("s3"));
        assert_eq!(row.access_key_2_last_used_service, None);
    }

    #[test]
    fn no_information_is_none() {
        let row = single_row(NO_INFORMATION_ROW);

        assert_eq!(row.password_enabled, Some(true));
        assert_eq!(row.password_last_used, None);
        assert!(row.password_last_changed.is_some());
    }

    #[test]
    fn na_everywhere_is_none() {
        let row = single_row(NA_ROW);

        let expected = ReportRow {
            user: "carol".to_owned(),
            arn: "arn:aws:iam::111122223333:user/carol".to_owned(),
            user_creation_time: None,
            password_enabled_raw: "N/A".to_owned(),
            password_enabled: None,
            password_last_used: None,
            password_last_changed: None,
            password_next_rotation: None,
            mfa_active: None,
            access_key_1_active: None,
            access_key_1_last_rotated: None,
            access_key_1_last_used_date: None,
            access_key_1_last_used_region: None,
            access_key_1_last_used_service: None,
            access_key_2_active: None,
            access_key_2_last_rotated: None,
            access_key_2_last_used_date: None,
            access_key_2_last_used_region: None,
            access_key_2_last_used_service: None,
            cert_1_active: None,
            cert_1_last_rotated: None,
            cert_2_active: None,
            cert_2_last_rotated: None,
        };
        assert_eq!(row, expected);
    }

    #[test]
    fn booleans_any_case() {
        let cases: &[(&str, Option<bool>)] = &[
            ("true", Some(true)),
            ("TRUE", Some(true)),
            ("True", Some(true)),
            ("false", Some(false)),
            ("FALSE", Some(false)),
            ("N/A", None),
            ("not_supported", None),
            ("no_information", None),
        ];
        for &(value, expected) in cases {
            let row = NO_INFORMATION_ROW.replacen(
                ",true,no_information,",
                &format!(",{value},no_information,"),
                1,
            );
            let parsed = single_row(&row);
            assert_eq!(
                parsed.password_enabled, expected,
                "password_enabled {value}"
            );
            assert_eq!(
                parsed.password_enabled_raw, value,
                "password_enabled_raw {value}"
            );
        }
    }

    #[test]
    fn upper_case_boolean_row() {
        let row = TEAM_ROW
            .replace(",true,", ",TRUE,")
            .replace(",false,", ",FALSE,");
        let parsed = single_row(&row);

        assert_eq!(parsed.password_enabled, Some(true));
        assert_eq!(parsed.password_enabled_raw, "TRUE");
        assert_eq!(parsed.mfa_active, Some(true));
        assert_eq!(parsed.access_key_2_active, Some(true));
        assert_eq!(parsed.cert_1_active, Some(false));
    }

    #[test]
    fn timestamp_forms() {
        let cases: &[(&str, Option<EpochMillis>)] = &[
            ("2024-06-01T07:45:30+00:00", Some(1_717_227_930_000)),
            ("2024-06-01T07:45:30Z", Some(1_717_227_930_000)),
            ("2024-06-01T09:45:30+02:00", Some(1_717_227_930_000)),
            ("2024-06-01T02:45:30-05:00", Some(1_717_227_930_000)),
            ("2024-06-01T07:45:30.250+00:00", Some(1_717_227_930_250)),
            ("2024-06-01T07:45:30.250Z", Some(1_717_227_930_250)),
            ("2024-06-01T07:45:30+0000", Some(1_717_227_930_000)),
            ("1970-01-01T00:00:00+00:00", Some(0)),
            ("2024-02-29T23:59:59+00:00", Some(1_709_251_199_000)),
            ("2023-02-29T00:00:00+00:00", None),
            ("2024-13-01T00:00:00+00:00", None),
            ("2024-06-01T24:00:00+00:00", None),
            ("2024-06-01 07:45", None),
            ("2024-06-01T07:45:30", None),
            ("yesterday", None),
            ("", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(
                parse_timestamp(text.as_bytes()),
                expected,
                "timestamp {text:?}"
            );
        }
    }

    #[test]
    fn fast_path_matches_chrono() {
        let samples = [
            "2024-06-01T07:45:30+00:00",
            "2024-06-01T07:45:30Z",
            "1999-12-31T23:59:59+00:00",
            "2000-02-29T12:00:00Z",
            "2100-03-01T00:00:00+00:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59Z",
        ];
        for text in samples {
            let chrono_millis = DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_millis())
                .ok();
            assert_eq!(
                parse_utc_fixed(text.as_bytes()),
                chrono_millis,
                "timestamp {text}"
            );
        }
    }

    #[test]
    fn header_only_gives_no_rows() {
        assert!(parse_ok(HEADER).is_empty());
        assert!(parse_ok(&report(&[HEADER])).is_empty());
    }

    #[test]
    fn bom_and_crlf() {
        let text = format!("\u{feff}{HEADER}\r\n{ROOT_ROW}\r\n{TEAM_ROW}\r\n");
        let rows = parse_ok(&text);

        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user, "<root_account>");
        assert_eq!(rows[1].user, "alice");
        assert_eq!(rows[1].cert_2_last_rotated, None);
        assert_eq!(
            rows[1].access_key_1_last_used_service.as_deref(),
            Some("iam")
        );
    }

    #[test]
    fn bare_cr_line_numbers() {
        let text = format!("{HEADER}\r{ROOT_ROW}\r\rbroken,row\r{TEAM_ROW}\r");
        let rows = parse_report(text.as_bytes()).expect("report parses");

        assert_eq!(rows.len(), 3);
        assert!(rows[0].is_ok());
        assert_eq!(rows[1].as_ref().expect_err("short row").line, 4);
        assert!(rows[2].is_ok());
    }

    #[test]
    fn columns_in_another_order() {
        let header = "mfa_active,password_enabled,arn,user,password_last_used";
        let text = report(&[
            header,
            "false,true,arn:aws:iam::111122223333:user/dave,dave,2024-06-01T07:45:30Z",
        ]);
        let rows = parse_ok(&text);

        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].user, "dave");
        assert_eq!(rows[0].arn, "arn:aws:iam::111122223333:user/dave");
        assert_eq!(rows[0].password_enabled, Some(true));
        assert_eq!(rows[0].mfa_active, Some(false));
        assert_eq!(rows[0].password_last_used, Some(1_717_227_930_000));
        assert_eq!(rows[0].user_creation_time, None);
        assert_eq!(rows[0].access_key_1_active, None);
    }

    #[test]
    fn unknown_extra_column_ignored() {
        let header = format!("{HEADER},console_sign_in_url");
        let row = format!("{TEAM_ROW},https://example.invalid/console");
        let rows = parse_ok(&report(&[&header, &row]));

        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].user, "alice");
        assert_eq!(rows[0].mfa_active, Some(true));
    }

    #[test]
    fn missing_required_column() {
        let header = HEADER
            .replace(",mfa_active,", ",")
            .replacen("user,arn,", "user,", 1);
        let err = parse_report(report(&[&header]).as_bytes()).expect_err("header is rejected");

        let ParseError::MissingColumns { line, missing, .. } = &err else {
            panic!("unexpected error: {err}");
        };
        assert_eq!(*line, 1);
        assert_eq!(missing, &["arn", "mfa_active"]);
        let message = err.to_string();
        assert!(message.contains("arn, mfa_active"), "{message}");
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn duplicate_column() {
        let header = format!("{HEADER},mfa_active");
        let err = parse_report(header.as_bytes()).expect_err("header is rejected");

        assert!(
            matches!(
                err,
                ParseError::DuplicateColumn {
                    name: "mfa_active",
                    first: 8,
                    second: 23,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn empty_input() {
        for text in ["", "\u{feff}", "\n\n", "\r\n"] {
            let err = parse_report(text.as_bytes()).expect_err("empty report is rejected");
            assert!(matches!(err, ParseError::Empty), "{text:?}: {err}");
        }
    }

    #[test]
    fn binary_garbage_header() {
        let garbage: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe";
        let err = parse_report(garbage).expect_err("garbage is rejected");

        assert!(
            matches!(err, ParseError::HeaderNotUtf8 { line: 1, column: 1 }),
            "{err}"
        );
        assert!(err.to_string().contains("not UTF-8"));
    }

    #[test]
    fn base64_content_rejected() {
        // The base64 text of a report, as the API sends it before decoding.
        let err = parse_report(b"dXNlcixhcm4sdXNlcl9jcmVhdGlvbl90aW1l\n").expect_err("rejected");

        assert!(matches!(err, ParseError::MissingColumns { .. }), "{err}");
        assert!(err.to_string().contains("dXNlcixhcm4s"), "{err}");
    }

    #[test]
    fn wrong_field_count_keeps_other_rows() {
        let short_row = "erin,arn:aws:iam::111122223333:user/erin,2021-06-10T12:00:00+00:00,true";
        let text = report(&[HEADER, ROOT_ROW, short_row, TEAM_ROW]);
        let rows = parse_report(text.as_bytes()).expect("report parses");

        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].as_ref().map(|row| row.user.as_str()),
            Ok("<root_account>")
        );
        assert_eq!(rows[2].as_ref().map(|row| row.user.as_str()), Ok("alice"));

        let err = rows[1].as_ref().expect_err("short row is rejected");
        assert_eq!(err.line, 3);
        assert_eq!(err.user.as_deref(), Some("erin"));
        assert_eq!(
            err.arn.as_deref(),
            Some("arn:aws:iam::111122223333:user/erin")
        );
        assert!(err.message.contains("4 fields"), "{}", err.message);
        assert!(err.message.contains("22"), "{}", err.message);
    }

    #[test]
    fn truncated_last_row() {
        let cut = &TEAM_ROW[..TEAM_ROW.len() / 2];
        let text = format!("{HEADER}\n{ROOT_ROW}\n{cut}");
        let rows = parse_report(text.as_bytes()).expect("report parses");

        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_ok());
        let err = rows[1].as_ref().expect_err("truncated row is rejected");
        assert_eq!(err.line, 3);
        assert_eq!(err.user.as_deref(), Some("alice"));
    }

    #[test]
    fn invalid_values_name_column() {
        let cases: &[(&str, &str, &str)] = &[
            (
                ",true,2024-06-01T07:45:30+00:00,",
                ",maybe,2024-06-01T07:45:30+00:00,",
                "password_enabled",
            ),
            (
                ",2024-06-01T07:45:30+00:00,2023-12-01",
                ",2024-02-30T07:45:30+00:00,2023-12-01",
                "password_last_used",
            ),
            (
                "2024-05-31T00:00:00+00:00,true,",
                "2024-05-31T00:00:00+00:00,yes,",
                "mfa_active",
            ),
            (
                "true,2023-12-01T00:00:00+00:00,2024-06-01T07:50",
                "true,2023-12-01,2024-06-01T07:50",
                "access_key_1_last_rotated",
            ),
            (
                ",false,N/A,false,N/A",
                ",nope,N/A,false,N/A",
                "cert_1_active",
            ),
        ];
        for &(from, to, column) in cases {
            let row = TEAM_ROW.replacen(from, to, 1);
            assert_ne!(row, TEAM_ROW, "case {column} changes the row");
            let err = single_row_error(&row);
            assert_eq!(err.line, 2, "{column}");
            assert_eq!(err.user.as_deref(), Some("alice"), "{column}");
            assert!(err.message.contains(column), "{column}: {}", err.message);
        }
    }

    #[test]
    fn region_not_utf8() {
        let mut text = report(&[HEADER]).into_bytes();
        text.extend_from_slice(&TEAM_ROW.as_bytes()[..TEAM_ROW.find("eu-west-1").unwrap()]);
        text.extend_from_slice(b"\xff\xfe");
        text.extend_from_slice(&TEAM_ROW.as_bytes()[TEAM_ROW.find(",iam,").unwrap()..]);
        let rows = parse_report(&text).expect("report parses");

        let err = rows[0].as_ref().expect_err("row is rejected");
        assert!(
            err.message.contains("access_key_1_last_used_region"),
            "{}",
            err.message
        );
        assert!(err.message.contains("UTF-8"), "{}", err.message);
    }

    #[test]
    fn empty_user_rejected() {
        let err = single_row_error(&TEAM_ROW.replacen("alice,", ",", 1));

        assert_eq!(err.user, None);
        assert_eq!(
            err.arn.as_deref(),
            Some("arn:aws:iam::111122223333:user/team/alice")
        );
        assert!(err.message.contains("column user"), "{}", err.message);
    }

    #[test]
    fn user_under_path() {
        let row = single_row(TEAM_ROW);

        assert_eq!(row.user, "alice");
        assert_eq!(row.arn, "arn:aws:iam::111122223333:user/team/alice");
        assert_eq!(row.password_enabled, Some(true));
        assert_eq!(row.mfa_active, Some(true));
        assert_eq!(row.password_last_used, Some(1_717_227_930_000));
        assert_eq!(row.user_creation_time, Some(1_579_082_400_000));
    }

    #[test]
    fn quoted_field_with_newline_keeps_line_numbers() {
        let quoted = TEAM_ROW.replacen("eu-west-1", "\"eu-west-1\nextra\"", 1);
        let text = report(&[HEADER, &quoted, "bad,row"]);
        let rows = parse_report(text.as_bytes()).expect("report parses");

        assert_eq!(rows.len(), 2);
        let first = rows[0].as_ref().expect("quoted row parses");
        assert_eq!(
            first.access_key_1_last_used_region.as_deref(),
            Some("eu-west-1\nextra")
        );
        assert_eq!(rows[1].as_ref().expect_err("short row").line, 4);
    }

    #[test]
    fn blank_lines_keep_line_numbers() {
        for newline in ["\n", "\r\n"] {
            let text = [
                HEADER,
                "",
                ROOT_ROW,
                "",
                "",
                "frank,arn",
                TEAM_ROW,
                "",
                "bad,row",
            ]
            .join(newline);
            let rows = parse_report(text.as_bytes()).expect("report parses");

            assert_eq!(rows.len(), 4, "{newline:?}");
            assert!(rows[0].is_ok(), "{newline:?}");
            assert_eq!(
                rows[1].as_ref().expect_err("short row").line,
                6,
                "{newline:?}"
            );
            assert!(rows[2].is_ok(), "{newline:?}");
            assert_eq!(
                rows[3].as_ref().expect_err("short row").line,
                9,
                "{newline:?}"
            );
        }
    }

    #[test]
    fn header_after_blank_lines() {
        let err = parse_report(b"\n\nuser,arn\n").expect_err("header is rejected");

        assert!(
            matches!(err, ParseError::MissingColumns { line: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn row_error_display() {
        let err = RowError {
            line: 7,
            user: Some("alice".to_owned()),
            arn: None,
            message: "invalid value \"yes\" in column mfa_active".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "credential report line 7 (user alice): invalid value \"yes\" in column mfa_active"
        );

        let anonymous = RowError { user: None, ..err };
        assert_eq!(
            anonymous.to_string(),
            "credential report line 7: invalid value \"yes\" in column mfa_active"
        );
    }

    #[test]
    fn long_value_cut_in_message() {
        let long_value = "x".repeat(500);
        let err = single_row_error(&TEAM_ROW.replacen(
            ",true,2024-06-01",
            &format!(",{long_value},2024-06-01"),
            1,
        ));

        assert!(err.message.len() < 300, "{}", err.message);
        assert!(err.message.contains("..."), "{}", err.message);
    }

    #[test]
    fn read_rows_streams() {
        let text = report(&[HEADER, ROOT_ROW, NO_PASSWORD_ROW, TEAM_ROW]);
        let users: Vec<String> = read_rows(text.as_bytes())
            .expect("header parses")
            .map(|row| row.expect("row parses").user)
            .collect();

        assert_eq!(users, ["<root_account>", "svc-deploy", "alice"]);
    }

    #[test]
    fn fixed_timestamps_match_chrono_daily() {
        let mut date = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(2200, 12, 31).unwrap();
        while date <= end {
            let text = format!("{}T23:59:58+00:00", date.format("%Y-%m-%d"));
            let expected = date.and_hms_opt(23, 59, 58).unwrap().and_utc().timestamp_millis();
            assert_eq!(parse_utc_fixed(text.as_bytes()), Some(expected), "{text}");
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn fixed_timestamps_reject_impossible_dates() {
        for text in [
            "2023-02-29T00:00:00+00:00",
            "2100-02-29T00:00:00+00:00",
            "2024-04-31T00:00:00+00:00",
            "2024-13-01T00:00:00+00:00",
            "2024-00-10T00:00:00+00:00",
            "2024-01-00T00:00:00+00:00",
            "2024-01-01T24:00:00+00:00",
            "2024-01-01T00:60:00+00:00",
        ] {
            assert_eq!(parse_utc_fixed(text.as_bytes()), None, "{text}");
        }
        assert!(parse_utc_fixed(b"2000-02-29T00:00:00Z").is_some());
    }
}
