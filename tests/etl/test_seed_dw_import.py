"""scripts/import_seed_dw.py: a seed warehouse table into this warehouse, through the ETL.

The source is a scratch database holding the seed's table (Lambda-ETL.mjs, ensureTableExists)
with rows as the SBW storefront's tracker and the seed's ETL left them; the raw bucket is moto.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.etl.conftest import BUCKET, connected
from tests.support.raw import snapshot
from toolkit.seed import import_dw
from toolkit.seed.import_dw import PREFIX_ROOT, SeedSource, import_table, pages, seed_record

pytestmark = pytest.mark.postgres

SEED_TABLE = """
CREATE TABLE {table} (
  event_id UUID PRIMARY KEY,
  event_timestamp TIMESTAMPTZ NOT NULL,
  event_name TEXT NOT NULL,
  user_id TEXT,
  user_login_state TEXT,
  identity_source TEXT,
  client_id TEXT,
  session_id TEXT,
  is_first_visit BOOLEAN,
  context_product_id TEXT,
  context_product_name TEXT,
  context_product_category TEXT,
  context_product_brand TEXT,
  context_product_price BIGINT,
  context_product_discount_price BIGINT,
  context_product_url_path TEXT
)
"""
COLUMNS = ("event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "identity_source",
           "client_id", "session_id", "is_first_visit", "context_product_id", "context_product_name",
           "context_product_category", "context_product_brand", "context_product_price",
           "context_product_discount_price", "context_product_url_path")

INSERT = (f"INSERT INTO clickstream_events ({', '.join(COLUMNS)})"  # noqa: S608 - the seed's column names
          f" VALUES ({', '.join(':' + c for c in COLUMNS)})")

# More than a year before the tests run: the ETL's late limit (7 days before receipt) must not
# refuse them, since a seed row's event time is its receive time.
T = datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
PREFIX = f"{PREFIX_ROOT}clickstream_events/"


def uid(n: int) -> str:
    """Event ids whose order is their number's (keyset pages and object keys follow it)."""
    return f"{n:08x}-0000-4000-8000-000000000000"


IPHONE = {"context_product_id": "iphone-15", "context_product_name": "iPhone 15",
          "context_product_category": "dien-thoai", "context_product_brand": "Apple",
          "context_product_price": 199000, "context_product_discount_price": 10,
          "context_product_url_path": "/product/iphone-15"}
CASE = {"context_product_id": "op-lung", "context_product_name": "Op lung", "context_product_category": "phu-kien",
        "context_product_price": 50000, "context_product_discount_price": 0}

# Two sessions, a category view, checkout_complete with no value (the seed never stored one),
# and a row with no identity at all, which the contract refuses.
ROWS = [
    {"event_id": uid(1), "event_timestamp": T, "event_name": "product_view", "user_login_state": "guest",
     "client_id": "c1", "session_id": "s1", "is_first_visit": True, **IPHONE},
    {"event_id": uid(2), "event_timestamp": T + timedelta(minutes=1), "event_name": "add_to_cart_click",
     "user_id": "u1", "user_login_state": "logged_in", "client_id": "c1", "session_id": "s1",
     "is_first_visit": False, **IPHONE},
    {"event_id": uid(3), "event_timestamp": T + timedelta(minutes=3), "event_name": "checkout_complete",
     "user_id": "u1", "user_login_state": "logged_in", "client_id": "c1", "session_id": "s1"},
    {"event_id": uid(4), "event_timestamp": T + timedelta(hours=2), "event_name": "category_view",
     "user_id": "u2", "identity_source": "google", "client_id": "c2", "session_id": "s2",
     "context_product_id": "dien-thoai", "context_product_category": "dien-thoai"},
    {"event_id": uid(5), "event_timestamp": T + timedelta(hours=2, minutes=1), "event_name": "product_view",
     "user_id": "u2", "identity_source": "google", "client_id": "c2", "session_id": "s2", **CASE},
    {"event_id": uid(6), "event_timestamp": T + timedelta(hours=2, minutes=2), "event_name": "product_view",
     **IPHONE},
]


def insert(connection, rows):
    """Rows into the seed's table, every column named (absent ones null), as the seed inserted them."""
    for row in rows:
        connection.run(INSERT, **{c: row.get(c) for c in COLUMNS})


