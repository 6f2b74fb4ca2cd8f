//! Arrow columns of the three tables.
//!
//! [`AccountRows`] contains what one account adds to the `findings` and
//! `credential_report` tables, as finished Arrow arrays without the scan and
//! account columns, which are the same on every row of an account and which
//! the writer adds. A scan builds it in the account's own task, straight from
//! the parser's borrowed rows, so no row is ever copied into an owned string.
//! The `accounts` table has one row per account and its builders live in the
//! writer.

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};

use crate::controls::{self, Assessment, Finding, Status, StatusCounts};
use crate::report::parse::{ParseError, read_rows};
use crate::report::{CredentialReport, EpochMillis, ReportRowRef, RowError};
use crate::scan::{AccountScan, ScanContext};

/// The rows one account adds to the `findings` and `credential_report`
/// tables, ready to write.
#[derive(Debug, Clone, Default)]
pub struct AccountRows {
    /// The `credential_report` columns from `user` on, in schema order;
    /// empty when no report was read.
    pub(crate) report: Vec<ArrayRef>,
    pub(crate) report_rows: usize,
    /// The `findings` columns from `control_id` to `reason`, in schema order.
    pub(crate) findings: Vec<ArrayRef>,
    pub(crate) finding_rows: usize,
    /// Rows in the credential report, unreadable ones included; `None` when
    /// no report was read.
    pub users: Option<u64>,
    /// `GeneratedTime` of the report, when one was read.
    pub generated_at: Option<EpochMillis>,
    /// The findings by status.
    pub counts: StatusCounts,
}

impl AccountRows {
    /// Parses a downloaded credential report, evaluates every row and keeps
    /// both as columns. An unreadable row becomes one `error` finding per
    /// control and the other rows keep their verdicts.
    ///
    /// # Errors
    ///
    /// Returns the [`ParseError`] of a report that is unreadable as a whole.
    pub fn evaluate_report(
        content: &[u8],
        generated_at: Option<EpochMillis>,
        account_id: &str,
        partition: &str,
        control_ids: &[String],
    ) -> Result<Self, ParseError> {
        let mut rows = read_rows(content)?;
        // With `\n` line ends there is at most one row a line, so the
        // builders do not grow while the report is read. Bare `\r` line
        // ends only make them grow.
        let lines = memchr::memchr_iter(b'\n', content).count() + 1;
        let mut builder = AccountRowsBuilder::with_capacity(generated_at, lines, control_ids.len());
        while let Some(row) = rows.next_row_ref() {
            match row {
                Ok(row) => builder.add_evaluated_row(&row, control_ids),
                Err(err) => builder.add_unreadable_row(&err, account_id, partition, control_ids),
            }
        }
        Ok(builder.finish())
    }

    /// Keeps a report's rows and the given findings as they are, without
    /// evaluating anything.
    pub fn from_parts(report: Option<&CredentialReport>, findings: &[Finding]) -> Self {
        let mut builder =
            AccountRowsBuilder::new(report.and_then(|report| report.generated_at), report.is_some());
        for row in report.iter().flat_map(|report| &report.rows) {
            match row {
                Ok(row) => builder.add_report_row(&row.as_row_ref()),
                Err(_) => builder.users += 1,
            }
        }
        for finding in findings {
            builder.add_finding(finding);
        }
        builder.finish()
    }

    /// Returns rows for an account without a report: only `findings`.
    pub fn from_findings(findings: &[Finding]) -> Self {
        Self::from_parts(None, findings)
    }

    /// Returns the number of `findings` rows.
    pub fn finding_rows(&self) -> usize {
        self.finding_rows
    }

    /// Returns the number of `credential_report` rows: the readable rows of
    /// the report.
    pub fn report_rows(&self) -> usize {
        self.report_rows
    }
}

/// The builder of one account's rows, finished as [`AccountRows`].
struct AccountRowsBuilder {
    report: ReportRowColumns,
    findings: FindingColumns,
    has_report: bool,
    users: u64,
    generated_at: Option<EpochMillis>,
    counts: StatusCounts,
}

impl AccountRowsBuilder {
    fn new(generated_at: Option<EpochMillis>, has_report: bool) -> Self {
        AccountRowsBuilder {
            report: ReportRowColumns::with_capacity(0),
            findings: FindingColumns::with_capacity(0),
            has_report,
            users: 0,
            generated_at,
            counts: StatusCounts::default(),
        }
    }

