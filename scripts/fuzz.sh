#!/usr/bin/env bash
# Fuzzes the credential report parser (orgscan::report::parse_report) with
# cargo-fuzz and libFuzzer for MINUTES minutes (default 5).
#
#   scripts/fuzz.sh [MINUTES]
#
# The seed corpus is the report fixtures under tests/fixtures. New inputs
# go to fuzz/corpus/parse_report and crashes to fuzz/artifacts/parse_report,
# both ignored by git. Turn each crash into a case in
# tests/parser_regressions.rs.
#
# The fuzz crate has its own workspace (fuzz/Cargo.toml), so the normal
# build and CI never compile it. It builds in the dev profile into
# target/fuzz, apart from the test build.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-5}"
if ! [[ "$minutes" =~ ^[1-9][0-9]*$ ]]; then
    echo "invalid MINUTES '$minutes': expected a positive whole number" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing; installing it from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

corpus=fuzz/corpus/parse_report
mkdir -p "$corpus"
cp tests/fixtures/*.csv "$corpus"/

# cargo-fuzz passes unstable rustc flags (-Zsanitizer and the coverage
# passes). RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1

exec cargo fuzz run --dev --target-dir target/fuzz parse_report "$corpus" -- \
    -max_total_time="$((minutes * 60))" \
    -rss_limit_mb=4096 \
    -print_final_stats=1
