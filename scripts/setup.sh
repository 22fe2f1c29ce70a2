#!/usr/bin/env bash
# One idempotent setup for a fresh Debian 12 / Ubuntu machine: system packages, the virtualenv, the
# embedded PostGIS cluster (unless DATABASE_URL is set), migrations, translations and static files.
# A second run does only the checks and finishes in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s%N)
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

# --- system packages (STACK.md) -------------------------------------------------------------------------
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 postgresql-client-15 gdal-bin mapserver-bin
              fonts-wqy-microhei gettext chromium ca-certificates)
PYTHON=""
for candidate in python3.11 /usr/bin/python3.11; do
  if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$(command -v "$candidate"); break; fi
done
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  APT_PACKAGES+=(python3.11 python3.11-venv python3.11-dev)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  say "Installing system packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a default cluster on 5432; OneMap does not use it (its own cluster lives in var/pg).
  [ -z "$PYTHON" ] && PYTHON=$(command -v python3.11)
fi

# --- virtualenv -----------------------------------------------------------------------------------------
REQ_HASH=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  say "Creating the virtualenv in .venv ($PYTHON)"
  rm -rf .venv
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$REQ_HASH" ]; then
  say "Installing Python packages (requirements.txt)"
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$REQ_HASH" > .venv/.requirements.sha256
fi

# --- database -------------------------------------------------------------------------------------------
if [ -z "${DATABASE_URL:-}" ]; then
  .venv/bin/python -m onemap.embedded_pg start | grep -v '^PostgreSQL running' || true
else
  say "Using DATABASE_URL (no embedded cluster)"
fi
.venv/bin/python manage.py migrate --noinput | grep -vE '^(Operations to perform|  Apply all migrations|Running migrations|  No migrations to apply)' || true

# --- translations and static files (only when their sources changed) ------------------------------------
# every app's locale/ and static/ (not the virtualenv's nor var/)
sources() { find . \( -path ./.venv -o -path ./var -o -path ./.git \) -prune -o -type d -name "$1" -print; }
if [ ! -f var/.messages-compiled ] \
   || [ -n "$(find $(sources locale) -name '*.po' -newer var/.messages-compiled 2>/dev/null | head -1)" ]; then
  .venv/bin/python manage.py compilemessages -v 0 --ignore=.venv
  touch var/.messages-compiled
fi
if [ ! -f var/static/staticfiles.json ] \
   || [ -n "$(find $(sources static) -newer var/static/staticfiles.json -type f 2>/dev/null | head -1)" ] \
   || [ requirements.txt -nt var/static/staticfiles.json ]; then
  .venv/bin/python manage.py collectstatic --noinput -v 0
fi
ms=$(( ($(date +%s%N) - START) / 1000000 ))
printf 'Setup complete in %d.%d s.\n' $((ms / 1000)) $(((ms % 1000) / 100))
