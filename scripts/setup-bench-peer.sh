#!/usr/bin/env bash
# The bench's peer (the P rows): Motion itself, i.e. motion-python 0.1.132 in its own virtualenv
# .venv-motion (its dependencies never mix with motion_pg's; it imports `requests` without declaring
# it), and Debian's redis-server, which the bench starts privately on loopback. A `make bench`
# prerequisite; it never fails the bench: what cannot be installed makes the bench skip the peer
# rows and say why. A second run with everything in place returns at once.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=/usr/bin/python3.11
PEER=.venv-motion
STAMP=$PEER/.motion-peer-installed

if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "bench-peer: installing Debian's redis-server"
    apt-get install -y -q redis-server >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q redis-server >/dev/null 2>&1; } \
      || echo "bench-peer: could not install redis-server; the bench skips the Motion rows" >&2
  else
    echo "bench-peer: redis-server is missing (apt-get install redis-server); the bench skips the Motion rows" >&2
  fi
fi

if [[ ! -f $STAMP ]]; then
  if [[ -x $PYTHON ]] && { [[ -x $PEER/bin/python ]] || $PYTHON -m venv "$PEER"; } \
     && "$PEER/bin/python" -m pip install -q --disable-pip-version-check \
          "motion-python==0.1.132" requests; then
    touch "$STAMP"
    echo "bench-peer: $PEER ready"
  else
    echo "bench-peer: could not install motion-python in $PEER; the bench skips the Motion rows" >&2
  fi
fi
exit 0
