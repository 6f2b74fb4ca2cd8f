//! Arrow column builders, one set per table, in the column order of
//! `schema`. Each builder turns the rows it buffered into arrays and starts
//! again empty, so a writer reuses it for every row group.

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};

use crate::controls::Finding;
use crate::report::{EpochMillis, ReportRow};
use crate::scan::{AccountScan, ScanContext};

/// The columns of one table, buffered until the writer encodes a row group.
pub(crate) trait TableColumns {
    /// Returns the number of buffered rows.
    fn len(&self) -> usize;

    /// Builds one array per column, in schema order, and empties the builders.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

fn timestamps() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

/// A builder that can start again empty with room for as many values as it
/// holds now, so the next row group appends without growing its buffers.
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

/// Finishes one builder as a type-erased array, as `RecordBatch` takes them,
/// and leaves in its place an empty builder sized like the one finished.
fn done<B: Refill>(builder: &mut B) -> ArrayRef {
    let refilled = builder.with_room_of();
    ArrayBuilder::finish(&mut std::mem::replace(builder, refilled))
}

/// Builders of the `findings` table.
pub(crate) struct FindingsColumns {
    scan_id: StringBuilder,
    scanned_at: TimestampMillisecondBuilder,
    account_id: StringBuilder,
    account_name: StringBuilder,
    control_id: StringBuilder,
    resource: StringBuilder,
    user_name: StringBuilder,
    status: StringBuilder,
    reason: StringBuilder,
    report_generated_at: TimestampMillisecondBuilder,
}

impl FindingsColumns {
    pub(crate) fn new() -> Self {
        FindingsColumns {
            scan_id: StringBuilder::new(),
            scanned_at: timestamps(),
            account_id: StringBuilder::new(),
            account_name: StringBuilder::new(),
            control_id: StringBuilder::new(),
            resource: StringBuilder::new(),
            user_name: StringBuilder::new(),
            status: StringBuilder::new(),
            reason: StringBuilder::new(),
            report_generated_at: timestamps(),
        }
    }

    /// Appends one row per finding of `scan`.
    pub(crate) fn append_scan(&mut self, ctx: &ScanContext, scan: &AccountScan) {
        let generated_at = report_generated_at(scan);
        for finding in &scan.findings {
            self.append(ctx, scan, generated_at, finding);
        }
    }

    fn append(
        &mut self,
        ctx: &ScanContext,
        scan: &AccountScan,
        generated_at: Option<EpochMillis>,
        finding: &Finding,
    ) {
        self.scan_id.append_value(&ctx.scan_id);
        self.scanned_at.append_value(ctx.scanned_at);
        self.account_id.append_value(&scan.account.id);
        self.account_name.append_value(&scan.account.name);
        self.control_id.append_value(&finding.control_id);
        self.resource.append_value(&finding.resource);
        self.user_name.append_value(&finding.user_name);
        self.status.append_value(finding.status.as_str());
        self.reason.append_value(&finding.reason);
        self.report_generated_at.append_option(generated_at);
    }
}

impl TableColumns for FindingsColumns {
    fn len(&self) -> usize {
        self.scan_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            done(&mut self.scan_id),
            done(&mut self.scanned_at),
            done(&mut self.account_id),
            done(&mut self.account_name),
            done(&mut self.control_id),
            done(&mut self.resource),
            done(&mut self.user_name),
            done(&mut self.status),
            done(&mut self.reason),
            done(&mut self.report_generated_at),
        ]
    }
}

/// Builders of the `credential_report` table.
pub(crate) struct CredentialReportColumns {
    scan_id: StringBuilder,
    account_id: StringBuilder,
    report_generated_at: TimestampMillisecondBuilder,
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

impl CredentialReportColumns {
    pub(crate) fn new() -> Self {
        CredentialReportColumns {
            scan_id: StringBuilder::new(),
            account_id: StringBuilder::new(),
            report_generated_at: timestamps(),
            user: StringBuilder::new(),
            arn: StringBuilder::new(),
            user_creation_time: timestamps(),
            password_enabled: BooleanBuilder::new(),
            password_enabled_raw: StringBuilder::new(),
            password_last_used: timestamps(),
            password_last_changed: timestamps(),
            password_next_rotation: timestamps(),
            mfa_active: BooleanBuilder::new(),
            access_key_1_active: BooleanBuilder::new(),
            access_key_1_last_rotated: timestamps(),
            access_key_1_last_used_date: timestamps(),
            access_key_1_last_used_region: StringBuilder::new(),
            access_key_1_last_used_service: StringBuilder::new(),
            access_key_2_active: BooleanBuilder::new(),
            access_key_2_last_rotated: timestamps(),
            access_key_2_last_used_date: timestamps(),
            access_key_2_last_used_region: StringBuilder::new(),
            access_key_2_last_used_service: StringBuilder::new(),
            cert_1_active: BooleanBuilder::new(),
            cert_1_last_rotated: timestamps(),
            cert_2_active: BooleanBuilder::new(),
            cert_2_last_rotated: timestamps(),
        }
    }