@pytest.fixture
def seed(pg_server, scratch_db):
    """The seed's database with its table and ROWS: (SeedSource, an open connection to it)."""
    connection = pg_server.connect(scratch_db)
    connection.run(SEED_TABLE.format(table="clickstream_events"))
    insert(connection, ROWS)
    source = SeedSource(host=pg_server.host, port=pg_server.port, user=pg_server.user,
                        password=pg_server.password, database=scratch_db, sslmode="disable")
    yield source, connection
    connection.close()


def objects(s3):
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listing}


def test_seed_table_imports_through_the_etl_and_again_as_a_no_op(seed, raw_s3, warehouse):
    source, seed_db = seed
    first = import_table(source, warehouse, raw_s3, page_size=2)
    assert first.status == "succeeded", first.message
    # Keyset pages of two rows, each an object named by its first event_id.
    assert sorted(objects(raw_s3)) == [f"{PREFIX}{uid(n)}.ndjson" for n in (1, 3, 5)]
    assert (first.rows_read, first.objects_written, first.objects_unchanged) == (6, 3, 0)
    assert (first.events_loaded, first.events_duplicate, first.events_rejected) == (5, 0, 1)
    # Every row is accounted for; the one that could not be mapped is reported with its reason.
    assert (first.rows_in_warehouse, first.rows_rejected, first.rows_unaccounted) == (5, 1, 0)
    assert first.rejected_reasons == {"missing_identity": 1}
    [example] = first.rejected_examples
    assert (example["event_id"], example["reason_code"], example["object_key"], example["line_no"]) == (
        uid(6), "missing_identity", f"{PREFIX}{uid(5)}.ndjson", 2)
    assert "1 rows rejected (missing_identity 1)" in first.line()

    # The raw record keeps the seed's own shape; the receive time is the seed's event_timestamp.
    body = raw_s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}{uid(1)}.ndjson")["Body"].read().decode()
    assert json.loads(body.splitlines()[0]) == {
        "event_id": uid(1), "event_name": "product_view", "user_login_state": "guest", "client_id": "c1",
        "session_id": "s1", "is_first_visit": True,
        "context_product": {"product_id": "iphone-15", "product_name": "iPhone 15", "product_category": "dien-thoai",
                            "product_brand": "Apple", "product_price": 199000, "product_discount_price": 10,
                            "product_url_path": "/product/iphone-15"},
        "_ingest": {"received_at": "2025-11-20T10:00:00.000Z", "dialect": "seed_legacy",
                    "source": "seed_dw:clickstream_events"}}

    with connected(warehouse) as conn:
        events = {str(r[0]): r[1:] for r in conn.run(
            "SELECT event_id, event_name, event_type, product_id, product_price, product_discount_price,"
            " item_list_id, identity_source, dialect, event_timestamp, received_at, client_created_at, value,"
            " currency, session_group FROM clickstream_events")}
        assert sorted(events) == [uid(n) for n in range(1, 6)]
        assert {k: v[:2] for k, v in events.items()} == {
            uid(1): ["product_view", "view_item"], uid(2): ["add_to_cart_click", "add_to_cart"],
            uid(3): ["checkout_complete", "purchase"], uid(4): ["category_view", "view_item_list"],
            uid(5): ["product_view", "view_item"]}
        # 10 % off: the seed kept the percentage; the dialect gives the list price and the price paid.
        assert events[uid(1)][2:5] == ["iphone-15", Decimal("221111"), Decimal("199000")]
        assert events[uid(2)][2:5] == ["iphone-15", Decimal("221111"), Decimal("199000")]
        assert events[uid(5)][2:5] == ["op-lung", Decimal("50000"), None]  # 0 % off is no discount
        # The category view names a list, not a product.
        assert events[uid(4)][2:6] == [None, None, None, "dien-thoai"]
        assert {k: v[6] for k, v in events.items()} == {
            uid(1): None, uid(2): "cognito", uid(3): "cognito", uid(4): "google", uid(5): "google"}
        assert {v[7] for v in events.values()} == {"seed_legacy"}
        # Event time = receive time = the seed's event_timestamp; no client time was ever stored.
        assert [events[uid(n)][8:11] for n in (1, 3)] == [[T, T, None], [T + timedelta(minutes=3)] * 2 + [None]]
        assert events[uid(3)][11:13] == [None, None]  # the seed stored no order value
        rejected = conn.run("SELECT object_key, line_no, event_id, reason_code FROM etl_rejected_events")
        assert [[r[0], r[1], str(r[2]), r[3]] for r in rejected] == [
            [f"{PREFIX}{uid(5)}.ndjson", 2, uid(6), "missing_identity"]]
        sessions = {r[0]: r[1:] for r in conn.run(
            "SELECT session_key, user_id, event_count, session_start, session_end, funnel_stage_name,"
            " product_category FROM clickstream_sessions ORDER BY session_key")}
        assert sessions == {
            "s1": ["u1", 3, T, T + timedelta(minutes=3), "purchase", "dien-thoai"],
            "s2": ["u2", 2, T + timedelta(hours=2), T + timedelta(hours=2, minutes=1), "view_item", "phu-kien"]}
        products = conn.run("SELECT product_id, sum(views), sum(add_to_carts), sum(purchases), sum(revenue)"
                            " FROM agg_daily_product_engagement GROUP BY product_id ORDER BY product_id")
        # The purchase names no product and has no value: the products of the session's cart are
        # what it bought, at the price paid; the session's revenue (purchase values) stays 0.
        assert products == [["iphone-15", 1, 1, 1, Decimal("199000")], ["op-lung", 1, 0, 0, Decimal("0")]]
        assert conn.run("SELECT purchases, revenue FROM clickstream_sessions WHERE session_key = 's1'") == [
            [1, Decimal("0")]]
        run = conn.run("SELECT trigger, prefix, window_start, window_end, status FROM etl_runs WHERE run_id = :r",
                       r=first.etl_run_id)
        assert run == [["manual", PREFIX, T, T + timedelta(hours=2, minutes=2, seconds=1), "succeeded"]]
        before = conn.run("SELECT count(*), max(etl_run_id) FROM clickstream_events")

    # Again: the same bytes, so nothing is written and the ETL finds nothing new; the row it
    # rejected is still reported.
    listed = objects(raw_s3)
    again = import_table(source, warehouse, raw_s3, page_size=2)
    assert again.status == "succeeded", again.message
    assert (again.rows_read, again.objects_written, again.objects_unchanged) == (6, 0, 3)
    assert (again.events_loaded, again.events_duplicate, again.events_rejected) == (0, 0, 0)
    assert (again.rows_in_warehouse, again.rows_rejected, again.rows_unaccounted) == (5, 1, 0)
    assert again.rejected_reasons == {"missing_identity": 1}
    assert objects(raw_s3) == listed
    with connected(warehouse) as conn:
        assert conn.run("SELECT count(*), max(etl_run_id) FROM clickstream_events") == before
        assert conn.run("SELECT objects_listed, objects_loaded FROM etl_runs WHERE run_id = :r",
                        r=again.etl_run_id) == [[3, 0]]

    # A row added to the seed since: the one object whose range holds it is written again, and
    # the ETL reads it again: what it holds now replaces what it held (its two rows, as read
    # now), and the new row is the only event the warehouse gains.
    added = {"event_id": uid(4)[:-1] + "1", "event_timestamp": T + timedelta(hours=2, minutes=5),
             "event_name": "add_to_cart_click", "user_id": "u2", "client_id": "c2", "session_id": "s2", **CASE}
    insert(seed_db, [added])
    third = import_table(source, warehouse, raw_s3, page_size=2)
    assert third.status == "succeeded", third.message
    assert (third.rows_read, third.objects_written, third.objects_unchanged) == (7, 1, 2)
    assert (third.events_loaded, third.events_duplicate, third.events_rejected) == (3, 0, 0)
    assert (third.rows_in_warehouse, third.rows_rejected, third.rows_unaccounted) == (6, 1, 0)
    after = objects(raw_s3)
    assert sorted(after) == sorted(listed)
    assert [k for k in after if after[k] != listed[k]] == [f"{PREFIX}{uid(3)}.ndjson"]
    with connected(warehouse) as conn:
        assert conn.run("SELECT event_type, product_price, etl_run_id FROM clickstream_events"
                        " WHERE event_id = :e", e=added["event_id"]) == [
            ["add_to_cart", Decimal("50000"), third.etl_run_id]]
        assert conn.run("SELECT event_count, funnel_stage_name FROM clickstream_sessions"
                        " WHERE session_key = 's2'") == [[3, "add_to_cart"]]
        # The seed's newest row goes after the rows already loaded from its object: their lines stay put.
        assert conn.run("SELECT event_id, raw_line FROM clickstream_event_ids WHERE raw_object_key = :k"
                        " ORDER BY raw_line", k=f"{PREFIX}{uid(3)}.ndjson") == [
            [uuid.UUID(uid(3)), 1], [uuid.UUID(uid(4)), 2], [uuid.UUID(added["event_id"]), 3]]
    # ...and the next import is a no-op again.
    fourth = import_table(source, warehouse, raw_s3, page_size=2)
    assert (fourth.objects_written, fourth.events_loaded, fourth.rows_unaccounted) == (0, 0, 0)
    # Reprocessing reads every object again and replaces every row loaded from them (a corrected
    # dialect would apply to all of them); what it derives is the same.
    with connected(warehouse) as conn:
        derived = snapshot(conn, ("events", "sessions", "products", "funnel", "rejected"))
    again = import_table(source, warehouse, raw_s3, page_size=2, reprocess=True)
    assert (again.status, again.reprocess, again.objects_written) == ("succeeded", True, 0)
    assert (again.events_loaded, again.events_duplicate, again.events_rejected) == (6, 0, 1)
    assert (again.rows_in_warehouse, again.rows_rejected, again.rows_unaccounted) == (6, 1, 0)
    with connected(warehouse) as conn:
        assert snapshot(conn, ("events", "sessions", "products", "funnel", "rejected")) == derived


