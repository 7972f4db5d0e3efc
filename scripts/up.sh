#!/usr/bin/env bash
# Brings the platform up on this machine (see README, "Quick start").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python scripts/local_ingest.py --demo
