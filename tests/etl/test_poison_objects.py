"""No poison objects: one raw object the ETL cannot read never keeps the rest from loading.

Archived objects are real moto objects (StorageClass GLACIER: GetObject answers
InvalidObjectState until restored). The races, a key deleted or rewritten between the listing
and its read, happen for real too: a client that delegates to moto deletes or rewrites the key
just before the ETL's GetObject. Faults of S3 itself (throttling, 5xx, timeouts, a cut-off
body) come from botocore's Stubber or botocore's own exceptions, and must still fail the run.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from etl.pipeline import RunRequest, run
from etl.source import SourceUnreachable

from tests.etl.conftest import BUCKET, connected
from tests.support.raw import SNAPSHOT_QUERIES, record, snapshot

pytestmark = pytest.mark.postgres

HOUR = datetime(2026, 10, 5, 8, tzinfo=UTC)
WINDOW = RunRequest(trigger="manual", since=HOUR - timedelta(hours=1), until=HOUR + timedelta(hours=2))
PREFIX = f"events/{HOUR:%Y/%m/%d/%H}/"
POISON = PREFIX + "04a-poison.ndjson"  # sorts between good objects 04 and 05: in the middle of a batch
DERIVED = [name for name in SNAPSHOT_QUERIES if name != "rejected"]


class Crash(RuntimeError):
    pass


def body(first: int, count: int, tag: str = "p") -> bytes:
    """``count`` page views with event ids first..first+count-1, as one raw object."""
    lines = []
    for i in range(first, first + count):
        at = HOUR + timedelta(seconds=i)
        event = {"eventName": "page_view", "clientId": f"c{i % 7}", "eventId": str(uuid.UUID(int=i)),
                 "pageUrl": f"https://shop.example.com/{tag}/{i}", "clientTimestamp": at.isoformat()}
        lines.append(json.dumps(record(event, at)))
    return ("\n".join(lines) + "\n").encode()


def put_good(s3, objects: int = 10, per: int = 20) -> int:
    """``objects`` readable objects of ``per`` events each (200 by default); returns the event count."""
    for n in range(objects):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{n:02d}.ndjson", Body=body(n * per, per))
    return objects * per


def put_poison(s3, storage_class: str = "STANDARD", first: int = 10_000, count: int = 5) -> str:
    s3.put_object(Bucket=BUCKET, Key=POISON, Body=body(first, count), StorageClass=storage_class)
    return s3.head_object(Bucket=BUCKET, Key=POISON)["ETag"].strip('"')


class Racing:
    """An S3 client that runs ``before_get[key](kwargs)`` just before the ETL reads ``key`` (once),
    and counts the reads per key. A callable that returns something answers the read instead."""

    def __init__(self, s3, before_get=None):
        self._s3 = s3
        self._before = dict(before_get or {})
        self._lock = threading.Lock()
        self.gets: Counter[str] = Counter()
        self.if_match: dict[str, str] = {}

    def get_paginator(self, name):
        return self._s3.get_paginator(name)

    def get_object(self, **kwargs):
        key = kwargs["Key"]
        with self._lock:
            self.gets[key] += 1
            self.if_match[key] = kwargs.get("IfMatch")
            action = self._before.pop(key, None)
        if action is not None:
            answer = action(kwargs)
            if answer is not None:
                return answer
        return self._s3.get_object(**kwargs)


def ledger(settings, key: str = POISON) -> dict | None:
    with connected(settings) as conn:
        rows = conn.run("SELECT etag, status, reason, detail, size_bytes, storage_class, attempts, loaded_at,"
                        " failed_at, retry_after, events_loaded FROM etl_object_ledger WHERE object_key = :k", k=key)
        names = [c["name"] for c in conn.columns]
    return dict(zip(names, rows[0], strict=True)) if rows else None


def count(settings, sql: str) -> int:
    with connected(settings) as conn:
        return conn.run(sql)[0][0]


def make_due(settings) -> None:
    """As if the retry time of every skipped object had come."""
    with connected(settings) as conn:
        conn.run("UPDATE etl_object_ledger SET retry_after = now() - interval '1 second' WHERE status = 'skipped'")


@pytest.fixture
def reference(raw_s3, new_warehouse):
    """The warehouse the good objects alone make."""
    put_good(raw_s3)
    clean = new_warehouse()
    run(clean, WINDOW, s3=raw_s3)
    with connected(clean) as conn:
        return snapshot(conn)


def test_an_archived_object_is_skipped_with_its_reason_and_the_rest_loads(raw_s3, warehouse, reference):
    etag = put_poison(raw_s3, "GLACIER")
    s3 = Racing(raw_s3)
    summary = run(replace(warehouse, batch_objects=3), WINDOW, s3=s3)
    assert (summary.status, summary.objects_listed, summary.objects_loaded, summary.objects_skipped,
            summary.events_loaded) == ("succeeded", 11, 10, 1, 200)
    row = ledger(warehouse)
    assert (row["etag"], row["status"], row["reason"], row["storage_class"], row["attempts"], row["loaded_at"],
            row["events_loaded"]) == (etag, "skipped", "archived", "GLACIER", 1, None, 0)
    assert row["detail"].startswith("InvalidObjectState")
    assert row["size_bytes"] == len(body(10_000, 5))
    assert row["retry_after"] - row["failed_at"] == timedelta(hours=1)
    with connected(warehouse) as conn:
        assert snapshot(conn) == reference
        assert conn.run("SELECT objects_skipped FROM etl_runs") == [[1]]
    # Not read again while nothing says it may be readable: re-runs neither add nor lose a thing.
    for _ in range(2):
        again = run(warehouse, WINDOW, s3=s3)
        assert (again.status, again.objects_new, again.objects_skipped) == ("succeeded", 0, 0)
    assert s3.gets[POISON] == 1
    with connected(warehouse) as conn:
        assert snapshot(conn) == reference
    assert ledger(warehouse)["attempts"] == 1


def test_an_archived_object_is_tried_less_often_and_read_once_restored(raw_s3, warehouse):
    good = put_good(raw_s3)
    put_poison(raw_s3, "DEEP_ARCHIVE")
    run(warehouse, WINDOW, s3=raw_s3)
    for attempt, wait in ((2, 2), (3, 4)):
        make_due(warehouse)
        assert run(warehouse, WINDOW, s3=raw_s3).objects_skipped == 1
        row = ledger(warehouse)
        assert (row["status"], row["attempts"], row["retry_after"] - row["failed_at"]) == (
            "skipped", attempt, timedelta(hours=wait))
    # A restore leaves the ETag and the listed storage class as they were: read at the retry time.
    raw_s3.restore_object(Bucket=BUCKET, Key=POISON, RestoreRequest={"Days": 1})
    assert run(warehouse, WINDOW, s3=raw_s3).objects_new == 0
    make_due(warehouse)
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.objects_loaded, summary.objects_skipped, summary.events_loaded) == (1, 0, 5)
    row = ledger(warehouse)
    assert (row["status"], row["reason"], row["attempts"], row["retry_after"], row["events_loaded"]) == (
        "loaded", None, 0, None, 5)
    assert row["loaded_at"] is not None
    assert count(warehouse, "SELECT count(*) FROM clickstream_events") == good + 5


def test_an_archived_object_moved_to_standard_is_read_at_the_next_run(raw_s3, warehouse):
    put_good(raw_s3)
    etag = put_poison(raw_s3, "GLACIER")
    run(warehouse, WINDOW, s3=raw_s3)
    # Restored, then copied onto itself as STANDARD (as S3 wants it: a copy needs a restore first).
    raw_s3.restore_object(Bucket=BUCKET, Key=POISON, RestoreRequest={"Days": 1})
    raw_s3.copy_object(Bucket=BUCKET, Key=POISON, CopySource={"Bucket": BUCKET, "Key": POISON},
                       StorageClass="STANDARD")
    assert raw_s3.head_object(Bucket=BUCKET, Key=POISON)["ETag"].strip('"') == etag  # only the class changed
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.objects_new, summary.events_loaded) == (1, 5)
    assert ledger(warehouse)["status"] == "loaded"


def test_a_key_deleted_between_listing_and_read_is_skipped_and_read_when_back(raw_s3, warehouse, reference):
    put_poison(raw_s3)
    s3 = Racing(raw_s3, {POISON: lambda kw: raw_s3.delete_object(Bucket=BUCKET, Key=POISON) and None})
    summary = run(replace(warehouse, batch_objects=3), WINDOW, s3=s3)
    assert (summary.status, summary.objects_skipped, summary.events_loaded) == ("succeeded", 1, 200)
    row = ledger(warehouse)
    assert (row["status"], row["reason"]) == ("skipped", "deleted")
    assert row["detail"].startswith("NoSuchKey")
    with connected(warehouse) as conn:
        assert snapshot(conn) == reference
    assert run(warehouse, WINDOW, s3=s3).objects_listed == 10  # gone: nothing to do
    put_poison(raw_s3)  # back, with the same bytes and so the same ETag: listed, it is read
    again = run(warehouse, WINDOW, s3=s3)
    assert (again.objects_new, again.objects_skipped, again.events_loaded) == (1, 0, 5)
    assert ledger(warehouse)["status"] == "loaded"


def test_a_key_rewritten_between_listing_and_read_is_read_by_its_new_etag(raw_s3, warehouse, reference):
    listed = put_poison(raw_s3)

    def rewrite(kwargs):
        raw_s3.put_object(Bucket=BUCKET, Key=POISON, Body=body(20_000, 7, tag="v2"))

    s3 = Racing(raw_s3, {POISON: rewrite})
    summary = run(replace(warehouse, batch_objects=3), WINDOW, s3=s3)
    # The read asked for the version listed, and S3 refused the newer one in its place.
    assert s3.if_match[POISON] == f'"{listed}"'
    assert (summary.status, summary.objects_skipped, summary.events_loaded) == ("succeeded", 1, 200)
    row = ledger(warehouse)
    assert (row["etag"], row["status"], row["reason"]) == (listed, "skipped", "changed")
    assert row["detail"].startswith("PreconditionFailed")
    with connected(warehouse) as conn:
        assert snapshot(conn) == reference
    current = raw_s3.head_object(Bucket=BUCKET, Key=POISON)["ETag"].strip('"')
    again = run(warehouse, WINDOW, s3=s3)
    assert (again.objects_new, again.events_loaded) == (1, 7)
    row = ledger(warehouse)
    assert (row["etag"], row["status"], row["events_loaded"]) == (current, "loaded", 7)
    with connected(warehouse) as conn:
        # what the key holds now, once; nothing of the version never read
        assert conn.run("SELECT count(*), count(DISTINCT event_id) FROM clickstream_events"
                        " WHERE raw_object_key = :k", k=POISON) == [[7, 7]]
        assert conn.run("SELECT count(*) FROM clickstream_events") == [[207]]
    assert run(warehouse, WINDOW, s3=s3).objects_new == 0


def test_a_loaded_key_rewritten_twice_keeps_its_counts_until_the_new_version_is_read(raw_s3, warehouse):
    put_good(raw_s3)
    put_poison(raw_s3)
    run(warehouse, WINDOW, s3=raw_s3)
    raw_s3.put_object(Bucket=BUCKET, Key=POISON, Body=body(10_000, 6))  # listed next ...
    s3 = Racing(raw_s3, {POISON: lambda kw: raw_s3.put_object(Bucket=BUCKET, Key=POISON,
                                                               Body=body(10_000, 8)) and None})  # ... then replaced
    assert run(warehouse, WINDOW, s3=s3).objects_skipped == 1
    row = ledger(warehouse)
    # the first version's events are still loaded, and the ledger still counts them
    assert (row["status"], row["reason"], row["events_loaded"]) == ("skipped", "changed", 5)
    assert row["loaded_at"] is not None
    assert count(warehouse, "SELECT sum(events_loaded) FROM etl_object_ledger") == count(
        warehouse, "SELECT count(*) FROM clickstream_events") == 205
    assert run(warehouse, WINDOW, s3=s3).events_read == 8
    assert count(warehouse, "SELECT sum(events_loaded) FROM etl_object_ledger") == count(
        warehouse, "SELECT count(*) FROM clickstream_events") == 208


def _corrupt_deflate() -> bytes:
    return gzip.compress(b"")[:10] + b"\xff" * 16  # a gzip header, then a block type that does not exist


@pytest.mark.parametrize("raw", [_corrupt_deflate(), gzip.compress(body(10_000, 5))[:-30], b"\x1f\x8bnope"],
                         ids=["corrupt deflate block", "truncated gzip", "not gzip"])
def test_bytes_that_do_not_decode_are_rejected_once_and_read_again_when_rewritten(raw_s3, warehouse, reference,
                                                                                   raw):
    key = PREFIX + "04a-poison.ndjson.gz"
    raw_s3.put_object(Bucket=BUCKET, Key=key, Body=raw)
    s3 = Racing(raw_s3)
    summary = run(replace(warehouse, batch_objects=3), WINDOW, s3=s3)
    assert (summary.status, summary.events_loaded, summary.events_rejected, summary.objects_skipped) == (
        "succeeded", 200, 1, 0)
    row = ledger(warehouse, key)
    assert (row["status"], row["reason"]) == ("rejected", "unreadable_object")
    assert row["failed_at"] is not None and row["retry_after"] is None
    with connected(warehouse) as conn:
        assert snapshot(conn, DERIVED) == {name: reference[name] for name in DERIVED}
        assert conn.run("SELECT line_no, reason_code FROM etl_rejected_events") == [[0, "unreadable_object"]]
    assert run(warehouse, WINDOW, s3=s3).objects_new == 0
    assert s3.gets[key] == 1
    raw_s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body(10_000, 5)))
    assert run(warehouse, WINDOW, s3=s3).events_loaded == 5
    assert (ledger(warehouse, key)["status"], ledger(warehouse, key)["reason"]) == ("loaded", None)
    assert count(warehouse, "SELECT count(*) FROM etl_rejected_events") == 0


def _stubbed_error(code: str, status: int):
    client = boto3.client("s3", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
    stub.activate()
    return lambda kwargs: client.get_object(**kwargs)


def _timeout(kwargs):
    raise ReadTimeoutError(endpoint_url=f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/{kwargs['Key']}")


def _cut_off(kwargs):
    # The headers promised 4,096 bytes; the connection ended after 100.
    return {"Body": StreamingBody(io.BytesIO(b"{" * 100), 4096), "ETag": kwargs["IfMatch"]}


@pytest.mark.parametrize("fault", [
    lambda: _stubbed_error("SlowDown", 503), lambda: _stubbed_error("InternalError", 500),
    lambda: _stubbed_error("ServiceUnavailable", 503), lambda: _stubbed_error("AccessDenied", 403),
    lambda: _timeout, lambda: _cut_off,
], ids=["throttled", "internal error", "unavailable", "access denied", "read timeout", "body cut off"])
def test_faults_of_s3_itself_fail_the_run_and_ledger_nothing_as_skipped(raw_s3, warehouse, fault):
    put_good(raw_s3)
    put_poison(raw_s3)
    s3 = Racing(raw_s3, {POISON: fault()})
    with pytest.raises(SourceUnreachable, match=POISON):
        run(replace(warehouse, batch_objects=3), WINDOW, s3=s3)
    with connected(warehouse) as conn:
        assert conn.run("SELECT status FROM etl_runs") == [["failed"]]
        assert conn.run("SELECT count(*) FROM etl_object_ledger WHERE status <> 'loaded' OR object_key = :k",
                        k=POISON) == [[0]]
    # The next run, S3 healthy again, reads it: nothing was lost.
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.status, summary.objects_skipped) == ("succeeded", 0)
    assert count(warehouse, "SELECT count(*) FROM clickstream_events") == 205
    assert ledger(warehouse)["status"] == "loaded"


def test_a_crash_in_a_batch_with_a_skipped_object_ledgers_none_of_the_batch(raw_s3, new_warehouse, reference):
    settings = replace(new_warehouse(), batch_objects=3)  # batches: 00-02, 03 04 04a, 05-07, 08 09
    put_poison(raw_s3, "GLACIER")

    def fault(phase, detail):
        if phase == "line" and detail[0] == PREFIX + "04.ndjson":
            raise Crash("inside the batch that skips an object")

    with pytest.raises(Crash):
        run(settings, WINDOW, s3=raw_s3, fault=fault)
    with connected(settings) as conn:
        assert conn.run("SELECT object_key FROM etl_object_ledger ORDER BY 1") == [
            [f"{PREFIX}{n:02d}.ndjson"] for n in range(3)]
    summary = run(settings, WINDOW, s3=raw_s3)
    assert (summary.objects_new, summary.objects_skipped) == (8, 1)
    with connected(settings) as conn:
        assert snapshot(conn) == reference
    assert ledger(settings)["attempts"] == 1


def test_reprocessing_a_loaded_object_archived_since_keeps_it_loaded(raw_s3, warehouse):
    put_good(raw_s3)
    etag = put_poison(raw_s3)
    run(warehouse, WINDOW, s3=raw_s3)
    raw_s3.copy_object(Bucket=BUCKET, Key=POISON, CopySource={"Bucket": BUCKET, "Key": POISON},
                       StorageClass="GLACIER")
    request = RunRequest(trigger="manual", since=WINDOW.since, until=WINDOW.until, reprocess=True)
    summary = run(warehouse, request, s3=raw_s3)
    assert (summary.status, summary.objects_skipped, summary.objects_loaded) == ("succeeded", 1, 10)
    row = ledger(warehouse)
    # the warehouse holds exactly the version listed: nothing to retry, nothing to show as skipped
    assert (row["etag"], row["status"], row["reason"], row["events_loaded"]) == (etag, "loaded", None, 5)
    assert count(warehouse, "SELECT count(*) FROM clickstream_events") == 205
    assert run(warehouse, WINDOW, s3=raw_s3).objects_new == 0


def test_the_handler_reports_skipped_objects_as_a_metric(raw_s3, warehouse, monkeypatch, capsys):
    from etl import handler as etl_handler

    put_good(raw_s3, objects=2)
    put_poison(raw_s3, "GLACIER")
    t = warehouse.target
    for name, value in {"RAW_BUCKET_NAME": warehouse.bucket, "DW_PG_HOST": t.host, "DW_PG_PORT": str(t.port),
                        "DW_PG_USER": t.user, "DW_PG_PASSWORD": t.password, "DW_PG_DATABASE": t.database,
                        "DW_PG_SSL": "false"}.items():
        monkeypatch.setenv(name, value)
    payload = {"since": WINDOW.since.isoformat(), "until": WINDOW.until.isoformat()}
    result = etl_handler.handler(payload, type("Ctx", (), {"aws_request_id": "req-skip"})())
    assert (result["status"], result["objects_skipped"], result["events_loaded"]) == ("succeeded", 1, 40)
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    names = {m["Name"] for m in log["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "ObjectsSkipped" in names and log["ObjectsSkipped"] == 1
