"""Offline consistency checks of the files under deploy/.

The schema checks (kubernetes-validate, cfn-lint, hadolint) run in check.sh.
This script checks what no schema can: the least-privilege IAM policies, the
settings that must agree between the Kubernetes manifests and the IAM
templates, the pod hardening of every workload, and that no real-looking
AWS account id is committed.

Usage: python check_manifests.py REPO_ROOT
Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path

import yaml

# The account id that the AWS documentation uses in examples. Every other
# 12-digit number in deploy/ is treated as a real account id.
PLACEHOLDER_ACCOUNT_ID = "111122223333"
ACCOUNT_ID_PATTERN = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")

# Actions per statement of the scanner policy, in scanner-policy.json and in
# scanner-role.cfn.yaml alike.
SCANNER_ACTIONS = {
    "ReadOrganization": {
        "sts:GetCallerIdentity",
        "organizations:ListAccounts",
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
    },
    "AssumeMemberRole": {"sts:AssumeRole"},
    "ReadOwnAccountCredentialReport": {
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
    },
    "ListOutputPrefix": {"s3:ListBucket"},
    "WriteOutput": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "DeleteWriteProbe": {"s3:DeleteObject"},
}
MEMBER_ACTIONS = {"iam:GenerateCredentialReport", "iam:GetCredentialReport"}
PROBE_PREFIX = "_orgscan_probe"

CONFIG_MOUNT = "/etc/orgscan"
CONFIG_PATH = f"{CONFIG_MOUNT}/orgscan.toml"
CONTAINER_NAME = "orgscan"
SERVICE_ACCOUNT = "orgscan"
METRICS_PORT = 9090


class Problems:
    """A list of problems, so that one run reports all of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.messages.append(f"{where}: {message}")

    def require(self, condition: bool, where: str, message: str) -> bool:
        if not condition:
            self.add(where, message)
        return condition


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation short-form tags (!Ref, !Sub, ...)."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)

    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parameter_default(template: dict, name: str) -> str | None:
    return template.get("Parameters", {}).get(name, {}).get("Default")


# --- IAM policies -----------------------------------------------------------


def check_policy_document(problems: Problems, where: str, document: object) -> dict[str, set[str]]:
    """Check the shape of an identity policy and return its actions per Sid."""
    actions_by_sid: dict[str, set[str]] = {}
    if not problems.require(isinstance(document, dict), where, "policy document is not a JSON object"):
        return actions_by_sid

    problems.require(document.get("Version") == "2012-10-17", where, 'Version must be "2012-10-17"')
    statements = as_list(document.get("Statement"))
    problems.require(bool(statements), where, "policy has no Statement")

    for index, statement in enumerate(statements):
        sid = statement.get("Sid", f"#{index}")
        place = f"{where} statement {sid}"
        problems.require(statement.get("Effect") == "Allow", place, 'Effect must be "Allow"')
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            problems.require(key not in statement, place, f"{key} grants more than it names; list actions instead")
        problems.require("Resource" in statement, place, "Resource is missing")

        actions = as_list(statement.get("Action"))
        problems.require(bool(actions), place, "Action is missing")
        for action in actions:
            if not isinstance(action, str):
                problems.add(place, f"Action {action!r} is not a string")
            elif "*" in action:
                problems.add(place, f'Action "{action}" contains a wildcard; name each action')
        actions_by_sid[sid] = {action for action in actions if isinstance(action, str)}

    return actions_by_sid


def check_scanner_actions(problems: Problems, where: str, actions_by_sid: dict[str, set[str]]) -> None:
    problems.require(
        set(actions_by_sid) == set(SCANNER_ACTIONS),
        where,
        f"statements are {sorted(actions_by_sid)}, expected {sorted(SCANNER_ACTIONS)}",
    )
    for sid, expected in SCANNER_ACTIONS.items():
        actual = actions_by_sid.get(sid)
        if actual is not None:
            problems.require(
                actual == expected,
                f"{where} statement {sid}",
                f"actions are {sorted(actual)}, expected {sorted(expected)}",
            )