def test_objects_keep_their_boundaries_as_the_source_grows():
    def rows(*numbers):
        return [{"event_id": uid(n)} for n in numbers]

    def plan(numbers, boundaries, size):
        return [(key, [r["event_id"] for r in page]) for key, page in pages(rows(*numbers), boundaries, size)]

    # No objects yet: the keyset pages.
    assert plan([1, 2, 3, 4, 5], [], 2) == [(uid(1), [uid(1), uid(2)]), (uid(3), [uid(3), uid(4)]),
                                            (uid(5), [uid(5)])]
    # A row inside an existing object's range joins it (up to twice the page size)...
    assert plan([1, 2, 3, 4, 5, 6], [uid(1), uid(3), uid(5)], 2)[1] == (uid(3), [uid(3), uid(4)])
    assert plan([1, 2, 3, 4, 6, 7, 8], [uid(1), uid(3), uid(7)], 2)[1] == (uid(3), [uid(3), uid(4), uid(6)])
    # ...rows before the first boundary make a new object, and a full one continues in a new object.
    assert plan([0, 1, 2], [uid(1)], 2) == [(uid(0), [uid(0)]), (uid(1), [uid(1), uid(2)])]
    assert plan([3, 4, 5, 6, 7], [uid(3)], 2) == [(uid(3), [uid(3), uid(4), uid(5), uid(6)]), (uid(7), [uid(7)])]
    # An object whose first row is gone keeps its key for the rest of its range.
    assert plan([1, 4], [uid(1), uid(3)], 2) == [(uid(1), [uid(1)]), (uid(3), [uid(4)])]


