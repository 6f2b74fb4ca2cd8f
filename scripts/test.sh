#!/usr/bin/env bash
# Runs the test suite: installs the Python test dependencies when missing,
# then `cargo test` in the debug profile. Extra arguments go to cargo test,
# for example `scripts/test.sh --test scan_moto`.
#
# The integration tests start moto on 127.0.0.1 and give orgscan dummy keys,
# so no test sends a request off this machine. One test reads a scan's output
# with Spark (parquet-java), installed here with pyspark; it needs Java 17.
# ORGSCAN_TEST_SPARK=1 makes every test's table read use Spark too (slow).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh --spark
exec cargo test "$@"
