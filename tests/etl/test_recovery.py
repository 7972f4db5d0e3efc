"""Crashes, concurrent runs, unreachable dependencies and large listings."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from etl.db import PgTarget, WarehouseUnreachable
from etl.pipeline import LOCK_KEY, RunRequest, run
from etl.source import SourceUnreachable
from ingest.storage import encode_lines

from tests.etl.conftest import BUCKET, connected
from tests.etl.streams import START, WINDOW, seeded_stream
from tests.support.raw import put_records, record, snapshot

pytestmark = pytest.mark.postgres



class Crash(RuntimeError):
    pass


def sample_objects(raw_s3, bucket=BUCKET, objects=6):
    """A fixed multi-client stream spread over several objects (duplicates and late copies included)."""
    deliveries = _fixed_deliveries()
    per = max(1, len(deliveries) // objects)
    keys = []
    for i in range(0, len(deliveries), per):
        chunk = deliveries[i:i + per]
        received = max(d.received for d in chunk)
        key = f"events/{received:%Y/%m/%d/%H}/{i:06d}.ndjson"
        raw_s3.put_object(Bucket=bucket, Key=key, Body=encode_lines([d.record for d in chunk], False))
        keys.append(key)
    return keys


def _fixed_deliveries():
    deliveries = seeded_stream(7)
    # rich enough to matter: several clients, a login, duplicates
    assert len({d.record["clientId"] for d in deliveries}) >= 3
    assert any("userId" in d.record for d in deliveries)
    assert len({d.record["_ingest"]["event_id"] for d in deliveries}) < len(deliveries)
    return deliveries


@pytest.fixture
def reference(raw_s3, new_warehouse):
    sample_objects(raw_s3)
    clean = new_warehouse()
    run(clean, WINDOW, s3=raw_s3)
    with connected(clean) as conn:
        return snapshot(conn)


@pytest.mark.parametrize("connections", [1, 2])
@pytest.mark.parametrize("where", ["between objects", "inside an object", "in derive", "between derive steps",
                                   "after the last batch"])
def test_crash_then_rerun_loses_and_doubles_nothing(raw_s3, new_warehouse, reference, where, connections):
    settings = replace(new_warehouse(), batch_objects=1,
                       derive_parallel_min_groups=0 if connections == 2 else 10**9)
    seen = {"batch": 0, "line": 0}

    def fault(phase, detail):
        seen[phase] = seen.get(phase, 0) + 1
        if where == "between objects" and phase == "batch" and seen["batch"] == 3:
            raise Crash(where)
        if where == "inside an object" and phase == "line" and seen["line"] == 12:
            raise Crash(where)
        if where == "in derive" and phase == "derive":
            raise Crash(where)
        if where == "between derive steps" and phase == "derive" and detail == "days":
            raise Crash(where)
        if where == "after the last batch" and phase == "batch" and seen["batch"] == 6:
            raise Crash(where)

    with pytest.raises(Crash):
        run(settings, WINDOW, s3=raw_s3, fault=fault)
    with connected(settings) as conn:
        assert conn.run("SELECT status, error FROM etl_runs") == [["failed", f"Crash: {where}"]]
    summary = run(settings, WINDOW, s3=raw_s3)
    assert summary.status == "succeeded"
    with connected(settings) as conn:
        assert snapshot(conn) == reference
        (loaded,) = conn.run("SELECT sum(events_loaded) FROM etl_object_ledger")[0]
        assert loaded == len(reference["events"])


class FailingOn:
    """A connection that fails the first statement starting with ``prefix``."""

    def __init__(self, connection, prefix: str):
        self._connection, self._prefix = connection, prefix

    def run(self, sql: str, **params):
        if sql.lstrip().startswith(self._prefix):
            raise Crash(self._prefix)
        return self._connection.run(sql, **params)

    def close(self) -> None:
        self._connection.close()


@pytest.mark.parametrize("prefix", ["INSERT INTO etl_work_sessions", "DELETE FROM agg_hourly_activity",
                                    "DELETE FROM agg_daily_product_engagement", "UPDATE clickstream_visitors",
                                    "DELETE FROM agg_daily_entry_exit_pages"])
def test_second_connection_failing_then_rerun_loses_and_doubles_nothing(raw_s3, new_warehouse, reference, prefix):
    # The derive phase's second connection fails in its share of the session rows, at the
    # start or in the middle of the activity step, in the visitors or the days step: what it committed
    # before must not leak into the next run (the work table), and nothing may be lost.
    settings = replace(new_warehouse(), derive_parallel_min_groups=0)
    with pytest.raises(Crash):
        run(settings, WINDOW, s3=raw_s3, connect=lambda: FailingOn(settings.target.connect(), prefix))
    assert run(settings, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(settings) as conn:
        assert snapshot(conn) == reference


def test_second_concurrent_run_exits_cleanly(raw_s3, warehouse):
    sample_objects(raw_s3)
    inside, release = threading.Event(), threading.Event()
    outcome = {}

    def slow_fault(phase, detail):
        if phase == "batch" and not inside.is_set():
            inside.set()
            release.wait(30)

    first = threading.Thread(target=lambda: outcome.setdefault(
        "first", run(replace(warehouse, batch_objects=1), WINDOW, s3=raw_s3, fault=slow_fault)))
    first.start()
    assert inside.wait(30)
    second = run(warehouse, WINDOW, s3=raw_s3)
    release.set()
    first.join(60)
    assert second.status == "skipped" and "another ETL run" in second.message
    assert outcome["first"].status == "succeeded"
    with connected(warehouse) as conn:
        assert conn.run("SELECT status FROM etl_runs") == [["succeeded"]]
        # advisory locks are per database; other warehouses on the cluster may be loading
        assert not conn.run("SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                            " WHERE l.locktype = 'advisory' AND l.objid = :k AND d.datname = current_database()",
                            k=LOCK_KEY)


def test_unreachable_warehouse_is_a_clear_error(raw_s3, warehouse):
    sample_objects(raw_s3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    down = replace(warehouse, target=replace(warehouse.target, port=port, connect_timeout=2))
    with pytest.raises(WarehouseUnreachable, match=f"cannot connect to PostgreSQL .*:{port}/"):
        run(down, WINDOW, s3=raw_s3)
    wrong_password = replace(warehouse, target=replace(warehouse.target, password="not-it"))
    with pytest.raises(WarehouseUnreachable, match="password authentication failed"):
        run(wrong_password, WINDOW, s3=raw_s3)
    with connected(warehouse) as conn:
        assert conn.run("SELECT count(*) FROM etl_object_ledger") == [[0]]


def test_s3_failure_marks_run_failed_and_nothing_processed(warehouse):
    import boto3

    s3 = boto3.client("s3", region_name="eu-west-1")
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(SourceUnreachable, match="SlowDown"):
            run(warehouse, RunRequest(trigger="manual", since=START, until=START + timedelta(hours=1)), s3=s3)
    with connected(warehouse) as conn:
        assert conn.run("SELECT status FROM etl_runs") == [["failed"]]
        assert conn.run("SELECT count(*) FROM etl_object_ledger") == [[0]]


@pytest.mark.slow
def test_more_than_a_thousand_objects_in_one_hour(raw_s3, warehouse):
    hour = datetime(2026, 10, 5, 8, tzinfo=UTC)
    for i in range(1_050):
        event = {"eventName": "page_view", "clientId": f"c{i % 7}", "eventId": f"e-{i}",
                 "pageUrl": "https://shop.example.com/", "clientTimestamp": (hour + timedelta(seconds=i)).isoformat()}
        put_records(raw_s3, BUCKET, [record(event, hour + timedelta(seconds=i))], hour + timedelta(seconds=i),
                    key=f"events/2026/10/05/08/{i:05d}.ndjson")
    summary = run(replace(warehouse, batch_objects=400), WINDOW, s3=raw_s3)
    assert (summary.objects_listed, summary.objects_loaded, summary.events_loaded) == (1_050, 1_050, 1_050)
    with connected(warehouse) as conn:
        assert conn.run("SELECT count(*) FROM clickstream_events") == [[1_050]]


def test_verify_full_refuses_a_server_without_tls(raw_s3, warehouse):
    # The default sslmode is verify-full: a plain-text server is refused, never silently used.
    strict = replace(warehouse, target=replace(warehouse.target, sslmode="verify-full"))
    with pytest.raises(WarehouseUnreachable):
        run(strict, WINDOW, s3=raw_s3)


def test_plain_target_class_defaults_to_verify_full():
    assert PgTarget("h", 5432, "d", "u", "p").sslmode == "verify-full"


def test_connections_send_small_messages_at_once(warehouse):
    # With Nagle's algorithm on (pg8000's default), each small COPY of a batch waited ~40 ms
    # for the server's delayed ACK.
    with connected(warehouse) as conn:
        assert conn._usock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
