#!/usr/bin/env bash
# Runs orgscan end to end on this machine, with no AWS account: starts the
# moto AWS emulator on a free 127.0.0.1 port, seeds it with a small
# organization, scans it, and queries the Parquet output with DuckDB.
#
# The scan gets dummy keys, a loopback endpoint and empty AWS config files, so
# it cannot reach real AWS. The output stays in a temporary directory whose
# path is printed at the end. Set PYTHON to use another interpreter than python3.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
role_name=OrganizationAccountAccessRole

echo "==> installing Python dependencies if missing"
scripts/install-test-deps.sh

echo "==> building orgscan (debug)"
cargo build --quiet --bin orgscan
orgscan=target/debug/orgscan

workdir=$(mktemp -d "${TMPDIR:-/tmp}/orgscan-demo.XXXXXX")
output_dir="$workdir/data"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"

echo "==> starting moto on $endpoint (log: $workdir/moto.log)"
"$python" -m moto.server -H 127.0.0.1 -p "$port" >"$workdir/moto.log" 2>&1 &
moto_pid=$!
stop_moto() {
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
}
trap stop_moto EXIT

"$python" - "$endpoint" <<'EOF'
import sys, time, urllib.error, urllib.request

endpoint = sys.argv[1]
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"moto did not respond on {endpoint} within 60 s")
        time.sleep(0.1)
EOF

echo "==> seeding the demo organization"
"$python" tests/support/seed_org.py --endpoint "$endpoint" --preset demo --output "$workdir/seed.json"
"$python" - "$workdir/seed.json" <<'EOF'
import json, sys

seeded = json.load(open(sys.argv[1]))
for account in seeded["accounts"]:
    alarms = sum(user["expected_status"] == "alarm" for user in account["users"])
    print(f"    {account['id']}  {account['name']:<10} {len(account['users'])} users, {alarms} with a console password and no MFA")
EOF

echo "==> orgscan scan --output $output_dir --role-name $role_name"
touch "$workdir/aws-config" "$workdir/aws-credentials"
scan_env=(PATH="$PATH" HOME="$workdir")
if [[ -n "${RUST_LOG:-}" ]]; then
    scan_env+=(RUST_LOG="$RUST_LOG")
fi
scan_started=$(date +%s%N)
set +e
env -i "${scan_env[@]}" \
    AWS_CONFIG_FILE="$workdir/aws-config" \
    AWS_SHARED_CREDENTIALS_FILE="$workdir/aws-credentials" \
    AWS_EC2_METADATA_DISABLED=true \
    AWS_ENDPOINT_URL="$endpoint" \
    AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=testing \
    AWS_SECRET_ACCESS_KEY=testing \
    "$orgscan" scan --output "$output_dir" --role-name "$role_name"
scan_status=$?
set -e
scan_millis=$(( ($(date +%s%N) - scan_started) / 1000000 ))
echo "==> scan exited with status $scan_status after $((scan_millis / 1000)).$(printf '%03d' $((scan_millis % 1000))) s"
if [[ $scan_status -ne 0 && $scan_status -ne 2 ]]; then
    echo "orgscan wrote nothing; moto's log is in $workdir/moto.log" >&2
    exit "$scan_status"
fi

echo "==> DuckDB: IAM users with a console password and no MFA, by account"
"$python" - "$output_dir" <<'EOF'
import sys

import duckdb

findings = sys.argv[1] + "/findings/*/*.parquet"
duckdb.sql(
    """
    SELECT account_id, account_name, count(*) AS users_without_mfa,
           string_agg(user_name, ', ' ORDER BY user_name) AS user_names
    FROM read_parquet($findings, hive_partitioning = true)
    WHERE status = 'alarm'
    GROUP BY account_id, account_name
    ORDER BY users_without_mfa DESC, account_name
    """,
    params={"findings": findings},
).show()
EOF

echo "==> the tables stay under $output_dir"
