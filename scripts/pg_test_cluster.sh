#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the test suite and benchmarks, on 127.0.0.1 only.
# It uses scram-sha-256 over TCP with a generated superuser password kept outside the
# repository (0600), and durability switched off because it holds nothing worth keeping.
# Usage: scripts/pg_test_cluster.sh start|stop|status|env|drop
set -euo pipefail

PG_VERSION=${PG_VERSION:-15}
CLUSTER=${CLICKSTREAM_TEST_PG_CLUSTER:-cstest}
PORT=${CLICKSTREAM_TEST_PG_PORT:-55432}
STATE_DIR=${CLICKSTREAM_STATE_DIR:-$HOME/.local/state/clickstream}
PASSWORD_FILE=$STATE_DIR/test-pg-password

as_postgres() { if [[ $(id -un) == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi; }
exists() { pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$CLUSTER" '$1==v && $2==c {f=1} END {exit !f}'; }
running() { pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$CLUSTER" '$1==v && $2==c && $4=="online" {f=1} END {exit !f}'; }

ensure_password() {
  install -d -m 0700 "$STATE_DIR"
  if [[ ! -s $PASSWORD_FILE ]]; then
    (umask 077; openssl rand -hex 24 > "$PASSWORD_FILE")
  fi
}

create() {
  pg_createcluster "$PG_VERSION" "$CLUSTER" -p "$PORT" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  pg_conftool "$PG_VERSION" "$CLUSTER" set listen_addresses localhost
  pg_conftool "$PG_VERSION" "$CLUSTER" set password_encryption scram-sha-256
  pg_conftool "$PG_VERSION" "$CLUSTER" set fsync off
  pg_conftool "$PG_VERSION" "$CLUSTER" set synchronous_commit off
  pg_conftool "$PG_VERSION" "$CLUSTER" set full_page_writes off
  pg_conftool "$PG_VERSION" "$CLUSTER" set max_connections 200
  pg_conftool "$PG_VERSION" "$CLUSTER" set shared_buffers 512MB
  pg_conftool "$PG_VERSION" "$CLUSTER" set max_wal_size 4GB
}

start() {
  # A new password when the file is gone (scripts/down.sh --purge deletes the state directory,
  # the cluster may outlive it): start sets the role's password from the file below.
  ensure_password
  exists || create
  running || pg_ctlcluster "$PG_VERSION" "$CLUSTER" start
  # (Re)set the password every start: the file is the single source of truth.
  printf "ALTER ROLE postgres PASSWORD '%s';\n" "$(cat "$PASSWORD_FILE")" \
    | as_postgres psql -q -X -p "$PORT" -d postgres >/dev/null
}

env_lines() {
  cat <<EOT
export CLICKSTREAM_TEST_PG_HOST=127.0.0.1
export CLICKSTREAM_TEST_PG_PORT=$PORT
export CLICKSTREAM_TEST_PG_USER=postgres
export CLICKSTREAM_TEST_PG_PASSWORD_FILE=$PASSWORD_FILE
EOT
}

case ${1:-start} in
  # stdout carries only the export lines (callers eval them); pg_ctlcluster's chatter, such as
  # "Removed stale pid file." after an unclean stop, goes to stderr.
  start) start >&2; env_lines ;;
  env) env_lines ;;
  stop) running && pg_ctlcluster "$PG_VERSION" "$CLUSTER" stop || true ;;
  status) pg_lsclusters | awk -v v="$PG_VERSION" -v c="$CLUSTER" 'NR==1 || ($1==v && $2==c)' ;;
  drop) exists && pg_dropcluster --stop "$PG_VERSION" "$CLUSTER" || true ;;
  *) echo "usage: $0 start|stop|status|env|drop" >&2; exit 2 ;;
esac
