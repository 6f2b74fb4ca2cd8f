#!/usr/bin/env bash
# Installs the Python packages that the integration tests and the demo use
# (moto, boto3, pyarrow, duckdb) unless their pinned versions are installed.
# With --spark it also installs pyspark, which one test uses to read the
# output with parquet-java. Set PYTHON to use another interpreter than python3.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
requirement_files=(tests/support/requirements.txt)
if [[ "${1:-}" == "--spark" ]]; then
    requirement_files+=(tests/support/requirements-spark.txt)
fi

for requirements in "${requirement_files[@]}"; do
    if "$python" tests/support/check_requirements.py "$requirements"; then
        continue
    fi
    echo "installing the Python test dependencies from $requirements" >&2
    "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r "$requirements"
done
