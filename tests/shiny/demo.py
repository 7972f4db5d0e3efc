"""Scratch warehouses for the dashboards: real migrations, a read-only login, demo rows.

The demo rows come from ``shiny/tests/fixtures/demo_dw.sql`` (sessions made up with
generate_series, aggregates derived from them), sized by days x sessions per day; the
benchmark uses the same generator at a 10M-event scale.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_SQL = REPO / "shiny" / "tests" / "fixtures" / "demo_dw.sql"


@dataclass(frozen=True)
class Reader:
    """The dashboards' read-only login on one scratch warehouse."""

    host: str
    port: int
    database: str
    user: str
    password: str

    def app_env(self) -> dict[str, str]:
        return {
            "DW_PG_HOST": self.host, "DW_PG_PORT": str(self.port), "DW_PG_DATABASE": self.database,
            "DW_PG_USER": self.user, "DW_PG_PASSWORD": self.password, "DW_PG_SSLMODE": "disable",
        }


def migrate_with_reader(server, database: str) -> Reader:
    """Apply sql/dw with scripts/migrate_dw.py and create a throwaway reader login."""
    user = f"shiny_reader_{secrets.token_hex(5)}"
    password = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as tmp:
        admin_pw = Path(tmp) / "admin"
        reader_pw = Path(tmp) / "reader"
        for path, secret in ((admin_pw, server.password), (reader_pw, password)):
            path.write_text(secret)
            path.chmod(0o600)
        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "migrate_dw.py"), "--host", server.host, "--port", str(server.port),
             "--database", database, "--user", server.user, "--password-file", str(admin_pw), "--sslmode", "disable",
             "--reader-user", user, "--reader-password-file", str(reader_pw)],
            check=True, capture_output=True, text=True,
        )
    return Reader(server.host, server.port, database, user, password)


def drop_reader(server, reader: Reader) -> None:
    admin = server.connect()
    try:
        (stmt,) = admin.run("SELECT format('DROP ROLE IF EXISTS %I', CAST(:u AS text))", u=reader.user)[0]
        admin.run(stmt)
    finally:
        admin.close()


def sql_statements(text: str) -> list[str]:
    """Split a script into statements at semicolons that end a line (the demo SQL keeps to that)."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*\n", body + "\n") if s.strip()]


def load_demo(server, database: str, *, days: int = 90, sessions_per_day: int = 300, products: int = 40,
              seed: float = 0.42) -> dict[str, float]:
    """Fill a migrated warehouse with demo rows; returns row counts and the events they stand for."""
    conn = server.connect(database)
    try:
        conn.run("SET TIME ZONE 'UTC'")
        conn.run("SET work_mem = '256MB'")
        conn.run(
            "CREATE TEMP TABLE demo_params AS SELECT CAST(:d AS int) AS days, CAST(:s AS int) AS sessions_per_day,"
            " CAST(:p AS int) AS products, CAST(:seed AS float8) AS seed",
            d=days, s=sessions_per_day, p=products, seed=seed,
        )
        for statement in sql_statements(DEMO_SQL.read_text()):
            conn.run(statement)
    finally:
        conn.close()
    return demo_counts(server, database)


def demo_counts(server, database: str) -> dict[str, float]:
    """Row counts of a demo warehouse and the events its sessions stand for."""
    conn = server.connect(database)
    try:
        counts = {}
        for table in ("clickstream_sessions", "agg_hourly_activity", "agg_daily_product_engagement", "agg_daily_funnel",
                      "agg_weekly_retention", "agg_page_transitions", "agg_daily_element_clicks",
                      "clickstream_visitors", "etl_runs", "agg_daily_new_customers", "agg_daily_search_terms"):
            counts[table] = conn.run(f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 (fixed names)
        counts["events_represented"] = conn.run("SELECT coalesce(sum(event_count), 0) FROM clickstream_sessions")[0][0]
        return counts
    finally:
        conn.close()


def app_environment(reader: Reader) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DW_PG_")}
    env.update(reader.app_env())
    env["TZ"] = "UTC"
    return env
