//! The output read by parquet-java, the reader behind Hive, Spark, Trino and
//! Athena, through Spark: the same row and non-null counts as pyarrow and
//! DuckDB for every table of a real scan.

mod common;

use common::{Moto, Seed, describe_output, read_tables_with, run_orgscan, seed};

#[test]
fn spark_reads_scan_output() {
    let moto = Moto::start();
    seed(&moto, Seed::Preset("integration"));
    let output_dir = tempfile::tempdir().unwrap();

    let args = ["scan", "--output", output_dir.path().to_str().unwrap(), "--role-name", "OrgScanRole", "--log-format", "json"];
    let output = run_orgscan(&args, &moto.env());
    assert_eq!(output.status.code(), Some(0), "scan failed:\n{}", describe_output(&output));

    // read_tables.py fails when Spark's counts differ from pyarrow's; these checks make the counts visible.
    let tables = read_tables_with(output_dir.path(), true);
    for table in ["findings", "credential_report", "accounts"] {
        let counts = &tables[table]["row_counts"];
        assert!(counts["spark"].is_u64(), "{table}: Spark did not read the table: {counts}");
        assert_eq!(counts["spark"], counts["pyarrow"], "{table}: {counts}");
        assert_eq!(counts["duckdb"], counts["pyarrow"], "{table}: {counts}");
        assert!(counts["pyarrow"].as_u64().unwrap() > 0, "{table} is empty: {counts}");
    }
}