def statement_by_sid(document: dict, sid: str) -> dict:
    for statement in as_list(document.get("Statement")):
        if statement.get("Sid") == sid:
            return statement
    return {}


def check_scanner_policy_json(problems: Problems, path: Path) -> dict:
    where = str(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        problems.add(where, f"invalid JSON: {error}")
        return {}

    check_scanner_actions(problems, where, check_policy_document(problems, where, document))

    assume = statement_by_sid(document, "AssumeMemberRole")
    problems.require(
        re.fullmatch(r"arn:aws:iam::\*:role/[\w+=,.@-]+", str(assume.get("Resource", ""))) is not None,
        f"{where} statement AssumeMemberRole",
        "Resource must be arn:aws:iam::*:role/<member role name>, one role name in every account",
    )

    probe = str(statement_by_sid(document, "DeleteWriteProbe").get("Resource", ""))
    problems.require(
        probe.endswith(f"/{PROBE_PREFIX}/*"),
        f"{where} statement DeleteWriteProbe",
        f"s3:DeleteObject must be limited to <prefix>/{PROBE_PREFIX}/*",
    )
    return document


def check_member_role_template(problems: Problems, path: Path, template: dict) -> None:
    where = str(path)
    for name in ("ScannerRoleArn", "ExternalId", "RoleName"):
        problems.require(name in template.get("Parameters", {}), where, f"parameter {name} is missing")
    problems.require("RoleArn" in template.get("Outputs", {}), where, "output RoleArn is missing")

    roles = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::IAM::Role"]
    if not problems.require(len(roles) == 1, where, "expected exactly one AWS::IAM::Role"):
        return
    properties = roles[0].get("Properties", {})

    trust = properties.get("AssumeRolePolicyDocument", {})
    statements = as_list(trust.get("Statement"))
    problems.require(len(statements) == 1, where, "the trust policy must have one statement")
    for statement in statements:
        problems.require(
            statement.get("Principal") == {"AWS": {"Ref": "ScannerRoleArn"}},
            where,
            "the trust policy must name only the ScannerRoleArn parameter as principal",
        )
        problems.require(statement.get("Action") == "sts:AssumeRole", where, "the trust policy must allow sts:AssumeRole")
        external_id = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        problems.require(
            external_id == {"Ref": "ExternalId"},
            where,
            "the trust policy must require sts:ExternalId equal to the ExternalId parameter",
        )

    policies = as_list(properties.get("Policies"))
    problems.require(not properties.get("ManagedPolicyArns"), where, "the role must have no managed policies")
    actions: set[str] = set()
    for policy in policies:
        name = policy.get("PolicyName", "?")
        for sid_actions in check_policy_document(problems, f"{where} policy {name}", policy.get("PolicyDocument")).values():
            actions |= sid_actions
    problems.require(actions == MEMBER_ACTIONS, where, f"actions are {sorted(actions)}, expected {sorted(MEMBER_ACTIONS)}")


def substitute_placeholders(text: str) -> str:
    """Replace every ${Name} of an Fn::Sub string with a fixed example value."""
    return re.sub(r"\$\{[^}]+\}", "example", text)


def check_scanner_role_template(problems: Problems, path: Path, template: dict) -> None:
    where = str(path)
    for name in ("OidcProvider", "Namespace", "ServiceAccountName", "RoleName", "MemberRoleName", "OutputBucket"):
        problems.require(name in template.get("Parameters", {}), where, f"parameter {name} is missing")
    problems.require("ScannerRoleArn" in template.get("Outputs", {}), where, "output ScannerRoleArn is missing")

    roles = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::IAM::Role"]
    if not problems.require(len(roles) == 1, where, "expected exactly one AWS::IAM::Role"):
        return
    properties = roles[0].get("Properties", {})

    # cfn-lint does not look inside an Fn::Sub string, so the trust policy is
    # parsed here with its placeholders filled in.
    trust_source = properties.get("AssumeRolePolicyDocument", {}).get("Fn::Sub")
    if problems.require(isinstance(trust_source, str), where, "AssumeRolePolicyDocument must be an Fn::Sub JSON string"):
        try:
            trust = json.loads(substitute_placeholders(trust_source))
        except json.JSONDecodeError as error:
            problems.add(where, f"the trust policy is not valid JSON: {error}")
            trust = {}
        statements = as_list(trust.get("Statement"))
        problems.require(len(statements) == 1, where, "the trust policy must have one statement")
        for statement in statements:
            problems.require(statement.get("Effect") == "Allow", where, 'the trust policy Effect must be "Allow"')
            problems.require(
                statement.get("Action") == "sts:AssumeRoleWithWebIdentity",
                where,
                "the trust policy must allow only sts:AssumeRoleWithWebIdentity",
            )
            problems.require(
                "oidc-provider/" in str(statement.get("Principal", {}).get("Federated", "")),
                where,
                "the trust policy principal must be the cluster's OIDC provider",
            )
            condition = statement.get("Condition", {}).get("StringEquals", {})
            problems.require(
                condition.get("example:sub") == "system:serviceaccount:example:example",
                where,
                "the trust policy must require <issuer>:sub = system:serviceaccount:<namespace>:<name>",
            )
            problems.require(
                condition.get("example:aud") == "sts.amazonaws.com",
                where,
                "the trust policy must require <issuer>:aud = sts.amazonaws.com",
            )

    problems.require(not properties.get("ManagedPolicyArns"), where, "the role must have no managed policies")
    policies = as_list(properties.get("Policies"))
    if problems.require(len(policies) == 1, where, "expected one inline policy"):
        document = policies[0].get("PolicyDocument")
        actions_by_sid = check_policy_document(problems, f"{where} policy", document)
        check_scanner_actions(problems, f"{where} policy", actions_by_sid)


# --- Kubernetes manifests ---------------------------------------------------


def load_manifests(problems: Problems, directory: Path) -> dict[Path, list[dict]]:
    manifests: dict[Path, list[dict]] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        except yaml.YAMLError as error:
            problems.add(str(path), f"invalid YAML: {error}")
            continue
        manifests[path] = documents
    return manifests


def pod_spec_of(resource: dict) -> dict:
    kind = resource.get("kind")
    spec = resource.get("spec", {})
    if kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    if kind in ("Job", "Deployment"):
        return spec.get("template", {}).get("spec", {})
    return {}


def option_value(args: list[str], flag: str) -> str | None:
    """Return the value after `flag` or in `flag=value`."""
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def check_pod_spec(problems: Problems, where: str, pod: dict) -> dict:
    """Check the hardening shared by every workload and return the orgscan container."""
    problems.require(pod.get("serviceAccountName") == SERVICE_ACCOUNT, where, f"serviceAccountName must be {SERVICE_ACCOUNT}")
    problems.require(pod.get("automountServiceAccountToken") is False, where, "automountServiceAccountToken must be false")

    pod_security = pod.get("securityContext", {})
    problems.require(pod_security.get("runAsNonRoot") is True, where, "securityContext.runAsNonRoot must be true")
    problems.require(
        pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        where,
        "securityContext.seccompProfile.type must be RuntimeDefault",
    )

    containers = pod.get("containers", [])
    container = next((c for c in containers if c.get("name") == CONTAINER_NAME), None)
    if not problems.require(container is not None, where, f"no container named {CONTAINER_NAME}"):
        return {}

    security = container.get("securityContext", {})
    problems.require(security.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem must be true")
    problems.require(security.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation must be false")
    problems.require("ALL" in security.get("capabilities", {}).get("drop", []), where, "capabilities.drop must contain ALL")

    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        for name in ("cpu", "memory"):
            problems.require(name in resources.get(section, {}), where, f"resources.{section}.{name} is missing")

    volumes = {volume.get("name"): volume for volume in pod.get("volumes", [])}
    mounts = {mount.get("mountPath"): mount.get("name") for mount in container.get("volumeMounts", [])}
    problems.require("emptyDir" in volumes.get(mounts.get("/tmp"), {}), where, "/tmp must be an emptyDir volume")
    problems.require(
        volumes.get(mounts.get(CONFIG_MOUNT), {}).get("configMap", {}).get("name") == "orgscan-config",
        where,
        f"{CONFIG_MOUNT} must mount the orgscan-config ConfigMap",
    )

    args = container.get("args", [])
    problems.require(option_value(args, "--config") == CONFIG_PATH, where, f"--config must be {CONFIG_PATH}")
    problems.require(option_value(args, "--log-format") == "json", where, "--log-format must be json")
    output = option_value(args, "--output") or ""
    problems.require(output.startswith("s3://"), where, "--output must be an s3:// location")
    return container


def check_job_failure_policy(problems: Problems, where: str, job_spec: dict, action: str) -> None:
    pod = job_spec.get("template", {}).get("spec", {})
    problems.require(pod.get("restartPolicy") == "Never", where, "restartPolicy must be Never (podFailurePolicy requires it)")
    problems.require("activeDeadlineSeconds" in job_spec, where, "activeDeadlineSeconds is missing")

    rules = job_spec.get("podFailurePolicy", {}).get("rules", [])
    partial = [
        rule
        for rule in rules
        if rule.get("onExitCodes", {}).get("operator") == "In" and 2 in rule.get("onExitCodes", {}).get("values", [])
    ]
    problems.require(
        len(partial) == 1 and partial[0].get("action") == action,
        where,
        f"podFailurePolicy must have one rule with action {action} for exit code 2 (partial success)",
    )


def check_workloads(problems: Problems, manifests: dict[Path, list[dict]]) -> dict:
    """Check every workload and return the settings that must agree with the IAM files."""
    found: dict[str, tuple[str, dict]] = {}
    for path, documents in manifests.items():
        for document in documents:
            kind = document.get("kind")
            if kind in ("CronJob", "Job", "Deployment", "Service", "ServiceAccount", "ConfigMap"):
                found[kind] = (str(path), document)

    for kind in ("CronJob", "Job", "Deployment", "Service", "ServiceAccount", "ConfigMap"):
        problems.require(kind in found, "deploy/kubernetes", f"no {kind} manifest found")

    outputs: dict[str, str] = {}
    regions: dict[str, str] = {}
    images: dict[str, str] = {}
    containers: dict[str, dict] = {}
    for kind in ("CronJob", "Job", "Deployment"):
        if kind not in found:
            continue
        where, resource = found[kind]
        container = check_pod_spec(problems, where, pod_spec_of(resource))
        containers[kind] = container
        outputs[where] = option_value(container.get("args", []), "--output") or ""
        images[where] = container.get("image", "")
        env = {item.get("name"): item.get("value") for item in container.get("env", [])}
        regions[where] = env.get("AWS_REGION") or ""

    for name, values in (("--output", outputs), ("AWS_REGION", regions), ("image", images)):
        problems.require(
            len(set(values.values())) <= 1,
            "deploy/kubernetes",
            f"{name} differs between workloads: {values}",
        )

    if "CronJob" in found:
        where, cronjob = found["CronJob"]
        spec = cronjob.get("spec", {})
        problems.require(spec.get("concurrencyPolicy") == "Forbid", where, "concurrencyPolicy must be Forbid")
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            problems.require(key in spec, where, f"{key} is missing")
        job_spec = spec.get("jobTemplate", {}).get("spec", {})
        problems.require(job_spec.get("backoffLimit") == 2, where, "backoffLimit must be 2")
        check_job_failure_policy(problems, where, job_spec, "FailJob")

    if "Job" in found:
        where, job = found["Job"]
        spec = job.get("spec", {})
        problems.require(spec.get("completionMode") == "Indexed", where, "completionMode must be Indexed")
        completions = spec.get("completions")
        problems.require(completions == spec.get("parallelism"), where, "completions and parallelism must be equal")
        shard = option_value(containers.get("Job", {}).get("args", []), "--shard")
        problems.require(
            shard == f"$(JOB_COMPLETION_INDEX)/{completions}",
            where,
            f"--shard must be $(JOB_COMPLETION_INDEX)/{completions}, got {shard!r}",
        )
        check_job_failure_policy(problems, where, spec, "FailIndex")

    if "Deployment" in found:
        where, deployment = found["Deployment"]
        spec = deployment.get("spec", {})
        problems.require(spec.get("replicas") == 1, where, "replicas must be 1")
        problems.require(spec.get("strategy", {}).get("type") == "Recreate", where, "strategy.type must be Recreate")
        container = containers.get("Deployment", {})
        args = container.get("args", [])
        problems.require(args[:1] == ["daemon"], where, "the container must run orgscan daemon")
        problems.require(option_value(args, "--listen") == f"0.0.0.0:{METRICS_PORT}", where, f"--listen must be 0.0.0.0:{METRICS_PORT}")
        ports = {port.get("name"): port.get("containerPort") for port in container.get("ports", [])}
        problems.require(ports.get("metrics") == METRICS_PORT, where, f"containerPort {METRICS_PORT} must be named metrics")
        problems.require(
            container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
            where,
            "livenessProbe must GET /healthz",
        )
        problems.require(
            container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
            where,
            "readinessProbe must GET /readyz",
        )
        annotations = spec.get("template", {}).get("metadata", {}).get("annotations", {})
        problems.require(
            annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/port") == str(METRICS_PORT),
            where,
            "the pod template needs prometheus.io/scrape and prometheus.io/port annotations",
        )
        pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
        if "Service" in found:
            service_where, service = found["Service"]
            selector = service.get("spec", {}).get("selector", {})
            problems.require(
                bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items()),
                service_where,
                "the selector does not match the daemon's pod labels",
            )

    settings: dict[str, str] = {}
    if outputs:
        settings["output"] = next(iter(outputs.values()))
    if "ServiceAccount" in found:
        where, account = found["ServiceAccount"]
        role_arn = account.get("metadata", {}).get("annotations", {}).get("eks.amazonaws.com/role-arn", "")
        problems.require(
            re.fullmatch(r"arn:aws:iam::[0-9]{12}:role/[\w+=,.@-]+", role_arn) is not None,
            where,
            "annotation eks.amazonaws.com/role-arn must be an IAM role ARN",
        )
        settings["scanner_role_name"] = role_arn.rsplit("/", 1)[-1]
    if "ConfigMap" in found:
        where, config_map = found["ConfigMap"]
        settings.update(check_config_map(problems, where, config_map))
    return settings


def check_config_map(problems: Problems, where: str, config_map: dict) -> dict:
    text = config_map.get("data", {}).get("orgscan.toml")
    if not problems.require(isinstance(text, str), where, "data key orgscan.toml is missing"):
        return {}
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.add(where, f"orgscan.toml is not valid TOML: {error}")
        return {}
    problems.require("location" not in config.get("output", {}), where, "set the output with --output in the workloads, not in orgscan.toml")
    return {"member_role_name": config.get("scan", {}).get("role_name", "OrgScanReadOnly")}


# --- Agreement between the Kubernetes and IAM files --------------------------


def check_agreement(problems: Problems, settings: dict, policy: dict, member: dict, scanner: dict) -> None:
    member_role = settings.get("member_role_name")
    if member_role is not None:
        problems.require(
            parameter_default(member, "RoleName") == member_role,
            "deploy/iam/member-role.cfn.yaml",
            f"RoleName default must equal scan.role_name in the ConfigMap ({member_role})",
        )
        problems.require(
            parameter_default(scanner, "MemberRoleName") == member_role,
            "deploy/iam/scanner-role.cfn.yaml",
            f"MemberRoleName default must equal scan.role_name in the ConfigMap ({member_role})",
        )
        problems.require(
            statement_by_sid(policy, "AssumeMemberRole").get("Resource") == f"arn:aws:iam::*:role/{member_role}",
            "deploy/iam/scanner-policy.json",
            f"AssumeMemberRole must name the role {member_role} from the ConfigMap",
        )

    scanner_role = settings.get("scanner_role_name")
    if scanner_role is not None:
        problems.require(
            parameter_default(scanner, "RoleName") == scanner_role,
            "deploy/iam/scanner-role.cfn.yaml",
            f"RoleName default must equal the role in the service account annotation ({scanner_role})",
        )

    output = settings.get("output", "")
    match = re.fullmatch(r"s3://([^/]+)/(.+?)/?", output)
    if problems.require(match is not None, "deploy/kubernetes", f"--output {output!r} must be s3://bucket/prefix"):
        bucket, prefix = match.group(1), match.group(2)
        expected = {
            "ListOutputPrefix": f"arn:aws:s3:::{bucket}",
            "WriteOutput": f"arn:aws:s3:::{bucket}/{prefix}/*",
            "DeleteWriteProbe": f"arn:aws:s3:::{bucket}/{prefix}/{PROBE_PREFIX}/*",
        }
        for sid, resource in expected.items():
            problems.require(
                statement_by_sid(policy, sid).get("Resource") == resource,
                "deploy/iam/scanner-policy.json",
                f"statement {sid} must have Resource {resource}, matching --output {output}",
            )
        problems.require(
            parameter_default(scanner, "OutputPrefix") == prefix,
            "deploy/iam/scanner-role.cfn.yaml",
            f"OutputPrefix default must equal the prefix of --output ({prefix})",
        )


# --- Account ids ------------------------------------------------------------


def check_account_ids(problems: Problems, paths: list[Path]) -> None:
    for path in paths:
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(lines, start=1):
            for account_id in ACCOUNT_ID_PATTERN.findall(line):
                if account_id != PLACEHOLDER_ACCOUNT_ID:
                    problems.add(
                        f"{path}:{number}",
                        f"{account_id} looks like a real AWS account id; use {PLACEHOLDER_ACCOUNT_ID}",
                    )


def load_template(problems: Problems, path: Path) -> dict:
    try:
        template = yaml.load(path.read_text(), Loader=CloudFormationLoader)
    except (OSError, yaml.YAMLError) as error:
        problems.add(str(path), f"invalid YAML: {error}")
        return {}
    if not isinstance(template, dict):
        problems.add(str(path), "the template is not a YAML mapping")
        return {}
    return template


def main() -> int:
    # Paths in messages are relative to the repository root.
    os.chdir(sys.argv[1])
    root = Path(".")
    deploy = root / "deploy"
    problems = Problems()

    policy = check_scanner_policy_json(problems, deploy / "iam" / "scanner-policy.json")
    member = load_template(problems, deploy / "iam" / "member-role.cfn.yaml")
    scanner = load_template(problems, deploy / "iam" / "scanner-role.cfn.yaml")
    if member:
        check_member_role_template(problems, deploy / "iam" / "member-role.cfn.yaml", member)
    if scanner:
        check_scanner_role_template(problems, deploy / "iam" / "scanner-role.cfn.yaml", scanner)

    manifests = load_manifests(problems, deploy / "kubernetes")
    settings = check_workloads(problems, manifests)
    check_agreement(problems, settings, policy, member, scanner)

    scanned = [path for path in sorted(deploy.rglob("*")) if path.is_file() and "__pycache__" not in path.parts]
    scanned.append(root / ".dockerignore")
    check_account_ids(problems, [path for path in scanned if path.exists()])

    for message in problems.messages:
        print(message)
    return 1 if problems.messages else 0


if __name__ == "__main__":
    sys.exit(main())
