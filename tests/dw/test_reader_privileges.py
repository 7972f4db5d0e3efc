"""The dashboards' login reads what the dashboards show and nothing else (sql/dw/history/0033).

The statements come from the app itself: R evaluates shiny/R/queries.R and hands over QUERIES,
and the SQL literals of the other files of shiny/R are picked out of their text, so that the
dashboards and the role's privileges cannot drift apart unnoticed. Each statement runs as a
reader login made the way the platform makes it, on a warehouse migrated by a non-superuser
owner as on the DW host.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import uuid

import pg8000.native
import pytest

from toolkit.dw import REPO, migrate

pytestmark = pytest.mark.postgres

SHINY_R = REPO / "shiny" / "R"

# A value for every parameter name the statements use, as text the statement casts. A new
# parameter fails the test until it gets one here.
PARAMETERS = {
    "start": "2026-01-12", "end": "2026-01-18", "prev_start": "2026-01-05", "prev_end": "2026-01-11",
    "login_state": "{}",
    "device_type": "{}", "channel": "{}", "product_category": "{}", "page": "{}", "include_bots": "false",
    "breakdown": "channel", "limit": "10", "max_offset": "8", "grain": "day", "today": "2026-01-19",
    "until": "2026-01-19T00:00:00Z", "steps": "{view_item,purchase}", "any_order": "false", "window_s": "3600",
    "by_visitor": "false",
}

# What the dashboards must never read: events, identities, payloads, the ETL's own tables.
FORBIDDEN = ("clickstream_events", "clickstream_event_ids", "clickstream_identity_map", "clickstream_event_sessions",
             "clickstream_visitors", "etl_rejected_events", "etl_object_ledger", "etl_runs", "etl_pending_groups",
             "dw_schema_migrations")

_RELATION = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_R_SQL_LITERAL = re.compile(r'"((?:WITH|SELECT)\b[^"]*)"', re.DOTALL)


def dashboard_statements() -> dict[str, str]:
    """Every SQL statement of shiny/R by name: QUERIES as R builds them, and the SQL literals
    of the other files (named file:line)."""
    if shutil.which("Rscript") is None:
        pytest.skip("R is not installed (scripts/bootstrap.sh installs it)")
    out = subprocess.run(
        ["Rscript", "-e", 'source("shiny/R/queries.R"); cat(jsonlite::toJSON(QUERIES, auto_unbox = TRUE))'],
        cwd=REPO, check=True, capture_output=True, text=True).stdout
    statements = dict(json.loads(out))
    for path in sorted(SHINY_R.glob("*.R")):
        if path.name == "queries.R":
            continue
        text = path.read_text(encoding="utf-8")
        for match in _R_SQL_LITERAL.finditer(text):
            statements[f"{path.name}:{text.count(chr(10), 0, match.start()) + 1}"] = match[1]
    assert len(statements) > 15 and any(name.startswith("db.R:") for name in statements), statements.keys()
    return statements


def named_relations(sql: str) -> set[str]:
    """The names after FROM and JOIN (CTE and other non-relation names are dropped by the caller)."""
    return {name.lower() for name in _RELATION.findall(sql)}


@pytest.fixture(scope="module")
def warehouse(pg_server):
    """A warehouse migrated by a CREATEROLE owner, a month of events partitioned, a reader login
    made with the platform's ensure_login; yields (owner connection, reader connection)."""
    owner, owner_pw = f"dw_owner_{uuid.uuid4().hex[:8]}", secrets.token_hex(12)
    reader, reader_pw = f"rd_{uuid.uuid4().hex[:8]}", secrets.token_hex(12)
    name = f"dw_{uuid.uuid4().hex[:10]}"
    admin = pg_server.connect()
    admin.run(f"CREATE ROLE {owner} LOGIN CREATEROLE PASSWORD '{owner_pw}'")
    admin.run(f'CREATE DATABASE "{name}" OWNER {owner}')
    admin.close()
    admin = pg_server.connect(name)
    admin.run("CREATE EXTENSION IF NOT EXISTS hll")  # not trusted: the host's superuser creates it
    admin.close()
    own = pg_server.connect(name, user=owner, password=owner_pw)
    migrate.migrate(own)
    migrate.ensure_login(own, reader, reader_pw, migrate.READER_GROUP, name)
    own.run("SELECT dw_ensure_event_partitions(CAST('2026-01-01' AS timestamptz), CAST('2026-01-31' AS timestamptz))")
    # Bookkeeping with a payload in it, which no relation the reader can read may show.
    run_id = own.run("INSERT INTO etl_runs (trigger, status, finished_at, error, summary) VALUES"
                     " ('manual', 'succeeded', now(), 'boom', CAST('{\"secret\": \"RUN-SUMMARY-SECRET\"}' AS jsonb))"
                     " RETURNING run_id")[0][0]
    own.run("INSERT INTO etl_rejected_events (object_key, line_no, reason_code, reason, raw_line, run_id)"
            " VALUES ('events/2026/01/12/08/a.ndjson', 3, 'not_json', 'not JSON', 'RAW-PAYLOAD-SECRET', :r)",
            r=run_id)
    own.run("INSERT INTO etl_object_ledger (object_key, etag, size_bytes, events_read, events_loaded,"
            " events_duplicate, events_rejected, run_id, status, reason, failed_at)"
            " VALUES ('events/2026/01/12/08/b.ndjson', 'e1', 10, 0, 0, 0, 0, :r, 'skipped', 'archived', now())",
            r=run_id)
    as_reader = pg_server.connect(name, user=reader, password=reader_pw)
    as_reader.run("SET TIME ZONE 'UTC'")  # as the app's sessions (shiny/R/db.R dw_connect)
    try:
        yield own, as_reader
    finally:
        as_reader.close()
        own.close()
        admin = pg_server.connect()
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.run(f"DROP OWNED BY {owner}")
        admin.run(f'DROP ROLE IF EXISTS "{reader}"')
        admin.run(f"DROP ROLE IF EXISTS {owner}")
        admin.close()


