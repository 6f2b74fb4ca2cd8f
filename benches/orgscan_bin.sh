# shellcheck shell=bash disable=SC2034
# Sourced by the bench scripts from the repository root. Sets `orgscan` to
# the binary to measure: $ORGSCAN_BIN, else target/release/orgscan when it
# exists, else target/debug/orgscan, built when missing.

if [[ -n "${ORGSCAN_BIN:-}" ]]; then
    orgscan="$ORGSCAN_BIN"
elif [[ -x target/release/orgscan ]]; then
    orgscan="$PWD/target/release/orgscan"
else
    [[ -x target/debug/orgscan ]] || cargo build --bin orgscan >&2
    orgscan="$PWD/target/debug/orgscan"
fi