def test_a_stored_time_that_is_no_time_goes_to_the_etl_to_reject():
    record = seed_record({"event_id": uid(1), "event_timestamp": "infinity", "event_name": "home_view",
                          "client_id": "c1", "user_id": None}, "clickstream_events")
    assert record == {"event_id": uid(1), "event_name": "home_view", "client_id": "c1",
                      "event_timestamp": "infinity",
                      "_ingest": {"received_at": "infinity", "dialect": "seed_legacy",
                                  "source": "seed_dw:clickstream_events"}}


def env_file(tmp_path, settings):
    t = settings.target
    path = tmp_path / "etl.env"
    path.write_text(f"RAW_BUCKET_NAME={settings.bucket}\nDW_PG_HOST={t.host}\nDW_PG_PORT={t.port}\n"
                    f"DW_PG_USER={t.user}\nDW_PG_PASSWORD={t.password}\nDW_PG_DATABASE={t.database}\n"
                    "DW_PG_SSL=false\n")
    return str(path)


def cli_args(source, env, *extra):
    return ["--env-file", env, "--source-host", source.host, "--source-port", str(source.port),
            "--source-user", source.user, "--source-database", source.database, "--source-sslmode", "disable",
            "--no-progress", *extra]


def test_command_line_dry_run_then_import_with_summary(seed, raw_s3, warehouse, tmp_path, monkeypatch, capsys):
    source, seed_db = seed
    seed_db.run("INSERT INTO clickstream_events (event_id, event_timestamp, event_name, client_id)"
                " VALUES (:e, 'infinity', 'home_view', 'c9')", e=uid(9))
    monkeypatch.setenv("SEED_PG_PASSWORD", source.password)
    env = env_file(tmp_path, warehouse)

    assert import_dw.main(cli_args(source, env, "--dry-run")) == import_dw.EXIT_OK
    out, err = capsys.readouterr()
    dry = json.loads(out)
    assert (dry["status"], dry["rows_read"], dry["objects_to_write"], dry["objects_written"]) == ("dry_run", 7, 1, 0)
    assert "dry run; 7 rows read, 1 objects to write" in err
    assert objects(raw_s3) == {}

    assert import_dw.main(cli_args(source, env)) == import_dw.EXIT_OK
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["status"], summary["rows_read"], summary["objects_written"], summary["events_loaded"]) == (
        "succeeded", 7, 1, 5)
    # Rows that cannot be mapped are reported by reason, with examples, never dropped silently.
    assert summary["rejected_reasons"] == {"invalid_value": 1, "missing_identity": 1}
    assert summary["rows_unaccounted"] == 0
    assert {e["event_id"]: (e["reason_code"], e["field"]) for e in summary["rejected_examples"]} == {
        uid(6): ("missing_identity", None), uid(9): ("invalid_value", "client_timestamp")}
    assert err.startswith("seed import clickstream_events: succeeded; 7 rows read, 1 objects written")
    # The ETL window spans the rows that have a time.
    assert (summary["window_start"], summary["window_end"]) == (
        T.isoformat(), (T + timedelta(hours=2, minutes=2, seconds=1)).isoformat())


