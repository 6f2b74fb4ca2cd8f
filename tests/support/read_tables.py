#!/usr/bin/env python3
"""Read orgscan's Parquet tables with two independent readers and compare them.

For each table (findings, credential_report, accounts) under an output
directory, every `TABLE/dt=YYYY-MM-DD/*.parquet` file is read with pyarrow and
with DuckDB. The script exits with status 1 when the two readers disagree on
any file's row count or row values, and otherwise prints one JSON document:

    {
      "findings": {
        "files": ["findings/dt=2026-01-31/<scan_id>.parquet", ...],
        "schema": [{"name": "scan_id", "type": "string"}, ...],
        "row_counts": {"pyarrow": 12, "duckdb": 12},
        "rows": [{"scan_id": "...", "scanned_at": "2026-01-31T10:00:00.000Z", ...}]
      },
      ...
    }

Timestamps are ISO 8601 strings in UTC with milliseconds and a `Z`. `schema`
is pyarrow's view of the first file. The partition key `dt` appears only in
`files`, as in the layout orgscan writes.

With `--with-spark` the tables are also read by Spark (parquet-java) from the
`pyspark` package, and its row count and per-column non-null counts must match
pyarrow's. `row_counts` then has a `spark` entry too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

TABLES = ("findings", "credential_report", "accounts")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class ReaderMismatch(Exception):
    """Two Parquet readers returned different data for the same file."""


def table_files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).glob("dt=*/*.parquet"))


def iso_from_epoch_ms(value: int | None) -> str | None:
    if value is None:
        return None
    moment = EPOCH + dt.timedelta(milliseconds=value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def read_with_pyarrow(path: Path) -> tuple[pa.Schema, list[dict]]:
    """Read one file, with timestamp columns as epoch milliseconds."""
    table = pq.read_table(path)
    columns = {}
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type):
            as_millis = column.cast(pa.timestamp("ms", tz=field.type.tz), safe=False)
            column = as_millis.cast(pa.int64())
        columns[field.name] = column
    return table.schema, pa.table(columns).to_pylist()


def read_with_duckdb(connection: duckdb.DuckDBPyConnection, path: Path) -> list[dict]:
    """Read one file, with timestamp columns as epoch milliseconds."""
    description = connection.execute("DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(path)]).fetchall()
    selections = []
    for name, column_type, *_ in description:
        quoted = '"' + name.replace('"', '""') + '"'
        if column_type.startswith("TIMESTAMP"):
            selections.append(f"epoch_ms({quoted}) AS {quoted}")
        else:
            selections.append(quoted)

    query = f"SELECT {', '.join(selections)} FROM read_parquet(?, hive_partitioning = false)"
    cursor = connection.execute(query, [str(path)])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def canonical(rows: list[dict]) -> list[str]:
    """Sort rows into a form that compares equal whatever order a reader used."""
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)


def timestamp_columns(schema: pa.Schema) -> set[str]:
    return {field.name for field in schema if pa.types.is_timestamp(field.type)}


def read_table(root: Path, table: str, connection: duckdb.DuckDBPyConnection) -> dict:
    files = table_files(root, table)
    schema = None
    rows: list[dict] = []
    duckdb_count = 0

    for path in files:
        file_schema, arrow_rows = read_with_pyarrow(path)
        duck_rows = read_with_duckdb(connection, path)
        if len(arrow_rows) != len(duck_rows):
            raise ReaderMismatch(f"{path}: pyarrow read {len(arrow_rows)} rows, DuckDB read {len(duck_rows)}")
        if canonical(arrow_rows) != canonical(duck_rows):
            raise ReaderMismatch(f"{path}: pyarrow and DuckDB read {len(arrow_rows)} rows with different values")

        if schema is None:
            schema = file_schema
        converted = timestamp_columns(file_schema)
        for row in arrow_rows:
            rows.append({name: iso_from_epoch_ms(value) if name in converted else value for name, value in row.items()})
        duckdb_count += len(duck_rows)

    schema_fields = [] if schema is None else [{"name": field.name, "type": str(field.type)} for field in schema]
    return {
        "files": [str(path.relative_to(root)) for path in files],
        "schema": schema_fields,
        "row_counts": {"pyarrow": len(rows), "duckdb": duckdb_count},
        "rows": rows,
    }


def non_null_counts(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            counts[name] = counts.get(name, 0) + (value is not None)
    return counts


def check_with_spark(root: Path, result: dict) -> None:
    """Read each table with Spark and compare counts with pyarrow's."""
    # Spark binds its driver to loopback only, because it needs no other address.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions

    started = time.monotonic()
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("orgscan-read-tables")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"spark: session started in {time.monotonic() - started:.1f} s", file=sys.stderr)

    try:
        for table, entry in result.items():
            read_started = time.monotonic()
            if not entry["files"]:
                entry["row_counts"]["spark"] = 0
                continue

            frame = spark.read.parquet(str(root / table))
            file_columns = [field["name"] for field in entry["schema"]]
            aggregates = [functions.count(functions.lit(1)).alias("__rows")]
            aggregates += [functions.count(functions.col(f"`{name}`")).alias(name) for name in file_columns]
            counts = frame.agg(*aggregates).collect()[0].asDict()

            spark_rows = counts.pop("__rows")
            entry["row_counts"]["spark"] = spark_rows
            if spark_rows != entry["row_counts"]["pyarrow"]:
                raise ReaderMismatch(f"{table}: Spark read {spark_rows} rows, pyarrow read {entry['row_counts']['pyarrow']}")
            expected = non_null_counts(entry["rows"])
            for name in file_columns:
                if counts[name] != expected.get(name, 0):
                    raise ReaderMismatch(
                        f"{table}.{name}: Spark counted {counts[name]} non-null values, pyarrow {expected.get(name, 0)}"
                    )
            print(f"spark: read {table} in {time.monotonic() - read_started:.1f} s", file=sys.stderr)
    finally:
        spark.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="orgscan output directory (the value of --output)")
    parser.add_argument("--with-spark", action="store_true", help="also read every table with Spark (needs pyspark and Java 17)")
    args = parser.parse_args()

    root = Path(args.root)
    if not root.is_dir():
        print(f"output directory {root} not found", file=sys.stderr)
        return 1

    connection = duckdb.connect()
    try:
        result = {table: read_table(root, table, connection) for table in TABLES}
        if args.with_spark:
            check_with_spark(root, result)
    except ReaderMismatch as mismatch:
        print(f"Parquet readers disagree: {mismatch}", file=sys.stderr)
        return 1

    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
