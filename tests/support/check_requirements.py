#!/usr/bin/env python3
"""Check that every pinned package of a requirements file is installed at its pin.

Only lines of the form `name==version` or `name[extras]==version` are checked.
moto's `server` extra is checked by importing `moto.server`, which needs Flask.
"""

import importlib.metadata
import re
import sys

PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)$")


def main() -> int:
    requirements = sys.argv[1]
    with open(requirements, encoding="utf-8") as lines:
        for line in lines:
            requirement = line.split("#", 1)[0].strip()
            match = PIN.match(requirement)
            if not match:
                continue
            name, pinned = match.groups()
            try:
                installed = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                print(f"{name} is not installed (expected {pinned})", file=sys.stderr)
                return 1
            if installed != pinned:
                print(f"{name} {installed} is installed, expected {pinned}", file=sys.stderr)
                return 1

    try:
        import moto.server  # noqa: F401
    except ImportError as error:
        print(f"moto's server extra is missing: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
