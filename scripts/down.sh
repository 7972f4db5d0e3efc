#!/usr/bin/env bash
# Stops the local platform that scripts/up.sh (ansible-playbook site.yml) started.
#   scripts/down.sh           stop every supervised process and both PostgreSQL clusters
#   scripts/down.sh --purge   also drop the clusters and delete the local state (secrets, logs)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${CLICKSTREAM_STATE_DIR:-$HOME/.local/state/clickstream}
PURGE=0
[[ ${1:-} == --purge ]] && PURGE=1

if [[ -x .venv/bin/python ]]; then
  .venv/bin/python scripts/localctl.py stop --all || true
fi
for cluster in ${CLICKSTREAM_CLUSTERS:-clickstream_oltp clickstream_dw}; do
  if pg_lsclusters -h 2>/dev/null | awk -v c="$cluster" '$1=="15" && $2==c {f=1} END {exit !f}'; then
    if ((PURGE)); then
      pg_dropcluster --stop 15 "$cluster"
      echo "dropped cluster 15/$cluster"
    else
      pg_ctlcluster 15 "$cluster" stop 2>/dev/null || true
      echo "stopped cluster 15/$cluster"
    fi
  fi
done
if ((PURGE)); then
  rm -rf -- "$STATE"
  echo "removed $STATE"
fi
