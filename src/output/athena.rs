//! Athena DDL for the output tables, generated from the same Arrow schemas
//! the writer uses, so the two cannot drift apart.
//!
//! Each table is partitioned by `dt` with partition projection: Athena
//! computes the partitions from the table properties, so no crawler,
//! `MSCK REPAIR TABLE` or `ALTER TABLE ADD PARTITION` is needed when a scan
//! adds a day.

use std::fmt::Write;

use arrow::datatypes::DataType;

use super::schema::Table;

/// First day that partition projection considers. No scan output predates
/// it, and a query that filters on `dt` never lists days before it.
const PROJECTION_START: &str = "2020-01-01";

/// Renders the DDL for `database` with tables under `location` (an
/// `s3://bucket/prefix` URI): `CREATE DATABASE`, one `CREATE EXTERNAL TABLE`
/// per table, then one `<table>_latest` view per table that keeps each
/// account's rows from its latest scan.
///
/// Statements end with `;` and are separated by a blank line. Athena runs
/// one statement per query, so run them one at a time, tables before views.
pub fn athena_ddl(location: &str, database: &str) -> String {
    let location = location.trim_end_matches('/');
    let mut ddl = String::new();

    let _ = writeln!(
        ddl,
        "CREATE DATABASE IF NOT EXISTS {};",
        hive_name(database)
    );
    for table in Table::ALL {
        ddl.push('\n');
        ddl.push_str(&create_table(location, database, table));
    }
    for table in VIEW_ORDER {
        ddl.push('\n');
        ddl.push_str(&create_latest_view(database, table));
    }
    ddl
}

/// Maps an Arrow type to the Hive type that Athena reads it as.
///
/// # Panics
///
/// On a type that no output schema uses; the tests cover every schema.
fn hive_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 => "string",
        DataType::Boolean => "boolean",
        DataType::Int64 => "bigint",
        DataType::Timestamp(_, _) => "timestamp",
        other => panic!("no Athena type is mapped for Arrow type {other}"),
    }
}

fn create_table(location: &str, database: &str, table: Table) -> String {
    let schema = table.schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            format!(
                "  {} {}",
                hive_name(field.name()),
                hive_type(field.data_type())
            )
        })
        .collect();
    let table_location = sql_string(&format!("{location}/{table}/"));
    let template = sql_string(&format!("{location}/{table}/dt=${{dt}}/"));

    let mut ddl = String::new();
    let _ = writeln!(
        ddl,
        "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (",
        hive_name(database),
        hive_name(table.name())
    );
    let _ = writeln!(ddl, "{}", columns.join(",\n"));
    let _ = writeln!(ddl, ")");
    let _ = writeln!(ddl, "PARTITIONED BY ({} date)", hive_name("dt"));
    let _ = writeln!(ddl, "STORED AS PARQUET");
    let _ = writeln!(ddl, "LOCATION {table_location}");
    let _ = writeln!(ddl, "TBLPROPERTIES (");
    let _ = writeln!(ddl, "  'projection.enabled' = 'true',");
    let _ = writeln!(ddl, "  'projection.dt.type' = 'date',");
    let _ = writeln!(ddl, "  'projection.dt.format' = 'yyyy-MM-dd',");
    let _ = writeln!(ddl, "  'projection.dt.range' = '{PROJECTION_START},NOW',");
    let _ = writeln!(ddl, "  'projection.dt.interval' = '1',");
    let _ = writeln!(ddl, "  'projection.dt.interval.unit' = 'DAYS',");
    let _ = writeln!(ddl, "  'storage.location.template' = {template}");
    let _ = writeln!(ddl, ");");
    ddl
}

/// Days of partitions that the `_latest` views read. The bound on `dt` lets
/// Athena prune partitions, so a view's cost does not grow with the history
/// kept. An account that no scan read within this window drops out of the views.
const LATEST_WINDOW_DAYS: u32 = 31;

/// The order in which the views are created: the other two join `accounts_latest`.
const VIEW_ORDER: [Table; 3] = [Table::Accounts, Table::Findings, Table::CredentialReport];