    /// Starts a builder for a report of at most `rows` rows, with room for
    /// all of them and one finding per row and control.
    fn with_capacity(generated_at: Option<EpochMillis>, rows: usize, controls: usize) -> Self {
        AccountRowsBuilder {
            report: ReportRowColumns::with_capacity(rows),
            findings: FindingColumns::with_capacity(rows * controls),
            has_report: true,
            users: 0,
            generated_at,
            counts: StatusCounts::default(),
        }
    }

    /// Appends a readable row and its finding for each control.
    fn add_evaluated_row(&mut self, row: &ReportRowRef<'_>, control_ids: &[String]) {
        self.add_report_row(row);
        let assessment = controls::assess(row);
        for control_id in control_ids {
            self.findings
                .append_assessed(control_id, row, &assessment);
        }
        self.counts
            .add(assessment.status, control_ids.len() as u64);
    }

    /// Counts an unreadable row and appends its `error` findings.
    fn add_unreadable_row(
        &mut self,
        err: &RowError,
        account_id: &str,
        partition: &str,
        control_ids: &[String],
    ) {
        self.users += 1;
        for finding in controls::error_findings_for_row(err, account_id, partition, control_ids) {
            self.add_finding(&finding);
        }
    }

    fn add_report_row(&mut self, row: &ReportRowRef<'_>) {
        self.users += 1;
        self.report.append(row);
    }

    fn add_finding(&mut self, finding: &Finding) {
        self.findings.append_finding(finding);
        self.counts.add(finding.status, 1);
    }

    fn finish(mut self) -> AccountRows {
        let report_rows = self.report.user.len();
        let finding_rows = self.findings.control_id.len();
        AccountRows {
            report: if self.has_report { self.report.finish() } else { Vec::new() },
            report_rows,
            findings: self.findings.finish(),
            finding_rows,
            users: self.has_report.then_some(self.users),
            generated_at: self.generated_at,
            counts: self.counts,
        }
    }
}

fn timestamps() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

fn timestamps_for(rows: usize) -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC")
}

/// Returns a string builder for `rows` values of about `bytes_per_value`
/// bytes each. The sizes are typical of IAM reports; a longer value only
/// makes the builder grow.
fn texts_for(rows: usize, bytes_per_value: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * bytes_per_value)
}

/// A builder that can start again empty with room for as many values as it
/// contains now, so the next row group appends without growing its buffers.
trait Refill: ArrayBuilder + Sized {
    fn with_room_of(&self) -> Self;
}

impl Refill for StringBuilder {
    fn with_room_of(&self) -> Self {
        StringBuilder::with_capacity(self.len(), self.values_slice().len())
    }
}

impl Refill for TimestampMillisecondBuilder {
    fn with_room_of(&self) -> Self {
        TimestampMillisecondBuilder::with_capacity(self.len()).with_timezone("UTC")
    }
}

impl Refill for BooleanBuilder {
    fn with_room_of(&self) -> Self {
        BooleanBuilder::with_capacity(self.len())
    }
}

impl Refill for Int64Builder {
    fn with_room_of(&self) -> Self {
        Int64Builder::with_capacity(self.len())
    }
}

/// Finishes one builder of a single account's rows as a type-erased array,
/// as `RecordBatch` takes them.
fn finished<B: ArrayBuilder>(builder: &mut B) -> ArrayRef {
    ArrayBuilder::finish(builder)
}

/// Finishes one builder as a type-erased array, and leaves in its place an
/// empty builder sized like the one finished, for the next row group.
fn done<B: Refill>(builder: &mut B) -> ArrayRef {
    let refilled = builder.with_room_of();
    ArrayBuilder::finish(&mut std::mem::replace(builder, refilled))
}

/// Builders of the `findings` columns that change from row to row.
struct FindingColumns {
    control_id: StringBuilder,
    resource: StringBuilder,
    user_name: StringBuilder,
    status: StringBuilder,
    reason: StringBuilder,
}

impl FindingColumns {
    fn with_capacity(rows: usize) -> Self {
        FindingColumns {
            control_id: texts_for(rows, 16),
            resource: texts_for(rows, 64),
            user_name: texts_for(rows, 16),
            status: texts_for(rows, 5),
            reason: texts_for(rows, 64),
        }
    }

    /// Appends every column of one finding but `reason`, which the caller
    /// appends next.
    fn append_without_reason(
        &mut self,
        control_id: &str,
        resource: &str,
        user_name: &str,
        status: Status,
    ) {
        self.control_id.append_value(control_id);
        self.resource.append_value(resource);
        self.user_name.append_value(user_name);
        self.status.append_value(status.as_str());
    }