def relations(connection) -> dict[str, dict]:
    """The relations of the public schema: whether each is a partition, and what the reader
    group may SELECT of it (all of it, or some columns)."""
    rows = connection.run(
        "SELECT c.relname, c.relispartition, has_table_privilege(:role, c.oid, 'SELECT'),"
        " has_any_column_privilege(:role, c.oid, 'SELECT')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')", role=migrate.READER_GROUP)
    return {name: {"partition": part, "table": table, "columns": columns} for name, part, table, columns in rows}


def test_every_dashboard_statement_runs_as_the_reader(warehouse):
    _, reader = warehouse
    statements = dashboard_statements()
    for name, sql in statements.items():
        params = set(re.findall(r"(?<![:A-Za-z0-9_]):([A-Za-z_][A-Za-z0-9_]*)", sql))
        missing = params - PARAMETERS.keys()
        assert not missing, f"{name}: give the test a value for {missing}"
        try:
            reader.run(sql, **{p: PARAMETERS[p] for p in params})
        except pg8000.native.DatabaseError as exc:
            pytest.fail(f"{name} fails as the dashboards' login: {exc}")


def test_the_reader_reads_exactly_the_relations_the_dashboards_name(warehouse):
    own, _ = warehouse
    existing = relations(own)
    named = set()
    for sql in dashboard_statements().values():
        named |= named_relations(sql) & existing.keys()  # CTE names and pg_catalog views drop out
    assert {name for name, r in existing.items() if r["columns"]} == named
    assert not named & set(FORBIDDEN)
    # Not a single column of a forbidden table either (a column grant would pass the checks above).
    for relation in FORBIDDEN:
        assert own.run("SELECT attname FROM pg_attribute WHERE attrelid = CAST(:r AS regclass) AND attnum > 0"
                       " AND has_column_privilege('clickstream_dashboard_reader', attrelid, attnum, 'SELECT')",
                       r=relation) == [], relation
    assert not named & {name for name, r in existing.items() if r["partition"]}


@pytest.mark.parametrize("relation", FORBIDDEN)
def test_events_identities_payloads_and_bookkeeping_are_refused(warehouse, relation):
    _, reader = warehouse
    with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
        reader.run(f"SELECT * FROM {relation} LIMIT 1")  # noqa: S608 - fixed names


def test_a_month_of_events_is_refused_by_its_partition_too(warehouse):
    own, reader = warehouse
    partitions = [name for name, r in relations(own).items() if r["partition"]]
    assert "clickstream_events_y2026m01" in partitions
    for partition in partitions:
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            reader.run(f'SELECT * FROM "{partition}" LIMIT 1')  # noqa: S608 - names from pg_class


def test_no_readable_relation_shows_a_payload_or_a_run_summary(warehouse):
    own, reader = warehouse
    readable = [name for name, r in relations(own).items() if r["table"]]
    assert {"health_etl_runs", "health_rejections", "health_rejected_lines", "health_skipped_objects"} <= set(readable)
    for relation in readable:
        text = repr(reader.run(f"SELECT * FROM {relation}"))  # noqa: S608 - names from pg_class
        assert "RAW-PAYLOAD-SECRET" not in text and "RUN-SUMMARY-SECRET" not in text, relation
    # and the views do carry what the health tab shows
    assert reader.run("SELECT reason_code, rejected FROM health_rejections") == [["not_json", 1]]
    assert reader.run("SELECT object_key, reason FROM health_skipped_objects") == [
        ["events/2026/01/12/08/b.ndjson", "archived"]]
    assert reader.run("SELECT status, error FROM health_etl_runs") == [["succeeded", "boom"]]


def test_the_reader_cannot_write_even_through_a_view(warehouse):
    _, reader = warehouse
    for statement in ("DELETE FROM health_etl_runs", "UPDATE health_skipped_objects SET reason = 'x'",
                      "INSERT INTO agg_daily_funnel (session_date) VALUES ('2026-01-01')"):
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            reader.run(statement)
