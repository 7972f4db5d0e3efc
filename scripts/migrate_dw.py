#!/usr/bin/env python3
"""Apply the warehouse schema (sql/dw/) and create or update its two login roles.

Idempotent: run it on every deploy. An empty database gets sql/dw/baseline.sql, an existing one
the numbered migrations of sql/dw/history/ it lacks (a changed applied migration is refused);
then every model of sql/dw/models/ whose file changed (toolkit/dw/migrate.py). Passwords are read from files (never the
command line) and sent to PostgreSQL as SCRAM-SHA-256 verifiers.

Examples:
  scripts/migrate_dw.py --host 127.0.0.1 --port 5432 --database clickstream_dw \\
      --user postgres --password-file ~/.pgpass-admin --sslmode require \\
      --etl-user clickstream_etl --etl-password-file /run/etl.pw \\
      --reader-user clickstream_reader --reader-password-file /run/reader.pw
  scripts/migrate_dw.py ... --status            # list applied and pending migrations
  scripts/migrate_dw.py ... --drop-before 2024-01-01T00:00:00Z   # retention
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.dw import migrate


def read_secret(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(f"error: cannot read password file {path}: {exc.strerror}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c = p.add_argument_group("connection (an owner/admin role: the one that owns the schema)")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=5432)
    c.add_argument("--database", required=True)
    c.add_argument("--user", required=True, help="role that applies the migrations and owns the tables")
    c.add_argument("--password-file", help="file holding that role's password (omit for none)")
    c.add_argument("--sslmode", choices=("disable", "require", "verify-full"), default="verify-full",
                   help="TLS to PostgreSQL (default: verify-full)")
    c.add_argument("--sslrootcert", help="CA bundle for verify-full (default: the system store)")
    r = p.add_argument_group("roles (created or updated; both need a password file)")
    r.add_argument("--etl-user", help="login of the ETL Lambda: member of clickstream_etl_writer")
    r.add_argument("--etl-password-file")
    r.add_argument("--reader-user", help="login of the dashboards: member of clickstream_dashboard_reader")
    r.add_argument("--reader-password-file")
    a = p.add_argument_group("actions")
    a.add_argument("--status", action="store_true", help="print applied/pending migrations, change nothing")
    a.add_argument("--drop-before", metavar="ISO_TIME",
                   help="after migrating, drop event partitions (whole months) ending on or before this time")
    a.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = p.parse_args(argv)
    for kind in ("etl", "reader"):
        if bool(getattr(args, f"{kind}_user")) != bool(getattr(args, f"{kind}_password_file")):
            p.error(f"--{kind}-user and --{kind}-password-file go together")
    return args


def main(argv: list[str] | None = None) -> int:
    from etl.db import PgTarget, WarehouseUnreachable

    args = parse_args(argv)
    target = PgTarget(
        host=args.host, port=args.port, database=args.database, user=args.user,
        password=read_secret(args.password_file) if args.password_file else "",
        sslmode=args.sslmode, root_cert=args.sslrootcert,
    )
    try:
        connection = target.connect()
    except WarehouseUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: dict[str, object] = {}
    try:
        if args.status:
            result.update(migrate.status(connection))
        else:
            result["applied"] = migrate.migrate(connection)
            roles = {}
            if args.etl_user:
                roles[args.etl_user] = migrate.ensure_login(
                    connection, args.etl_user, read_secret(args.etl_password_file), migrate.WRITER_GROUP,
                    args.database)
            if args.reader_user:
                roles[args.reader_user] = migrate.ensure_login(
                    connection, args.reader_user, read_secret(args.reader_password_file), migrate.READER_GROUP,
                    args.database)
            result["roles"] = roles
            if args.drop_before:
                result["dropped_partitions"] = migrate.drop_partitions_before(connection, args.drop_before)
    except migrate.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value if value else '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
