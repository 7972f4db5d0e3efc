#!/usr/bin/env bash
# Installs what the platform and its tests need on a Debian 12 machine, idempotently:
# Debian packages (only those missing) and the pinned Python virtualenv in .venv.
# Usage: scripts/bootstrap.sh            # everything
#        BOOTSTRAP_APT=0 scripts/bootstrap.sh   # skip Debian packages (not root / managed elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv python3-dev
  postgresql-15 postgresql-client-15 postgresql-15-hll ssl-cert python3-psycopg2
  r-base-core r-cran-shiny r-cran-dbi r-cran-rpostgresql r-cran-plotly r-cran-dt
  r-cran-bslib r-cran-testthat r-cran-jsonlite
  chromium
  nodejs
  ca-certificates curl openssl
)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

if [[ "${BOOTSTRAP_APT:-1}" == "1" ]]; then
  mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
  # Node.js may come from outside Debian (e.g. NodeSource); any working `node` will do.
  if command -v node >/dev/null 2>&1; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -vx nodejs || true)
  fi
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      log "missing Debian packages: ${missing[*]} (run as root, or install them and set BOOTSTRAP_APT=0)"
      exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# The virtualenv is rebuilt only when the pinned requirements change (serialized: several
# shells may bootstrap at once).
exec 9>".venv.lock"
flock 9
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements/dev.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "creating .venv from requirements/dev.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -r requirements/dev.txt
  echo "$want" > "$stamp"
fi
log "ready: $(.venv/bin/python --version)"
