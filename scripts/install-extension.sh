#!/usr/bin/env bash
# Installs the `motion` extension's control file and versioned scripts into PostgreSQL 15's
# extension directory (root, or sudo without a password).
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
if [[ $(id -u) -eq 0 ]]; then
  .venv/bin/python -m motion_pg.extension install "$PG_CONFIG"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo .venv/bin/python -m motion_pg.extension install "$PG_CONFIG"
else
  echo "installing the motion extension needs root; run once: sudo make install-extension" >&2
  exit 1
fi
