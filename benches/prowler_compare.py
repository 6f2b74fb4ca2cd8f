#!/usr/bin/env python3
"""Compare orgscan's console-MFA verdicts with Prowler's on one moto organization.

The script starts moto on 127.0.0.1, seeds an organization with
tests/support/seed_org.py, runs Prowler's iam_user_mfa_enabled_console_access
check once per account through `-R arn:aws:iam::<id>:role/<name>` (Prowler's
multi-account method), runs one `orgscan scan`, and compares the verdict on
every IAM user. Prowler skips the root row, and moto's report has none.

Every process gets dummy keys and AWS_ENDPOINT_URL pointing at the local
moto server. Prowler 5.46 passes AWS_ENDPOINT_URL to its STS client itself
and builds its other clients with boto3, whose botocore (1.40) reads the
variable too.

Run it through benches/prowler_compare.sh, which installs Prowler in its own
virtual environment. This interpreter needs the test dependencies
(tests/support/requirements.txt: moto, boto3, pyarrow).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.dataset

REPO = Path(__file__).resolve().parent.parent
SEED_SCRIPT = REPO / "tests" / "support" / "seed_org.py"
CHECK = "iam_user_mfa_enabled_console_access"
CONTROL_ID = "cis_v120_1_2"
REGION = "us-east-1"
MOTO_START_SECONDS = 60
PROWLER_TIMEOUT_SECONDS = 600
ORGSCAN_TIMEOUT_SECONDS = 600

# Prowler's status for each orgscan status of this control.
PROWLER_STATUS = {"ok": "PASS", "alarm": "FAIL"}


def user(name: str, *, path: str = "/", password: bool, mfa: bool) -> dict:
    return {"name": name, "path": path, "password": password, "mfa": mfa}


def organization_spec(member_accounts: int) -> dict:
    """Member accounts whose users cover every password and MFA combination."""
    accounts = []
    for index in range(1, member_accounts + 1):
        users = [
            user(f"console-no-mfa-{index:02d}", password=True, mfa=False),
            user(f"console-mfa-{index:02d}", path="/team/", password=True, mfa=True),
            user(f"api-only-{index:02d}", path="/service/", password=False, mfa=False),
            user(f"mfa-no-console-{index:02d}", password=False, mfa=True),
        ]
        # A few accounts get more users, so the accounts differ in size.
        users += [user(f"extra-{index:02d}-{n}", password=n % 2 == 0, mfa=n % 3 == 0) for n in range(index % 4)]
        accounts.append({"name": f"member-{index:02d}", "users": users})
    return {"management_users": [user("admin", password=True, mfa=False)], "accounts": accounts}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def aws_environment(endpoint: str, home: Path) -> dict:
    """Build a clean environment: dummy keys, the loopback endpoint and no config files."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def start_moto(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(workdir / "moto.log", "w")
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)},
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + MOTO_START_SECONDS
    while time.monotonic() < deadline:
        if moto.poll() is not None:
            raise SystemExit(f"moto exited with {moto.returncode}; see {workdir / 'moto.log'}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return moto, endpoint
        except urllib.error.HTTPError:
            return moto, endpoint
        except OSError:
            time.sleep(0.2)
    moto.kill()
    raise SystemExit(f"moto did not respond on {endpoint} within {MOTO_START_SECONDS}s")


def seed(endpoint: str, workdir: Path, member_accounts: int) -> dict:
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(organization_spec(member_accounts)))
    output = subprocess.run(
        [sys.executable, str(SEED_SCRIPT), "--endpoint", endpoint, "--spec", str(spec_path)],
        check=True,
        capture_output=True,
        text=True,
        env=aws_environment(endpoint, workdir),
    )
    return json.loads(output.stdout)


def run_prowler(prowler: str, endpoint: str, workdir: Path, account_id: str, role_name: str) -> list[dict]:
    """Run the check in one account and return Prowler's OCSF findings."""
    output_dir = workdir / "prowler"
    name = f"account-{account_id}"
    command = [
        prowler, "aws",
        "--checks", CHECK,
        "--role", f"arn:aws:iam::{account_id}:role/{role_name}",
        "--region", REGION,
        "--output-formats", "json-ocsf",
        "--output-directory", str(output_dir),
        "--output-filename", name,
        "--no-banner",
        "--ignore-exit-code-3",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=aws_environment(endpoint, workdir),
        timeout=PROWLER_TIMEOUT_SECONDS,
    )
    (workdir / f"prowler-{account_id}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(
            f"prowler failed in account {account_id} with exit code {result.returncode}; "
            f"see {workdir / f'prowler-{account_id}.log'}"
        )
    return json.loads((output_dir / f"{name}.ocsf.json").read_text())


