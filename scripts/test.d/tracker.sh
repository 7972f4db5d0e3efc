#!/usr/bin/env bash
# The browser tracker's unit tests, with Node's own test runner (no npm dependencies).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --test tracker/