    fn append_assessed(
        &mut self,
        control_id: &str,
        row: &ReportRowRef<'_>,
        assessment: &Assessment<'_>,
    ) {
        self.append_without_reason(control_id, row.arn, row.user, assessment.status);
        // Writing into the builder formats the reason without a String, and
        // the empty append then ends the value.
        assessment
            .reason
            .write_to(&mut self.reason)
            .expect("writing into a builder cannot fail");
        self.reason.append_value("");
    }

    fn append_finding(&mut self, finding: &Finding) {
        self.append_without_reason(
            &finding.control_id,
            &finding.resource,
            &finding.user_name,
            finding.status,
        );
        self.reason.append_value(&finding.reason);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            finished(&mut self.control_id),
            finished(&mut self.resource),
            finished(&mut self.user_name),
            finished(&mut self.status),
            finished(&mut self.reason),
        ]
    }
}

/// Builders of the `credential_report` columns from `user` on.
struct ReportRowColumns {
    user: StringBuilder,
    arn: StringBuilder,
    user_creation_time: TimestampMillisecondBuilder,
    password_enabled: BooleanBuilder,
    password_enabled_raw: StringBuilder,
    password_last_used: TimestampMillisecondBuilder,
    password_last_changed: TimestampMillisecondBuilder,
    password_next_rotation: TimestampMillisecondBuilder,
    mfa_active: BooleanBuilder,
    access_key_1_active: BooleanBuilder,
    access_key_1_last_rotated: TimestampMillisecondBuilder,
    access_key_1_last_used_date: TimestampMillisecondBuilder,
    access_key_1_last_used_region: StringBuilder,
    access_key_1_last_used_service: StringBuilder,
    access_key_2_active: BooleanBuilder,
    access_key_2_last_rotated: TimestampMillisecondBuilder,
    access_key_2_last_used_date: TimestampMillisecondBuilder,
    access_key_2_last_used_region: StringBuilder,
    access_key_2_last_used_service: StringBuilder,
    cert_1_active: BooleanBuilder,
    cert_1_last_rotated: TimestampMillisecondBuilder,
    cert_2_active: BooleanBuilder,
    cert_2_last_rotated: TimestampMillisecondBuilder,
}

impl ReportRowColumns {
    fn with_capacity(rows: usize) -> Self {
        ReportRowColumns {
            user: texts_for(rows, 16),
            arn: texts_for(rows, 64),
            user_creation_time: timestamps_for(rows),
            password_enabled: BooleanBuilder::with_capacity(rows),
            password_enabled_raw: texts_for(rows, 5),
            password_last_used: timestamps_for(rows),
            password_last_changed: timestamps_for(rows),
            password_next_rotation: timestamps_for(rows),
            mfa_active: BooleanBuilder::with_capacity(rows),
            access_key_1_active: BooleanBuilder::with_capacity(rows),
            access_key_1_last_rotated: timestamps_for(rows),
            access_key_1_last_used_date: timestamps_for(rows),
            access_key_1_last_used_region: texts_for(rows, 10),
            access_key_1_last_used_service: texts_for(rows, 8),
            access_key_2_active: BooleanBuilder::with_capacity(rows),
            access_key_2_last_rotated: timestamps_for(rows),
            access_key_2_last_used_date: timestamps_for(rows),
            access_key_2_last_used_region: texts_for(rows, 10),
            access_key_2_last_used_service: texts_for(rows, 8),
            cert_1_active: BooleanBuilder::with_capacity(rows),
            cert_1_last_rotated: timestamps_for(rows),
            cert_2_active: BooleanBuilder::with_capacity(rows),
            cert_2_last_rotated: timestamps_for(rows),
        }
    }