/// Renders a view of the rows from each account's latest scan in `table`.
///
/// `accounts_latest` keeps each account's newest row; `scan_id` is a UUIDv7,
/// whose text sorts by creation time. The findings and credential report
/// views keep the rows of exactly those scans, so the three views always
/// agree: an account whose latest scan failed or skipped it shows that
/// scan's error findings or none, never older verdicts.
fn create_latest_view(database: &str, table: Table) -> String {
    let schema = table.schema();
    let mut columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| format!("t.{}", sql_name(field.name())))
        .collect();
    columns.push(format!("t.{}", sql_name("dt")));
    let source = format!("{}.{}", sql_name(database), sql_name(table.name()));
    let view_name = |table: Table| format!("{}.{}", sql_name(database), sql_name(&format!("{table}_latest")));
    let window = format!("t.{} >= current_date - INTERVAL '{LATEST_WINDOW_DAYS}' DAY", sql_name("dt"));

    let mut ddl = String::new();
    let _ = writeln!(ddl, "CREATE OR REPLACE VIEW {} AS", view_name(table));
    let _ = writeln!(ddl, "SELECT {}", columns.join(", "));
    if table == Table::Accounts {
        let _ = writeln!(ddl, "FROM (");
        let _ = writeln!(
            ddl,
            "  SELECT *, rank() OVER (PARTITION BY account_id ORDER BY scan_id DESC) AS scan_rank"
        );
        let _ = writeln!(ddl, "  FROM {source}");
        let _ = writeln!(ddl, "  WHERE {}", window.replace("t.", ""));
        let _ = writeln!(ddl, ") t");
        let _ = writeln!(ddl, "WHERE t.scan_rank = 1;");
    } else {
        let _ = writeln!(ddl, "FROM {source} t");
        let _ = writeln!(
            ddl,
            "JOIN {} a ON t.scan_id = a.scan_id AND t.account_id = a.account_id",
            view_name(Table::Accounts)
        );
        let _ = writeln!(ddl, "WHERE {window};");
    }
    ddl
}

