#!/usr/bin/env bash
# Runs the test suite: installs the Python test dependencies when missing,
# then `cargo test` in the debug profile. Extra arguments go to cargo test,
# for example `scripts/test.sh --test scan_moto`.
#
# The integration tests start moto on 127.0.0.1 and give orgscan dummy keys,
# so no test sends a request off this machine. ORGSCAN_TEST_SPARK=1 also reads
# every table with Spark, which needs `pip install pyspark` and Java 17.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh --spark
exec cargo test "$@"
