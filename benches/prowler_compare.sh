#!/usr/bin/env bash
# Compare orgscan with Prowler's iam_user_mfa_enabled_console_access check on
# one moto organization: benches/prowler_compare.py does the work.
#
# Usage: benches/prowler_compare.sh [--accounts N] [--role-name NAME] [--results FILE]
#
# Prowler is installed, pinned, into its own virtual environment
# ($PROWLER_VENV, default /tmp/orgscan-prowler-venv-<version>), away from the
# test dependencies; the first run prints how long the install took. python3
# must have tests/support/requirements.txt installed (moto, pyarrow). The
# orgscan binary is $ORGSCAN_BIN, else target/release/orgscan when it exists,
# else target/debug/orgscan (built when missing).

set -euo pipefail

prowler_version=5.46.0
venv="${PROWLER_VENV:-/tmp/orgscan-prowler-venv-$prowler_version}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

if [[ ! -x "$venv/bin/prowler" ]]; then
    started=$(date +%s)
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "prowler==$prowler_version"
    echo "installed prowler $prowler_version into $venv in $(($(date +%s) - started))s" >&2
fi

# shellcheck source=benches/orgscan_bin.sh
source benches/orgscan_bin.sh
echo "prowler $("$venv/bin/prowler" --version 2>/dev/null | tail -1), orgscan $orgscan" >&2

exec python3 benches/prowler_compare.py --prowler "$venv/bin/prowler" --orgscan "$orgscan" "$@"
