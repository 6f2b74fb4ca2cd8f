#!/usr/bin/env bash
# Offline checks of everything under deploy/: YAML syntax, Kubernetes schemas,
# the kustomization, CloudFormation templates, IAM policies, the Dockerfile,
# and the settings that must agree between them.
#
# Usage: bash deploy/check.sh
#
# The tools come from PyPI, pinned in deploy/check-requirements.txt, and are
# installed into a virtual environment that is reused while that file is
# unchanged (ORGSCAN_CHECK_VENV sets its path). After that install, no check
# uses the network. Every check runs, then the script prints a summary and
# exits 1 if any check failed.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

requirements=deploy/check-requirements.txt
venv=${ORGSCAN_CHECK_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/orgscan/deploy-check-venv}
# The oldest Kubernetes version the manifests support (podFailurePolicy is GA
# from 1.31) and the newest schema that kubernetes-validate ships.
kubernetes_versions=(1.31.0 1.37.0)

failed=()
passed=()

elapsed_since() {
    local start=$1
    local end
    end=$(date +%s%N)
    printf '%d.%02ds' $(((end - start) / 1000000000)) $(((end - start) / 10000000 % 100))
}

# Runs one named check, prints its output and time, and records the result.
run_check() {
    local name=$1
    shift
    local start
    start=$(date +%s%N)
    echo "== $name"
    if "$@"; then
        echo "-- ok: $name ($(elapsed_since "$start"))"
        passed+=("$name")
    else
        echo "-- FAILED: $name ($(elapsed_since "$start"))"
        failed+=("$name")
    fi
}

install_tools() {
    local stamp="$venv/.requirements.sha256"
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        echo "reusing $venv"
        return 0
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$wanted" >"$stamp"
}

kubernetes_manifests() {
    find deploy/kubernetes -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml | sort
}

check_yaml_syntax() {
    "$venv/bin/yamllint" --strict -c deploy/.yamllint.yaml deploy
}

check_kubernetes_schemas() {
    local version status=0
    local manifests
    mapfile -t manifests < <(kubernetes_manifests)
    for version in "${kubernetes_versions[@]}"; do
        "$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "${manifests[@]}" || status=1
    done
    return "$status"
}

check_kustomization() {
    # kubectl ships kustomize. Without it this check cannot run.
    if ! command -v kubectl >/dev/null; then
        echo "kubectl not found: install kubectl to build deploy/kubernetes/kustomization.yaml"
        return 1
    fi
    local built version status=0
    built=$(mktemp --suffix=.yaml)
    kubectl kustomize deploy/kubernetes >"$built" || status=1
    for version in "${kubernetes_versions[@]}"; do
        [[ $status -eq 0 ]] || break
        "$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "$built" || status=1
    done
    rm -f "$built"
    return "$status"
}

check_cloudformation() {
    "$venv/bin/cfn-lint" deploy/iam/member-role.cfn.yaml deploy/iam/scanner-role.cfn.yaml
}

# cfn-lint validates IAM action names, so the standalone policy is wrapped in
# a one-resource template and linted too.
check_policy_actions() {
    local wrapped
    wrapped=$(mktemp --suffix=.json)
    "$venv/bin/python" - deploy/iam/scanner-policy.json "$wrapped" <<'PY' || return 1
import json
import sys

with open(sys.argv[1]) as source:
    document = json.load(source)
template = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "ScannerPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"PolicyDocument": document},
        }
    },
}
with open(sys.argv[2], "w") as target:
    json.dump(template, target, indent=2)
PY
    if ! "$venv/bin/cfn-lint" "$wrapped"; then
        echo "deploy/iam/scanner-policy.json is wrapped in $wrapped (kept) for cfn-lint; the line numbers refer to that file"
        return 1
    fi
    rm -f "$wrapped"
}

# The orgscan binary is the only full check of the config file, so this runs
# when one is built (ORGSCAN_BIN or target/debug/orgscan) and is skipped
# otherwise. check.sh never builds it.
check_config_file() {
    local binary=${ORGSCAN_BIN:-target/debug/orgscan}
    if [[ ! -x "$binary" ]]; then
        echo "skipped: $binary not found; build orgscan or set ORGSCAN_BIN to run this check"
        return 0
    fi
    local config
    config=$(mktemp --suffix=.toml)
    "$venv/bin/python" -c '
import sys, yaml
with open("deploy/kubernetes/configmap.yaml") as source:
    sys.stdout.write(yaml.safe_load(source)["data"]["orgscan.toml"])
' >"$config" || return 1
    # The caller's ORGSCAN_* variables would override the file's values.
    local name unset_orgscan=()
    for name in $(compgen -e); do
        [[ $name == ORGSCAN_* ]] && unset_orgscan+=(-u "$name")
    done
    local status=0
    env "${unset_orgscan[@]}" "$binary" validate-config --config "$config" >/dev/null || status=1
    [[ $status -eq 0 ]] && echo "$binary validate-config accepts the ConfigMap's orgscan.toml"
    rm -f "$config"
    return "$status"
}

check_consistency() {
    "$venv/bin/python" deploy/check_manifests.py "$repo_root"
}

check_dockerfile() {
    "$venv/bin/hadolint" deploy/Dockerfile
}

check_shell_script() {
    "$venv/bin/shellcheck" deploy/check.sh
}

total_start=$(date +%s%N)
run_check "install pinned tools" install_tools
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "deploy/check.sh: failed to install the tools from $requirements" >&2
    exit 1
fi

run_check "YAML syntax and style (yamllint)" check_yaml_syntax
run_check "Kubernetes schemas ${kubernetes_versions[*]} (kubernetes-validate --strict)" check_kubernetes_schemas
run_check "kustomization build (kubectl kustomize)" check_kustomization
run_check "CloudFormation templates (cfn-lint)" check_cloudformation
run_check "scanner-policy.json action names (cfn-lint)" check_policy_actions
run_check "IAM least privilege, pod hardening, agreement, account ids" check_consistency
run_check "ConfigMap orgscan.toml (orgscan validate-config)" check_config_file
run_check "Dockerfile (hadolint)" check_dockerfile
run_check "deploy/check.sh (shellcheck)" check_shell_script

echo
echo "tools: $("$venv/bin/cfn-lint" --version), kubernetes-validate $("$venv/bin/kubernetes-validate" --version)," \
    "$("$venv/bin/yamllint" --version), $("$venv/bin/hadolint" --version), kubectl $(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}')"
echo "deploy checks: ${#passed[@]} passed, ${#failed[@]} failed in $(elapsed_since "$total_start")"
if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
