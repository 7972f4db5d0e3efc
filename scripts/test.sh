#!/usr/bin/env bash
# Runs every test of the project on a Debian 12 machine, installing what they need first:
# Debian packages and the pinned virtualenv (scripts/bootstrap.sh), a throwaway PostgreSQL
# cluster (scripts/pg_test_cluster.sh), then lint, pytest, and the R and JavaScript suites.
# Extra arguments go to pytest, e.g. scripts/test.sh -k ingest
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
eval "$(scripts/pg_test_cluster.sh start)"

echo "== ruff"
.venv/bin/ruff check .

echo "== pytest"
.venv/bin/python -m pytest "$@"

for suite in scripts/test.d/*.sh; do
  [[ -e $suite ]] || continue
  echo "== $(basename "$suite" .sh)"
  bash "$suite"
done
