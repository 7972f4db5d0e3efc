#!/usr/bin/env bash
# Brings the platform up on this machine (see README, "Quick start").
# For now: a local S3 (moto server) and the ingest Lambda behind the local HTTP adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=eu-west-1
export AWS_ENDPOINT_URL=http://127.0.0.1:4566 RAW_BUCKET_NAME=clickstream-raw-local
.venv/bin/moto_server -H 127.0.0.1 -p 4566 >/dev/null 2>&1 &
trap 'kill $!' EXIT
until curl -fs "$AWS_ENDPOINT_URL/moto-api/" >/dev/null; do sleep 0.2; done
.venv/bin/python scripts/local_ingest.py --port 8080 --create-bucket