def run_orgscan(orgscan: str, endpoint: str, workdir: Path, role_name: str) -> pyarrow.Table:
    output_dir = workdir / "orgscan"
    env = aws_environment(endpoint, workdir) | {"ORGSCAN_LOG_FORMAT": "json", "ORGSCAN_LOG_LEVEL": "warn"}
    result = subprocess.run(
        [orgscan, "scan", "--output", str(output_dir), "--role-name", role_name],
        capture_output=True,
        text=True,
        env=env,
        timeout=ORGSCAN_TIMEOUT_SECONDS,
    )
    (workdir / "orgscan.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"orgscan failed with exit code {result.returncode}; see {workdir / 'orgscan.log'}")
    return pyarrow.dataset.dataset(output_dir / "findings", format="parquet", partitioning="hive").to_table()


def compare(seeded: dict, prowler_findings: dict[str, list[dict]], orgscan_findings: pyarrow.Table) -> int:
    """Print every disagreement and the totals, and return the disagreement count."""
    prowler = {}
    for account_id, findings in prowler_findings.items():
        for finding in findings:
            prowler[(account_id, finding["resources"][0]["uid"])] = finding["status_code"]

    orgscan = {}
    for row in orgscan_findings.to_pylist():
        if row["control_id"] == CONTROL_ID and not row["resource"].endswith(":root"):
            orgscan[(row["account_id"], row["resource"])] = PROWLER_STATUS.get(row["status"], row["status"])

    expected = {}
    for account in seeded["accounts"]:
        for seeded_user in account["users"]:
            expected[(account["id"], seeded_user["arn"])] = PROWLER_STATUS[seeded_user["expected_status"]]

    disagreements = 0
    for key in sorted(set(prowler) | set(orgscan) | set(expected)):
        verdicts = (prowler.get(key, "missing"), orgscan.get(key, "missing"), expected.get(key, "missing"))
        if len(set(verdicts)) > 1:
            disagreements += 1
            print(f"DISAGREE account {key[0]} {key[1]}: prowler {verdicts[0]}, orgscan {verdicts[1]}, seeded {verdicts[2]}")

    fails = sum(status == "FAIL" for status in orgscan.values())
    print(
        f"users compared: {len(expected)} seeded, {len(prowler)} from prowler, {len(orgscan)} from orgscan; "
        f"{fails} FAIL (alarm), {len(orgscan) - fails} PASS (ok); disagreements: {disagreements}"
    )
    return disagreements


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prowler", required=True, help="path of the prowler executable")
    parser.add_argument("--orgscan", required=True, help="path of the orgscan binary")
    parser.add_argument("--accounts", type=int, default=10, help="member accounts, besides the management account")
    parser.add_argument("--role-name", default="OrgScanReadOnly", help="role assumed in each account")
    parser.add_argument("--results", help="append the result as one JSON line to this file")
    args = parser.parse_args()
    if args.accounts < 1:
        raise SystemExit(f"invalid --accounts {args.accounts}: expected 1 or more")

    with tempfile.TemporaryDirectory(prefix="orgscan-prowler-") as workdir_name:
        workdir = Path(workdir_name)
        moto, endpoint = start_moto(workdir)
        try:
            seeded = seed(endpoint, workdir, args.accounts)
            account_ids = [account["id"] for account in seeded["accounts"]]
            print(f"seeded {len(account_ids)} accounts on {endpoint}")

            started = time.monotonic()
            prowler_findings = {}
            for account_id in account_ids:
                prowler_findings[account_id] = run_prowler(args.prowler, endpoint, workdir, account_id, args.role_name)
            prowler_seconds = time.monotonic() - started
            print(f"prowler: {len(account_ids)} runs in {prowler_seconds:.1f}s")

            started = time.monotonic()
            orgscan_findings = run_orgscan(args.orgscan, endpoint, workdir, args.role_name)
            orgscan_seconds = time.monotonic() - started
            print(f"orgscan: one scan in {orgscan_seconds:.1f}s")

            disagreements = compare(seeded, prowler_findings, orgscan_findings)
            ratio = prowler_seconds / orgscan_seconds
            print(f"wall time ratio prowler / orgscan: {ratio:.1f}")
        finally:
            moto.terminate()
            moto.wait(timeout=30)

    if args.results:
        result = {
            "accounts": len(account_ids),
            "users": sum(len(account["users"]) for account in seeded["accounts"]),
            "prowler_s": round(prowler_seconds, 1),
            "orgscan_s": round(orgscan_seconds, 2),
            "ratio": round(ratio, 1),
            "disagreements": disagreements,
        }
        with open(args.results, "a") as handle:
            handle.write(json.dumps(result) + "\n")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
