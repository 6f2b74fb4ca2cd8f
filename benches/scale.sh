#!/usr/bin/env bash
# Run one `orgscan scan` against benches/fake_aws on 127.0.0.1 and compare
# its wall time with the floor that the latency, the concurrency and the
# report rate limit allow. Peak RSS comes from /usr/bin/time -v.
#
# Usage: benches/scale.sh [--accounts N] [--concurrency C] [--rate R]
#            [--burst B] [--latency-ms L] [--list-latency-ms L] [--users U]
#            [--report-ready-ms T] [--results FILE]
#
# The orgscan binary is $ORGSCAN_BIN, else target/release/orgscan when it
# exists, else target/debug/orgscan (built when missing). $ORGSCAN_PROFILE
# names its build in the results when the path does not. The fake is
# $FAKE_AWS_BIN, else built with `cargo build --bench fake_aws` (the dev
# profile). Every request goes to the fake on 127.0.0.1 with dummy keys, so
# nothing leaves the machine. --report-ready-ms makes each account's report
# ready only that long after its first GenerateCredentialReport (by default
# 0, ready at once).
#
# Floors, for N accounts, concurrency C, latency L (L_list for ListAccounts),
# report time T, R report calls/s and a burst of B:
#   per account     = 3L + T
#       AssumeRole, then GenerateCredentialReport until the report is ready,
#       then GetCredentialReport, in sequence.
#   accounts floor  = L + max(ceil(N / C) * (3L + T), (k N - B) / R)
#       GetCallerIdentity comes first. The report calls pass the limiter,
#       whose bucket starts full with B tokens, and each account makes at
#       least k of them: 2 when T = 0, else 3 (STARTED, COMPLETE, the report).
#   listing floor   = L + ceil(N / 20) * L_list + 3L + T
#       ListAccounts pages of 20 come one after another; the accounts of each
#       page are scanned while later pages are listed, so only the last
#       page's accounts wait for the whole listing.
#   floor           = max(accounts floor, listing floor)
# The script prints both floors, which one binds, and wall / floor. It also
# prints the listing as the fake saw it, from the start of GetCallerIdentity
# to the end of the last ListAccounts, and the rate floor for the report
# calls that orgscan actually made, polls included.

set -euo pipefail

accounts=1000
concurrency=8
rate=20
burst=20
latency_ms=50
list_latency_ms=""
users=50
report_ready_ms=0
results=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --accounts) accounts="$2"; shift 2 ;;
        --concurrency) concurrency="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --burst) burst="$2"; shift 2 ;;
        --latency-ms) latency_ms="$2"; shift 2 ;;
        --list-latency-ms) list_latency_ms="$2"; shift 2 ;;
        --users) users="$2"; shift 2 ;;
        --report-ready-ms) report_ready_ms="$2"; shift 2 ;;
        --results) results="$2"; shift 2 ;;
        -h | --help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "scale.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
list_latency_ms="${list_latency_ms:-$latency_ms}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

