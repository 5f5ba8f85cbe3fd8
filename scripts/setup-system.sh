#!/usr/bin/env bash
# Installs what motion_pg needs from the operating system, idempotently:
# PostgreSQL 15 with PL/Python and server headers, and pgvector for that server.
# A second run checks and returns in well under a second.
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PACKAGES=(postgresql-$PG_MAJOR postgresql-plpython3-$PG_MAJOR postgresql-server-dev-$PG_MAJOR
          python3.11 python3.11-venv python3.11-dev build-essential dpkg-dev)
# the dashboard's browser test drives Debian's headless chromium; nothing downloads a browser
PACKAGES+=(chromium chromium-driver)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else
    echo "motion_pg setup needs root to install system packages; run these once, then retry:" >&2
    echo "  sudo $*" >&2
    return 1
  fi
}

apt_updated=0
apt_update() { ((apt_updated)) || { as_root apt-get update -qq; apt_updated=1; }; }

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt_update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's packaging starts a default cluster on 5432; motion_pg runs its own clusters and leaves
# that one alone.

sharedir=$("$PG_BIN/pg_config" --sharedir)
if [[ ! -f $sharedir/extension/vector.control ]]; then
  apt_update
  if apt-cache show postgresql-$PG_MAJOR-pgvector >/dev/null 2>&1 \
     && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-$PG_MAJOR-pgvector; then
    echo "setup: pgvector installed from apt"
  else
    # Debian 12 has no pgvector package: build Debian's own source package (trixie) against PG 15.
    # The mirror is the one this machine's apt already uses.
    mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
             | awk '/^(URIs:|deb) +[a-z]+:\/\// && !/security/ {print $2; exit}' || true)
    [[ -n $mirror ]] || { echo "setup: cannot find the Debian mirror apt uses" >&2; exit 1; }
    src=/etc/apt/sources.list.d/motion-pg-trixie-src.sources
    if [[ ! -f $src ]]; then
      printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
        | as_root tee "$src" >/dev/null
      as_root apt-get update -qq
    fi
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    (cd "$build" && apt-get source -qq --download-only pgvector >/dev/null 2>&1 || apt-get source -qq --download-only pgvector)
    (cd "$build" && dpkg-source -x --no-check ./*.dsc src >/dev/null)
    make -s -C "$build/src" PG_CONFIG="$PG_BIN/pg_config" >/dev/null
    as_root make -s -C "$build/src" install PG_CONFIG="$PG_BIN/pg_config" >/dev/null
    echo "setup: pgvector built from Debian's source package"
  fi
fi
