#!/usr/bin/env python3
"""Seed a moto server with an AWS Organization, member accounts and IAM users.

The script talks only to a loopback endpoint with dummy credentials. It prints
one JSON document that lists every account it created and, per account, every
IAM user with the status that the console-MFA control must give it.

Usage:
    seed_org.py --endpoint http://127.0.0.1:PORT --preset demo
    seed_org.py --endpoint http://127.0.0.1:PORT --preset integration
    seed_org.py --endpoint http://127.0.0.1:PORT --accounts 45
    seed_org.py --endpoint http://127.0.0.1:PORT --spec spec.json

A spec is a JSON object:

    {
      "management_users": [USER, ...],
      "accounts": [
        {"name": "prod", "ou": "workloads", "closed": false, "users": [USER, ...]}
      ]
    }

where USER is {"name": "alice", "path": "/team/", "password": true,
"mfa": false, "count": 1}. With "count" above 1 the name is a Python format
string with the field {i} (1-based), for example "svc-{i:03d}".

Users in the management account are created with the caller's own
credentials. Users in a member account are created through an assumed role in
that account, because moto picks the account's IAM data from the credentials
of each request.

Facts about moto 5.2.1 that the output depends on: the caller is account
123456789012 and becomes the management account, member account ids are
random, `close_account` moves an account to SUSPENDED at once, and AssumeRole
into any role name succeeds.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from typing import Any
from urllib.parse import urlparse

import boto3

REGION = "us-east-1"
DUMMY_KEY_ID = "testing"
DUMMY_SECRET = "testing"
SEED_ROLE_NAME = "OrgScanSeed"
CONSOLE_PASSWORD = "Seed-Passw0rd-1!"


def user(name: str, *, path: str = "/", password: bool, mfa: bool, count: int = 1) -> dict:
    return {"name": name, "path": path, "password": password, "mfa": mfa, "count": count}


def demo_spec() -> dict:
    """Five accounts and a dozen users: small enough to read the whole output."""
    return {
        "management_users": [
            user("break-glass", password=True, mfa=True),
        ],
        "accounts": [
            {
                "name": "prod",
                "ou": "workloads",
                "users": [
                    user("alice", path="/team/", password=True, mfa=False),
                    user("bob", path="/team/", password=True, mfa=True),
                    user("deploy-bot", path="/service/", password=False, mfa=False),
                ],
            },
            {
                "name": "staging",
                "ou": "workloads",
                "users": [
                    user("carol", password=True, mfa=False),
                    user("dave", password=True, mfa=True),
                    user("ci", path="/service/", password=False, mfa=False),
                ],
            },
            {
                "name": "sandbox",
                "users": [
                    user("erin", password=True, mfa=False),
                    user("frank", password=False, mfa=True),
                    user("grace", password=True, mfa=False),
                ],
            },
            {
                "name": "audit",
                "users": [
                    user("heidi", path="/security/", password=True, mfa=True),
                    user("ivan", path="/security/", password=True, mfa=True),
                ],
            },
        ],
    }


def integration_spec() -> dict:
    """Accounts that cover the cases the integration tests check.

    One member has no IAM users, one has 120 users (more than one page of
    ListUsers), users sit under `/team/`, and every password/MFA combination
    appears. One member is closed, so it is SUSPENDED and must not be scanned.
    """
    return {
        "management_users": [
            user("admin", password=True, mfa=False),
        ],
        "accounts": [
            {"name": "empty", "users": []},
            {
                "name": "bulk",
                "ou": "workloads",
                "users": [
                    user("bulk-alarm-{i:03d}", password=True, mfa=False, count=40),
                    user("bulk-mfa-{i:03d}", path="/team/", password=True, mfa=True, count=40),
                    user("bulk-api-{i:03d}", path="/service/", password=False, mfa=False, count=40),
                ],
            },
            {
                "name": "team",
                "ou": "workloads",
                "users": [
                    user("alice", path="/team/", password=True, mfa=False),
                    user("bob", path="/team/", password=True, mfa=True),
                    user("carol", path="/team/platform/", password=False, mfa=True),
                    user("dave", path="/team/", password=False, mfa=False),
                ],
            },
            {
                "name": "mixed",
                "users": [
                    user("erin", password=True, mfa=False),
                    user("frank", password=True, mfa=True),
                    user("grace", password=False, mfa=False),
                ],
            },
            {
                "name": "single-alarm",
                "users": [
                    user("heidi", password=True, mfa=False),
                ],
            },
            {
                "name": "closed",
                "closed": True,
                "users": [
                    user("mallory", password=True, mfa=False),
                ],
            },
        ],
    }


def many_accounts_spec(account_count: int) -> dict:
    """`account_count` member accounts with one user each, for ListAccounts paging."""
    accounts = []
    for index in range(1, account_count + 1):
        has_mfa = index % 2 == 0
        accounts.append(
            {
                "name": f"member-{index:03d}",
                "users": [user(f"user-{index:03d}", password=True, mfa=has_mfa)],
            }
        )
    return {"management_users": [], "accounts": accounts}


PRESETS = {
    "demo": demo_spec,
    "integration": integration_spec,
}


def require_loopback(endpoint: str) -> None:
    """Reject any endpoint that is not on this machine."""
    host = urlparse(endpoint).hostname
    if host is None:
        raise SystemExit(f"invalid endpoint {endpoint!r}: expected http://127.0.0.1:PORT")
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise SystemExit(f"endpoint host {host!r} is not a loopback address") from None
    if not address.is_loopback:
        raise SystemExit(f"endpoint host {host!r} is not a loopback address")


def client(service: str, endpoint: str, credentials: dict | None = None) -> Any:
    if credentials is None:
        keys = {"aws_access_key_id": DUMMY_KEY_ID, "aws_secret_access_key": DUMMY_SECRET}
    else:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **keys)


def expand_users(user_specs: list[dict]) -> list[dict]:
    """Turn spec entries with a `count` into one entry per user."""
    users = []
    for spec in user_specs:
        count = spec.get("count", 1)
        for index in range(1, count + 1):
            name = spec["name"].format(i=index) if count > 1 else spec["name"]
            users.append(
                {
                    "name": name,
                    "path": spec.get("path", "/"),
                    "password": bool(spec.get("password", False)),
                    "mfa": bool(spec.get("mfa", False)),
                }
            )
    return users


def create_users(iam: Any, user_specs: list[dict]) -> list[dict]:
    """Create users, console passwords and enabled virtual MFA devices."""
    created = []
    for spec in expand_users(user_specs):
        name = spec["name"]
        arn = iam.create_user(UserName=name, Path=spec["path"])["User"]["Arn"]

        if spec["password"]:
            iam.create_login_profile(UserName=name, Password=CONSOLE_PASSWORD)

        if spec["mfa"]:
            device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
            iam.enable_mfa_device(
                UserName=name,
                SerialNumber=device["VirtualMFADevice"]["SerialNumber"],
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )

        expected = "alarm" if spec["password"] and not spec["mfa"] else "ok"
        created.append(
            {
                "user_name": name,
                "path": spec["path"],
                "arn": arn,
                "password": spec["password"],
                "mfa": spec["mfa"],
                "expected_status": expected,
            }
        )
    return created


def member_iam(endpoint: str, account_id: str) -> Any:
    """Return an IAM client that acts inside `account_id` through AssumeRole."""
    sts = client("sts", endpoint)
    role_arn = f"arn:aws:iam::{account_id}:role/{SEED_ROLE_NAME}"
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="seed-org")["Credentials"]
    return client("iam", endpoint, credentials)


def organizational_unit(org: Any, root_id: str, name: str, cache: dict[str, str]) -> str:
    if name not in cache:
        response = org.create_organizational_unit(ParentId=root_id, Name=name)
        cache[name] = response["OrganizationalUnit"]["Id"]
    return cache[name]


def seed(endpoint: str, spec: dict) -> dict:
    """Create the organization that `spec` describes and return what was created."""
    org = client("organizations", endpoint)
    organization = org.create_organization(FeatureSet="ALL")["Organization"]
    management_id = organization["MasterAccountId"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_ids: dict[str, str] = {}

    management = org.describe_account(AccountId=management_id)["Account"]
    management_users = create_users(client("iam", endpoint), spec.get("management_users", []))
    accounts = [
        {
            "id": management_id,
            "name": management["Name"],
            "status": "ACTIVE",
            "management": True,
            "ou": None,
            "ou_id": root_id,
            "users": management_users,
        }
    ]

    for account_spec in spec.get("accounts", []):
        name = account_spec["name"]
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")
        account_id = status["CreateAccountStatus"]["AccountId"]

        parent_id = root_id
        ou_name = account_spec.get("ou")
        if ou_name:
            parent_id = organizational_unit(org, root_id, ou_name, ou_ids)
            org.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=parent_id)

        users = create_users(member_iam(endpoint, account_id), account_spec.get("users", []))

        account_status = "ACTIVE"
        if account_spec.get("closed", False):
            org.close_account(AccountId=account_id)
            account_status = org.describe_account(AccountId=account_id)["Account"]["Status"]

        accounts.append(
            {
                "id": account_id,
                "name": name,
                "status": account_status,
                "management": False,
                "ou": ou_name,
                "ou_id": parent_id,
                "users": users,
            }
        )

    return {
        "endpoint": endpoint,
        "organization_id": organization["Id"],
        "management_account_id": management_id,
        "root_id": root_id,
        "organizational_units": ou_ids,
        "accounts": accounts,
    }


def load_spec(args: argparse.Namespace) -> dict:
    if args.preset:
        return PRESETS[args.preset]()
    if args.accounts is not None:
        if args.accounts < 1:
            raise SystemExit(f"invalid --accounts {args.accounts}: expected 1 or more")
        return many_accounts_spec(args.accounts)
    with open(args.spec, encoding="utf-8") as spec_file:
        return json.load(spec_file)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="moto server URL on loopback, e.g. http://127.0.0.1:5000")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=sorted(PRESETS), help="a built-in organization")
    source.add_argument("--accounts", type=int, metavar="N", help="N member accounts with one user each")
    source.add_argument("--spec", metavar="FILE", help="JSON spec of the organization")
    parser.add_argument("--output", metavar="FILE", help="write the JSON here instead of stdout")
    args = parser.parse_args()

    require_loopback(args.endpoint)
    created = seed(args.endpoint, load_spec(args))

    document = json.dumps(created, indent=2)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as output_file:
            output_file.write(document + "\n")
    else:
        print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