    fn append(&mut self, row: &ReportRowRef<'_>) {
        self.user.append_value(row.user);
        self.arn.append_value(row.arn);
        self.user_creation_time
            .append_option(row.user_creation_time);
        self.password_enabled.append_option(row.password_enabled);
        self.password_enabled_raw
            .append_value(row.password_enabled_raw);
        self.password_last_used
            .append_option(row.password_last_used);
        self.password_last_changed
            .append_option(row.password_last_changed);
        self.password_next_rotation
            .append_option(row.password_next_rotation);
        self.mfa_active.append_option(row.mfa_active);

        self.access_key_1_active
            .append_option(row.access_key_1_active);
        self.access_key_1_last_rotated
            .append_option(row.access_key_1_last_rotated);
        self.access_key_1_last_used_date
            .append_option(row.access_key_1_last_used_date);
        self.access_key_1_last_used_region
            .append_option(row.access_key_1_last_used_region);
        self.access_key_1_last_used_service
            .append_option(row.access_key_1_last_used_service);

        self.access_key_2_active
            .append_option(row.access_key_2_active);
        self.access_key_2_last_rotated
            .append_option(row.access_key_2_last_rotated);
        self.access_key_2_last_used_date
            .append_option(row.access_key_2_last_used_date);
        self.access_key_2_last_used_region
            .append_option(row.access_key_2_last_used_region);
        self.access_key_2_last_used_service
            .append_option(row.access_key_2_last_used_service);

        self.cert_1_active.append_option(row.cert_1_active);
        self.cert_1_last_rotated
            .append_option(row.cert_1_last_rotated);
        self.cert_2_active.append_option(row.cert_2_active);
        self.cert_2_last_rotated
            .append_option(row.cert_2_last_rotated);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            finished(&mut self.user),
            finished(&mut self.arn),
            finished(&mut self.user_creation_time),
            finished(&mut self.password_enabled),
            finished(&mut self.password_enabled_raw),
            finished(&mut self.password_last_used),
            finished(&mut self.password_last_changed),
            finished(&mut self.password_next_rotation),
            finished(&mut self.mfa_active),
            finished(&mut self.access_key_1_active),
            finished(&mut self.access_key_1_last_rotated),
            finished(&mut self.access_key_1_last_used_date),
            finished(&mut self.access_key_1_last_used_region),
            finished(&mut self.access_key_1_last_used_service),
            finished(&mut self.access_key_2_active),
            finished(&mut self.access_key_2_last_rotated),
            finished(&mut self.access_key_2_last_used_date),
            finished(&mut self.access_key_2_last_used_region),
            finished(&mut self.access_key_2_last_used_service),
            finished(&mut self.cert_1_active),
            finished(&mut self.cert_1_last_rotated),
            finished(&mut self.cert_2_active),
            finished(&mut self.cert_2_last_rotated),
        ]
    }
}

/// Builders of the `accounts` table, one row per account.
pub(crate) struct AccountsColumns {
    scan_id: StringBuilder,
    account_id: StringBuilder,
    account_name: StringBuilder,
    account_status: StringBuilder,
    outcome: StringBuilder,
    error_code: StringBuilder,
    error_message: StringBuilder,
    started_at: TimestampMillisecondBuilder,
    finished_at: TimestampMillisecondBuilder,
    users: Int64Builder,
    report_generated_at: TimestampMillisecondBuilder,
}

impl AccountsColumns {
    pub(crate) fn new() -> Self {
        AccountsColumns {
            scan_id: StringBuilder::new(),
            account_id: StringBuilder::new(),
            account_name: StringBuilder::new(),
            account_status: StringBuilder::new(),
            outcome: StringBuilder::new(),
            error_code: StringBuilder::new(),
            error_message: StringBuilder::new(),
            started_at: timestamps(),
            finished_at: timestamps(),
            users: Int64Builder::new(),
            report_generated_at: timestamps(),
        }
    }

    /// Returns the number of buffered rows.
    pub(crate) fn len(&self) -> usize {
        self.scan_id.len()
    }

    /// Appends the one row that describes `scan`'s account.
    pub(crate) fn append_scan(&mut self, ctx: &ScanContext, scan: &AccountScan) {
        let users = scan.rows.users.map(|users| users as i64);

        self.scan_id.append_value(&ctx.scan_id);
        self.account_id.append_value(&scan.account.id);
        self.account_name.append_value(&scan.account.name);
        self.account_status.append_value(&scan.account.status);
        self.outcome.append_value(scan.outcome.as_str());
        self.error_code
            .append_option(scan.error.as_ref().map(|error| error.code));
        self.error_message
            .append_option(scan.error.as_ref().map(|error| &error.message));
        self.started_at.append_value(scan.started_at);
        self.finished_at.append_value(scan.finished_at);
        self.users.append_option(users);
        self.report_generated_at
            .append_option(scan.rows.generated_at);
    }

    /// Builds one array per column, in schema order, and empties the builders.
    pub(crate) fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            done(&mut self.scan_id),
            done(&mut self.account_id),
            done(&mut self.account_name),
            done(&mut self.account_status),
            done(&mut self.outcome),
            done(&mut self.error_code),
            done(&mut self.error_message),
            done(&mut self.started_at),
            done(&mut self.finished_at),
            done(&mut self.users),
            done(&mut self.report_generated_at),
        ]
    }
}