@pytest.mark.parametrize(("extra", "code", "message"), [
    (("--source-table", "events; DROP TABLE x"), 2, "expected a table name"),
    (("--source-table", "no_such_table"), 2, "table no_such_table not found"),
    (("--page-size", "0"), 2, "--page-size must be between 1"),
])
def test_command_line_refuses_bad_arguments(seed, raw_s3, warehouse, tmp_path, monkeypatch, capsys,
                                            extra, code, message):
    source, _ = seed
    monkeypatch.setenv("SEED_PG_PASSWORD", source.password)
    assert import_dw.main(cli_args(source, env_file(tmp_path, warehouse), *extra)) == code
    out, err = capsys.readouterr()
    assert out == "" and message in json.loads(err)["error"]
    assert objects(raw_s3) == {}


def test_command_line_unreachable_source_and_missing_settings(seed, raw_s3, warehouse, tmp_path, monkeypatch,
                                                              capsys):
    import socket

    source, _ = seed
    monkeypatch.setenv("SEED_PG_PASSWORD", source.password)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = cli_args(source, env_file(tmp_path, warehouse))
    args[args.index("--source-port") + 1] = str(port)
    assert import_dw.main(args) == import_dw.EXIT_UNREACHABLE
    assert "cannot connect to the seed's PostgreSQL" in json.loads(capsys.readouterr().err)["error"]

    empty = tmp_path / "empty.env"
    empty.write_text("")
    monkeypatch.delenv("RAW_BUCKET_NAME", raising=False)
    assert import_dw.main(cli_args(source, str(empty))) == import_dw.EXIT_CONFIG
    assert "RAW_BUCKET_NAME is not set" in json.loads(capsys.readouterr().err)["error"]
