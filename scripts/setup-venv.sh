#!/usr/bin/env bash
# Builds .venv from Debian's python3.11 (the interpreter PL/Python embeds, so the database server
# can import what the venv holds) and installs motion_pg editable with its dev, bench and ray extras
# (tests/integration/test_ray.py starts a Ray head from it).
# A second run with an unchanged pyproject.toml returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=/usr/bin/python3.11
VENV=.venv
STAMP=$VENV/.motion-pg-installed

[[ -x $PYTHON ]] || { echo "setup: $PYTHON is missing; run scripts/setup-system.sh as root" >&2; exit 1; }
if [[ -x $VENV/bin/python && "$(readlink -f "$VENV/bin/python")" != "$(readlink -f $PYTHON)" ]]; then
  echo "setup: $VENV was not made from $PYTHON; rebuilding it"
  rm -rf "$VENV"
fi
if [[ -f $STAMP && $STAMP -nt pyproject.toml && $STAMP -nt scripts/setup-venv.sh ]]; then
  exit 0
fi
[[ -x $VENV/bin/python ]] || $PYTHON -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev,bench,ray]'
touch "$STAMP"
echo "setup: $VENV ready"