/// Quotes an identifier for Hive DDL, where backticks quote.
fn hive_name(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quotes an identifier for Athena SQL (Trino), where double quotes quote.
fn sql_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal.
fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCATION: &str = "s3://audit-bucket/orgscan";

    /// Splits the DDL into statements, without their `;`.
    fn statements(ddl: &str) -> Vec<&str> {
        ddl.split(";\n")
            .map(str::trim)
            .filter(|statement| !statement.is_empty())
            .collect()
    }

    fn create_table_statement(ddl: &str, table: Table) -> &str {
        let head = format!("CREATE EXTERNAL TABLE IF NOT EXISTS `security`.`{table}` (");
        statements(ddl)
            .into_iter()
            .find(|statement| statement.starts_with(&head))
            .unwrap_or_else(|| panic!("no CREATE EXTERNAL TABLE for {table}"))
    }

    /// Reads the `(name, type)` column list back out of a CREATE TABLE.
    fn parse_columns(statement: &str) -> Vec<(String, String)> {
        let start = statement.find("(\n").expect("column list start") + 2;
        let end = statement
            .find("\n)\nPARTITIONED BY")
            .expect("column list end");
        statement[start..end]
            .lines()
            .map(|line| {
                let line = line.trim().trim_end_matches(',');
                let (name, data_type) = line
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("bad column line {line:?}"));
                (name.trim_matches('`').to_owned(), data_type.to_owned())
            })
            .collect()
    }

    fn expected_type(data_type: &DataType) -> &'static str {
        match data_type {
            DataType::Utf8 => "string",
            DataType::Boolean => "boolean",
            DataType::Int64 => "bigint",
            DataType::Timestamp(_, _) => "timestamp",
            other => panic!("unexpected Arrow type {other}"),
        }
    }

    #[test]
    fn ddl_columns_match_schema_fields() {
        let ddl = athena_ddl(LOCATION, "security");

        for table in Table::ALL {
            let columns = parse_columns(create_table_statement(&ddl, table));
            let expected: Vec<(String, String)> = table
                .schema()
                .fields()
                .iter()
                .map(|field| {
                    (
                        field.name().clone(),
                        expected_type(field.data_type()).to_owned(),
                    )
                })
                .collect();
            assert_eq!(columns, expected, "{table}");
        }
    }

    #[test]
    fn ddl_starts_with_create_database() {
        let ddl = athena_ddl(LOCATION, "security");

        assert_eq!(
            statements(&ddl)[0],
            "CREATE DATABASE IF NOT EXISTS `security`"
        );
    }

    #[test]
    fn ddl_projects_dt_partitions() {
        let ddl = athena_ddl(LOCATION, "security");

        for table in Table::ALL {
            let statement = create_table_statement(&ddl, table);
            let expected = [
                "PARTITIONED BY (`dt` date)".to_owned(),
                "STORED AS PARQUET".to_owned(),
                format!("LOCATION 's3://audit-bucket/orgscan/{table}/'"),
                "'projection.enabled' = 'true'".to_owned(),
                "'projection.dt.type' = 'date'".to_owned(),
                "'projection.dt.format' = 'yyyy-MM-dd'".to_owned(),
                "'projection.dt.range' = '2020-01-01,NOW'".to_owned(),
                "'projection.dt.interval' = '1'".to_owned(),
                "'projection.dt.interval.unit' = 'DAYS'".to_owned(),
                format!(
                    "'storage.location.template' = 's3://audit-bucket/orgscan/{table}/dt=${{dt}}/'"
                ),
            ];
            for line in expected {
                assert!(
                    statement.contains(&line),
                    "{table} lacks {line}:\n{statement}"
                );
            }
        }
    }

    #[test]
    fn ddl_ignores_trailing_slash_of_location() {
        assert_eq!(
            athena_ddl("s3://audit-bucket/orgscan/", "security"),
            athena_ddl(LOCATION, "security")
        );
    }

    #[test]
    fn latest_views_select_schema_columns_and_dt() {
        let ddl = athena_ddl(LOCATION, "security");

        for table in Table::ALL {
            let head = format!("CREATE OR REPLACE VIEW \"security\".\"{table}_latest\" AS");
            let statement = statements(&ddl)
                .into_iter()
                .find(|statement| statement.starts_with(&head))
                .unwrap_or_else(|| panic!("no latest view for {table}"));
            let select = statement
                .lines()
                .nth(1)
                .unwrap()
                .strip_prefix("SELECT ")
                .unwrap();
            let mut expected: Vec<String> = table
                .schema()
                .fields()
                .iter()
                .map(|field| format!("t.\"{}\"", field.name()))
                .collect();
            expected.push("t.\"dt\"".to_owned());

            assert_eq!(select.split(", ").collect::<Vec<_>>(), expected, "{table}");
            assert!(
                statement.contains(&format!("FROM \"security\".\"{table}\"")),
                "{statement}"
            );
            assert!(statement.contains("current_date - INTERVAL '31' DAY"), "{statement}");
        }
    }

    #[test]
    fn latest_views_follow_latest_accounts_row() {
        let ddl = athena_ddl(LOCATION, "security");
        let views: Vec<&str> = statements(&ddl)
            .into_iter()
            .filter(|statement| statement.starts_with("CREATE OR REPLACE VIEW"))
            .collect();

        assert!(views[0].starts_with("CREATE OR REPLACE VIEW \"security\".\"accounts_latest\""), "{}", views[0]);
        assert!(views[0].contains("PARTITION BY account_id ORDER BY scan_id DESC"), "{}", views[0]);
        assert!(views[0].ends_with("WHERE t.scan_rank = 1"), "{}", views[0]);
        for view in &views[1..] {
            assert!(
                view.contains("JOIN \"security\".\"accounts_latest\" a ON t.scan_id = a.scan_id AND t.account_id = a.account_id"),
                "{view}"
            );
        }
    }

    #[test]
    fn ddl_has_database_three_tables_and_three_views() {
        let ddl = athena_ddl(LOCATION, "security");

        assert_eq!(statements(&ddl).len(), 7);
    }

    #[test]
    fn ddl_escapes_quotes_in_names_and_location() {
        let ddl = athena_ddl("s3://bucket/it's", "odd`name\"db");

        assert!(
            ddl.contains("CREATE DATABASE IF NOT EXISTS `odd``name\"db`;"),
            "{ddl}"
        );
        assert!(
            ddl.contains("LOCATION 's3://bucket/it''s/findings/'"),
            "{ddl}"
        );
        assert!(
            ddl.contains("\"odd`name\"\"db\".\"findings_latest\""),
            "{ddl}"
        );
    }
}
