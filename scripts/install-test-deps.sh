#!/usr/bin/env bash
# Installs the Python packages that the integration tests and the demo use
# (moto, boto3, pyarrow, duckdb) unless their pinned versions are installed.
# Set PYTHON to use another interpreter than python3.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
requirements=tests/support/requirements.txt

if "$python" tests/support/check_requirements.py "$requirements"; then
    exit 0
fi

echo "installing the Python test dependencies from $requirements" >&2
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r "$requirements"
