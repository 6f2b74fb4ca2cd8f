//! The Arrow schema of each output table.
//!
//! Column names are a public interface: dashboards and saved queries use
//! them, so a column may be added but never renamed. Every file of a table
//! has exactly this schema, whatever its rows. The partition key `dt` lives
//! in the path only and is never a column.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The table names, in the order the writer publishes them. `accounts` comes
/// last, so a reader that finds a scan's `accounts` file finds the others too.
pub const TABLES: [&str; 3] = [
    Table::Findings.name(),
    Table::CredentialReport.name(),
    Table::Accounts.name(),
];

/// One of the three output tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per control and resource.
    Findings,
    /// Every readable credential report row, typed.
    CredentialReport,
    /// One row per account: outcome, error and timings.
    Accounts,
}

impl Table {
    /// Every table, in the order of [`TABLES`].
    pub const ALL: [Table; 3] = [Table::Findings, Table::CredentialReport, Table::Accounts];

    /// Returns the table's name, which is also its directory under the output root.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Findings => "findings",
            Table::CredentialReport => "credential_report",
            Table::Accounts => "accounts",
        }
    }

    /// Returns the table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Findings => findings_schema(),
            Table::CredentialReport => credential_report_schema(),
            Table::Accounts => accounts_schema(),
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of every timestamp column: milliseconds since the Unix epoch,
/// UTC.
///
/// With the UTC time zone the Parquet writer stores INT64
/// `TIMESTAMP(isAdjustedToUTC=true, unit=MILLIS)` and also the legacy
/// converted type `TIMESTAMP_MILLIS`. The Parquet format defines that
/// converted type as UTC-adjusted, so readers that know only converted types
/// (older Hive and parquet-mr) agree with those that read the logical type.
///
/// NOTE: not run on Athena. Trino's Hive connector, on which Athena engine 3
/// is based, shifts UTC-adjusted INT64 timestamps into its
/// `hive.parquet.time-zone` since trinodb/trino pull request 22577, so a
/// `timestamp` column shows UTC wall-clock time only where that zone is UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn string(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(name, timestamp_type(), nullable)
}

fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}

/// Builds the schema of `findings`: one row per control and resource.
pub fn findings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("scan_id", false),
        timestamp("scanned_at", false),
        string("account_id", false),
        string("account_name", false),
        string("control_id", false),
        string("resource", false),
        string("user_name", false),
        string("status", false),
        string("reason", false),
        timestamp("report_generated_at", true),
    ]))
}

/// Builds the schema of `credential_report`: the scan and account columns, then the 22
/// report columns under their own names, typed, with the raw
/// `password_enabled` value right after the boolean one.
///
/// Timestamps are null where the report has `N/A`, `not_supported` or
/// `no_information`; booleans are null where the report has no boolean.
pub fn credential_report_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("scan_id", false),
        string("account_id", false),
        timestamp("report_generated_at", true),
        string("user", false),
        string("arn", false),
        timestamp("user_creation_time", true),
        boolean("password_enabled"),
        string("password_enabled_raw", false),
        timestamp("password_last_used", true),
        timestamp("password_last_changed", true),
        timestamp("password_next_rotation", true),
        boolean("mfa_active"),
        boolean("access_key_1_active"),
        timestamp("access_key_1_last_rotated", true),
        timestamp("access_key_1_last_used_date", true),
        string("access_key_1_last_used_region", true),
        string("access_key_1_last_used_service", true),
        boolean("access_key_2_active"),
        timestamp("access_key_2_last_rotated", true),
        timestamp("access_key_2_last_used_date", true),
        string("access_key_2_last_used_region", true),
        string("access_key_2_last_used_service", true),
        boolean("cert_1_active"),
        timestamp("cert_1_last_rotated", true),
        boolean("cert_2_active"),
        timestamp("cert_2_last_rotated", true),
    ]))
}

/// Builds the schema of `accounts`: one row per selected account.
///
/// `users` is the number of data rows in the account's credential report,
/// including rows that could not be parsed, and null when no report was read.
pub fn accounts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        string("scan_id", false),
        string("account_id", false),
        string("account_name", false),
        string("account_status", false),
        string("outcome", false),
        string("error_code", true),
        string("error_message", true),
        timestamp("started_at", false),
        timestamp("finished_at", false),
        Field::new("users", DataType::Int64, true),
        timestamp("report_generated_at", true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::parse::STANDARD_COLUMNS as REPORT_COLUMNS;

    fn names(schema: &Schema) -> Vec<&str> {
        schema
            .fields()
            .iter()
            .map(|field| field.name().as_str())
            .collect()
    }

    #[test]
    fn tables_constant_matches_table_names() {
        let names: Vec<&str> = Table::ALL.iter().map(|table| table.name()).collect();

        assert_eq!(names, TABLES);
    }

    #[test]
    fn credential_report_schema_keeps_report_column_order() {
        let schema = credential_report_schema();
        let mut report_columns = names(&schema);
        report_columns.retain(|name| {
            !matches!(
                *name,
                "scan_id" | "account_id" | "report_generated_at" | "password_enabled_raw"
            )
        });

        assert_eq!(report_columns, REPORT_COLUMNS);
    }

    #[test]
    fn credential_report_schema_puts_raw_after_password_enabled() {
        let schema = credential_report_schema();
        let position = |name: &str| schema.index_of(name).unwrap();

        assert_eq!(
            position("password_enabled_raw"),
            position("password_enabled") + 1
        );
    }

    #[test]
    fn schemas_have_no_dt_column() {
        for table in Table::ALL {
            assert!(
                table.schema().index_of("dt").is_err(),
                "{table} has a dt column"
            );
        }
    }

    #[test]
    fn schemas_use_utc_millisecond_timestamps() {
        for table in Table::ALL {
            for field in table.schema().fields() {
                if let DataType::Timestamp(unit, zone) = field.data_type() {
                    assert_eq!(*unit, TimeUnit::Millisecond, "{table}.{}", field.name());
                    assert_eq!(zone.as_deref(), Some("UTC"), "{table}.{}", field.name());
                }
            }
        }
    }

    #[test]
    fn schemas_keep_ids_non_null() {
        for table in Table::ALL {
            let schema = table.schema();
            for name in ["scan_id", "account_id"] {
                let field = schema.field_with_name(name).unwrap();
                assert!(!field.is_nullable(), "{table}.{name} is nullable");
            }
        }
    }
}
