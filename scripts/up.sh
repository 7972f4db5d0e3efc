#!/usr/bin/env bash
# Brings the whole platform up on this machine and shows it working (README, "Quick start"):
# Debian packages and .venv, then `ansible-playbook site.yml` on the local inventory (two
# PostgreSQL clusters, a local S3, the ingest endpoint serving the demo storefront, the ETL on
# a timer, Shiny, ending with the verify smoke test), then a few days of simulated shoppers
# through the ingest endpoint, an ETL run, and the URLs to open. Run it again at any time.
# Stop with scripts/down.sh (add --purge to remove the clusters and the local state too).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${CLICKSTREAM_STATE_DIR:-$HOME/.local/state/clickstream}
DAYS=${CLICKSTREAM_DEMO_DAYS:-3}

scripts/bootstrap.sh
.venv/bin/ansible-playbook site.yml

echo "== simulating ${DAYS} days of shoppers through http://127.0.0.1:8080/clickstream"
.venv/bin/python scripts/simulate_traffic.py --url http://127.0.0.1:8080/clickstream \
  --days "$DAYS" --sessions-per-day "${CLICKSTREAM_DEMO_SESSIONS_PER_DAY:-300}" --batching session \
  --seed "${CLICKSTREAM_DEMO_SEED:-42}" --duration 30 --rate 10

echo "== loading the warehouse"
# The local timer runs every 30 minutes; run once now. A run already in progress (the
# timer's) holds the lock: this one then says so and the next one picks up the rest.
.venv/bin/python scripts/invoke_etl.py --local --env-file "$STATE/etl.env" --no-progress

cat <<EOT

The platform is up on this machine:
  storefront   http://127.0.0.1:8080/             (click around: your session shows up after the next ETL run)
  dashboards   http://127.0.0.1:3838/             (R Shiny on the warehouse, read-only login)
  ingest       http://127.0.0.1:8080/clickstream  (POST events; the ingest Lambda's handler)
  local S3     http://127.0.0.1:4566/             (moto; bucket clickstream-raw-local)
  run the ETL now:  .venv/bin/python scripts/invoke_etl.py --local --env-file $STATE/etl.env
  processes:        scripts/localctl.py status   ·   logs: $STATE/logs/
  stop:             scripts/down.sh   (--purge also drops the clusters and the local state)
EOT
