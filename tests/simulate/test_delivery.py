"""End to end: the simulator against the real local ingest (HTTP adapter + handler + a moto S3 server),
and the S3 sink through the ingest Lambda's own code into moto; what lands is read back as the ETL does."""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from etl import normalize
from moto import mock_aws
from moto.server import ThreadedMotoServer

from tests.support.local import free_port
from toolkit.simulate import cli
from toolkit.simulate.model import Planner
from toolkit.simulate.send import S3Sink, run

BUCKET = "clickstream-raw-sim"
ETL_DEFAULT_LATE_LIMIT = timedelta(days=7)  # lambdas/etl/settings.py
TIME = normalize.EVENT_COLUMNS.index("event_timestamp")
RECEIVED = normalize.EVENT_COLUMNS.index("received_at")
DEVICE = normalize.EVENT_COLUMNS.index("device_type")
IS_BOT = normalize.EVENT_COLUMNS.index("is_bot")
CHANNEL = normalize.EVENT_COLUMNS.index("channel")


def objects(s3, prefix: str = "events/") -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            obj = s3.get_object(Bucket=BUCKET, Key=item["Key"])
            body = obj["Body"].read()
            out[item["Key"]] = gzip.decompress(body) if item["Key"].endswith(".gz") else body
    return out


def records(bodies: dict[str, bytes]) -> list[dict]:
    return [json.loads(line) for body in bodies.values() for line in body.decode().splitlines()]


def planned(argv: list[str]):
    args = cli.build_parser().parse_args(argv)
    config = cli.config_from_args(args)
    return config, list(Planner(config).batches())


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


@pytest.fixture
def local_ingest(moto_endpoint, monkeypatch):
    """The platform's local ingest: scripts/local_ingest.py's server around the real handler."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("RAW_BUCKET_NAME", BUCKET)
    monkeypatch.delenv("CORS_ALLOWED_ORIGINS", raising=False)
    monkeypatch.delenv("RAW_GZIP", raising=False)
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    from ingest import handler as ingest_handler

    from toolkit.local.http_adapter import make_server

    ingest_handler._store_cache.clear()
    server = make_server(ingest_handler.handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clickstream", s3
    server.shutdown()
    server.server_close()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        if page.get("Contents"):
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})
    s3.delete_bucket(Bucket=BUCKET)
    ingest_handler._store_cache.clear()


def test_http_run_against_the_local_ingest_stores_every_event(local_ingest, capsys):
    url, s3 = local_ingest
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    argv = ["--url", url, "--seed", "5", "--days", "1", "--sessions-per-day", "50", "--end", end.isoformat(),
            "--gzip", "--concurrency", "6", "--no-progress", "--json"]
    config, batches = planned(argv)

    assert cli.main(argv) == 0
    out = capsys.readouterr().out  # the in-process ingest handler logs its JSON lines here too
    summary, _ = json.JSONDecoder().raw_decode(out[out.index('{\n  "seed"'):])
    planned_events = sum(len(b.events) for b in batches)
    assert summary["events"] == summary["accepted"] == planned_events and summary["failed"] == 0
    assert summary["etl_late_limit_hours"] == config.history_late_limit_hours

    stored = records(objects(s3))
    assert objects(s3, "invalid/") == {}
    # Every planned event is stored; duplicate sends are stored twice (the ETL deduplicates).
    assert Counter(r["eventId"] for r in stored) == Counter(e["eventId"] for b in batches for e in b.events)
    ua_of = {b.client_id: b.user_agent for b in batches}
    assert all(r["_ingest"]["user_agent"] == ua_of[r["clientId"]] for r in stored)

    # History went out now: only a late limit covering its age lets the ETL take all of it, and
    # the skew correction puts every event back at its planned time.
    true_time = {e["eventId"]: (e["clientTimestamp"] - b.skew_ms) / 1000 for b in batches for e in b.events}
    body = "\n".join(json.dumps(r) for r in stored).encode()
    parsed = normalize.parse_object("events/x.ndjson", body, None, timedelta(hours=config.history_late_limit_hours))
    assert parsed.rejected == [] and len(parsed.rows) == len(stored)
    for row, record in zip(parsed.rows, stored, strict=True):
        assert abs(row[TIME].timestamp() - true_time[record["eventId"]]) < 30
    too_short = normalize.parse_object("events/x.ndjson", body, None, timedelta(hours=2))
    assert too_short.rejected and {r.code for r in too_short.rejected} == {"too_late"}
    assert {row[CHANNEL] for row in parsed.rows} >= {"direct", "organic_search", "paid_search", "internal"}


def test_s3_backfill_writes_what_the_lambda_would_have_written_on_those_days(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    end = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    argv = ["--s3-bucket", BUCKET, "--seed", "9", "--days", "3", "--sessions-per-day", "40", "--end", end.isoformat()]
    config, batches = planned(argv)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        stats = run(Planner(config).batches(), S3Sink(BUCKET, gzip_objects=True), concurrency=4, realtime=False)
        bodies = objects(s3)
        assert objects(s3, "invalid/") == {}
    assert stats.failed == 0 and stats.rejected == 0
    assert stats.accepted == sum(len(b.events) for b in batches)
    assert len(bodies) == len(batches)  # one object per request, as the Lambda writes

    send_times: dict[tuple, list[float]] = {}
    for b in batches:
        send_times.setdefault(tuple(e["eventId"] for e in b.events), []).append(b.send_at)
    true_time = {e["eventId"]: (e["clientTimestamp"] - b.skew_ms) / 1000 for b in batches for e in b.events}
    for key, body in bodies.items():
        lines = [json.loads(line) for line in body.decode().splitlines()]
        received = datetime.fromisoformat(lines[0]["_ingest"]["received_at"].replace("Z", "+00:00"))
        # Received a few tens of ms after the planned send; the key's hour partition follows it.
        sent = send_times[tuple(r["eventId"] for r in lines)]  # twice for a duplicate send
        assert any(0.0 < received.timestamp() - t < 0.25 for t in sent)
        assert re.fullmatch(rf"events/{received:%Y/%m/%d/%H}/{received:%Y%m%dT%H%M%S}\d{{3}}Z-[0-9a-f]{{32}}"
                            r"\.ndjson\.gz", key)
        assert config.start_ts <= received.timestamp() <= config.end_ts + 1
        # The ETL's default late limit takes it all, at the planned times.
        parsed = normalize.parse_object(key, body, None, ETL_DEFAULT_LATE_LIMIT)
        assert parsed.rejected == []
        for row, record in zip(parsed.rows, lines, strict=True):
            assert abs(row[TIME].timestamp() - true_time[record["eventId"]]) < 0.3
            assert row[RECEIVED] == received
            assert row[IS_BOT] == (row[DEVICE] == "bot")
        assert lines[0]["_ingest"]["source_ip"].startswith(("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:"))