# shellcheck source=benches/orgscan_bin.sh
source benches/orgscan_bin.sh
case "$orgscan" in
    */release/*) profile=release ;;
    */debug/*) profile=debug ;;
    *) profile=unknown ;;
esac
profile="${ORGSCAN_PROFILE:-$profile}"

fake="${FAKE_AWS_BIN:-}"
[[ -n "$fake" ]] || fake="$(cargo build --bench fake_aws --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "fake_aws" and message.get("executable"):
        print(message["executable"])
')"
if [[ -z "$fake" ]]; then
    echo "scale.sh: failed to build benches/fake_aws; run cargo build --bench fake_aws to see why" >&2
    exit 1
fi

workdir="$(mktemp -d /tmp/orgscan-scale.XXXXXX)"
fake_pid=""
cleanup() {
    if [[ -n "$fake_pid" ]]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

# The fake stops by itself after two hours in case this script is killed.
"$fake" --accounts "$accounts" --users "$users" --latency-ms "$latency_ms" \
    --list-latency-ms "$list_latency_ms" --report-ready-ms "$report_ready_ms" --exit-after-secs 7200 \
    >"$workdir/fake.out" 2>"$workdir/fake.err" &
fake_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$workdir/fake.out" 2>/dev/null && break
    sleep 0.1
done
endpoint="$(sed -n 's/^fake_aws listening on //p' "$workdir/fake.out")"
if [[ "$endpoint" != http://127.0.0.1:* ]]; then
    echo "scale.sh: the fake did not start:" >&2
    cat "$workdir/fake.err" >&2
    exit 1
fi

cat >"$workdir/orgscan.toml" <<EOF
[scan]
role_name = "OrgScanBench"
concurrency = $concurrency

[rate_limit]
report_calls_per_second = $rate
burst = $burst
EOF

echo "scale: $accounts accounts, concurrency $concurrency, $rate report calls/s (burst $burst)," \
    "latency ${latency_ms} ms (ListAccounts ${list_latency_ms} ms), $users users per account," \
    "reports ready after ${report_ready_ms} ms, orgscan $profile build" >&2

status=0
env -i PATH="$PATH" HOME="$workdir" \
    AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    ORGSCAN_LOG_FORMAT=json ORGSCAN_LOG_LEVEL=warn \
    /usr/bin/time -v -o "$workdir/time.txt" \
    "$orgscan" scan --config "$workdir/orgscan.toml" --output "$workdir/out" \
    >"$workdir/scan.out" 2>"$workdir/scan.err" || status=$?

stats="$(python3 -c '
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1] + "/_fake/stats", timeout=10).read().decode())
' "$endpoint")"

python3 - "$workdir" "$status" "$stats" "$accounts" "$concurrency" "$rate" "$burst" \
    "$latency_ms" "$list_latency_ms" "$users" "$profile" "$results" "$report_ready_ms" <<'PY'
import json, math, re, sys

(workdir, status, stats, accounts, concurrency, rate, burst,
 latency_ms, list_latency_ms, users, profile, results, report_ready_ms) = sys.argv[1:]
accounts, concurrency, rate, burst = int(accounts), int(concurrency), int(rate), int(burst)
latency, list_latency = int(latency_ms) / 1000, int(list_latency_ms) / 1000
ready = int(report_ready_ms) / 1000
stats = json.loads(stats)

time_text = open(f"{workdir}/time.txt").read()
def time_field(name):
    return re.search(rf"{re.escape(name)}: (.+)", time_text).group(1).strip()
clock = [float(part) for part in time_field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
wall = sum(value * 60 ** power for power, value in enumerate(reversed(clock)))
rss_mib = int(time_field("Maximum resident set size (kbytes)")) / 1024
cpu = float(time_field("User time (seconds)")) + float(time_field("System time (seconds)"))

summary = open(f"{workdir}/scan.out").read()
scanned = re.search(r"^scanned\s+(\d+)", summary, re.M)
failed = re.search(r"^failed\s+(\d+)", summary, re.M)
scanned = int(scanned.group(1)) if scanned else 0
failed = int(failed.group(1)) if failed else 0

per_account = 3 * latency + ready
concurrency_bound = math.ceil(accounts / concurrency) * per_account
min_report_calls = (2 if ready == 0 else 3) * accounts
rate_bound = max(0, min_report_calls - burst) / rate
accounts_floor = latency + max(concurrency_bound, rate_bound)
listing_floor = latency + math.ceil(accounts / 20) * list_latency + per_account
floor = max(accounts_floor, listing_floor)

# The listing's length and the report calls, as the fake counted them.
spans = stats.get("spans", {})
listing_seen = None
if "GetCallerIdentity" in spans and "ListAccounts" in spans:
    listing_seen = (spans["ListAccounts"]["last_end_ms"] - spans["GetCallerIdentity"]["first_start_ms"]) / 1000
calls = stats.get("calls", {})
report_calls = calls.get("GenerateCredentialReport", 0) + calls.get("GetCredentialReport", 0)
rate_bound_made = max(0, report_calls - burst) / rate

result = {
    "accounts": accounts, "concurrency": concurrency, "rate": rate, "burst": burst,
    "latency_ms": int(latency_ms), "list_latency_ms": int(list_latency_ms), "users": int(users),
    "report_ready_ms": int(report_ready_ms),
    "profile": profile, "exit_status": int(status), "scanned": scanned, "failed": failed,
    "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "max_rss_mib": round(rss_mib, 1),
    "floor_concurrency_s": round(concurrency_bound, 2), "floor_rate_s": round(rate_bound, 2),
    "floor_accounts_s": round(accounts_floor, 2), "floor_listing_s": round(listing_floor, 2),
    "floor_s": round(floor, 2), "floor_binding": "accounts" if accounts_floor >= listing_floor else "listing",
    "wall_over_floor": round(wall / floor, 3),
    "listing_seen_s": None if listing_seen is None else round(listing_seen, 2),
    "report_calls": report_calls, "floor_rate_for_calls_made_s": round(rate_bound_made, 2),
    "fake": stats,
}
print(json.dumps(result))
if results:
    with open(results, "a") as handle:
        handle.write(json.dumps(result) + "\n")
if scanned != accounts or failed or int(status):
    sys.stderr.write(f"scale: scan incomplete (exit {status}); its stderr:\n")
    sys.stderr.write(open(f"{workdir}/scan.err").read()[-4000:])
    sys.exit(1)
PY