    /// Appends the rows of `scan`'s report that parsed; rows that did not
    /// parse have no typed values to write.
    pub(crate) fn append_scan(&mut self, ctx: &ScanContext, scan: &AccountScan) {
        let Some(report) = &scan.report else {
            return;
        };
        for row in report.rows.iter().flatten() {
            self.append(&ctx.scan_id, &scan.account.id, report.generated_at, row);
        }
    }

    /// Appends one report row.
    pub(crate) fn append(
        &mut self,
        scan_id: &str,
        account_id: &str,
        generated_at: Option<EpochMillis>,
        row: &ReportRow,
    ) {
        self.scan_id.append_value(scan_id);
        self.account_id.append_value(account_id);
        self.report_generated_at.append_option(generated_at);

        self.user.append_value(&row.user);
        self.arn.append_value(&row.arn);
        self.user_creation_time
            .append_option(row.user_creation_time);
        self.password_enabled.append_option(row.password_enabled);
        self.password_enabled_raw
            .append_value(&row.password_enabled_raw);
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
            .append_option(row.access_key_1_last_used_region.as_deref());
        self.access_key_1_last_used_service
            .append_option(row.access_key_1_last_used_service.as_deref());

        self.access_key_2_active
            .append_option(row.access_key_2_active);
        self.access_key_2_last_rotated
            .append_option(row.access_key_2_last_rotated);
        self.access_key_2_last_used_date
            .append_option(row.access_key_2_last_used_date);
        self.access_key_2_last_used_region
            .append_option(row.access_key_2_last_used_region.as_deref());
        self.access_key_2_last_used_service
            .append_option(row.access_key_2_last_used_service.as_deref());

        self.cert_1_active.append_option(row.cert_1_active);
        self.cert_1_last_rotated
            .append_option(row.cert_1_last_rotated);
        self.cert_2_active.append_option(row.cert_2_active);
        self.cert_2_last_rotated
            .append_option(row.cert_2_last_rotated);
    }
}

impl TableColumns for CredentialReportColumns {
    fn len(&self) -> usize {
        self.scan_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            done(&mut self.scan_id),
            done(&mut self.account_id),
            done(&mut self.report_generated_at),
            done(&mut self.user),
            done(&mut self.arn),
            done(&mut self.user_creation_time),
            done(&mut self.password_enabled),
            done(&mut self.password_enabled_raw),
            done(&mut self.password_last_used),
            done(&mut self.password_last_changed),
            done(&mut self.password_next_rotation),
            done(&mut self.mfa_active),
            done(&mut self.access_key_1_active),
            done(&mut self.access_key_1_last_rotated),
            done(&mut self.access_key_1_last_used_date),
            done(&mut self.access_key_1_last_used_region),
            done(&mut self.access_key_1_last_used_service),
            done(&mut self.access_key_2_active),
            done(&mut self.access_key_2_last_rotated),
            done(&mut self.access_key_2_last_used_date),
            done(&mut self.access_key_2_last_used_region),
            done(&mut self.access_key_2_last_used_service),
            done(&mut self.cert_1_active),
            done(&mut self.cert_1_last_rotated),
            done(&mut self.cert_2_active),
            done(&mut self.cert_2_last_rotated),
        ]
    }
}

/// Builders of the `accounts` table.
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

    /// Appends the one row that describes `scan`'s account.
    pub(crate) fn append_scan(&mut self, ctx: &ScanContext, scan: &AccountScan) {
        let users = scan.report.as_ref().map(|report| report.rows.len() as i64);

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
            .append_option(report_generated_at(scan));
    }
}

impl TableColumns for AccountsColumns {
    fn len(&self) -> usize {
        self.scan_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
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

fn report_generated_at(scan: &AccountScan) -> Option<EpochMillis> {
    scan.report.as_ref().and_then(|report| report.generated_at)
}
