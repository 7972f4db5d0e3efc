"""Simulated traffic through the whole back end: S3 sink (the ingest's code) -> ETL -> PostgreSQL.

The warehouse must see the sessions the simulator planned: their funnel stage, purchases,
channel, device, bot flag and login state, and each event exactly once despite duplicate sends.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest
from clickstream_common import dialect
from etl.db import PgTarget
from etl.pipeline import RunRequest, run
from etl.settings import Settings
from moto import mock_aws

from toolkit.dw import migrate
from toolkit.simulate.model import Planner, TrafficConfig
from toolkit.simulate.profiles import EXPECTED_CHANNEL
from toolkit.simulate.send import S3Sink
from toolkit.simulate.send import run as deliver

pytestmark = pytest.mark.postgres

BUCKET = "clickstream-raw-sim-dw"
STAGES = {"view_item": 1, "add_to_cart": 2, "begin_checkout": 3, "purchase": 4}
# The simulator sends the contract's canonical names: its page events are the contract dialect's.
PAGE_EVENTS = frozenset(name for name, role in dialect.get("clickstream").page_events.items() if role)


def expected_sessions(config: TrafficConfig) -> dict[str, dict]:
    out = {}
    for plan in Planner(config).sessions():
        events = [e for _, e in plan.events]
        states = {e["userLoginState"] for e in events}
        # The planner sends a page_view for each page it loads.
        page_views = sum(e["eventName"] == "page_view" for e in events)
        out[events[0]["sessionId"]] = {
            "stage": max((STAGES.get(e["eventName"], 0) for e in events), default=0),
            "purchases": sum(e["eventName"] == "purchase" for e in events),
            "revenue": sum(Decimal(str(e["value"])) for e in events if e["eventName"] == "purchase"),
            "channel": "direct" if plan.is_bot else EXPECTED_CHANNEL[plan.channel],
            "device": plan.device,
            "is_bot": plan.is_bot,
            "login_state": next(s for s in ("logged_in", "guest", "anonymous") if s in states),
            "users": {e["userId"] for e in events if e["userId"]},
            "events": len(events),
            "page_views": page_views,
            "bounce": page_views == 1 and all(e["eventName"] in PAGE_EVENTS for e in events),
        }
    return out


def test_planned_sessions_arrive_in_the_warehouse(pg_server, scratch_db, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # moto's in-process mock, not a server
    config = TrafficConfig(seed=17, end=datetime(2026, 11, 18, 9, tzinfo=UTC), days=2, sessions_per_day=60,
                           duplicate_share=0.05, late_share=0.05)
    expected = expected_sessions(config)

    password = secrets.token_hex(16)
    conn = pg_server.connect(scratch_db)
    migrate.migrate(conn)
    migrate.ensure_login(conn, "sim_writer", password, migrate.WRITER_GROUP, scratch_db)
    conn.close()
    target = PgTarget(host=pg_server.host, port=pg_server.port, database=scratch_db, user="sim_writer",
                      password=password, sslmode="disable")
    settings = Settings(bucket=BUCKET, target=target, read_workers=4)

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        stats = deliver(Planner(config).batches(), S3Sink(BUCKET), concurrency=4, realtime=False)
        assert stats.duplicate_batches > 0 and stats.late_batches > 0
        since = datetime.fromtimestamp(config.start_ts, UTC) - timedelta(hours=1)
        summary = run(settings, RunRequest("manual", since, config.end + timedelta(hours=1)), s3=s3)
    assert summary.status == "succeeded", summary
    assert summary.events_rejected == 0

    conn = pg_server.connect(scratch_db)
    try:
        events = conn.run("SELECT count(*), count(DISTINCT event_id) FROM clickstream_events")[0]
        rows = conn.run("SELECT session_id, funnel_stage, purchases, revenue, channel, device_type, is_bot, "
                        "login_state, user_id, event_count, page_view_count, is_bounce FROM clickstream_sessions")
    finally:
        conn.close()
    assert events[0] == events[1] == sum(s["events"] for s in expected.values())  # each event once
    got = {r[0]: r for r in rows}
    assert set(got) == set(expected)
    mismatches = defaultdict(list)
    for session_id, want in expected.items():
        (_, stage, purchases, revenue, channel, device, is_bot, login_state, user_id, count, views,
         bounce) = got[session_id]
        checks = {"stage": (stage, want["stage"]), "purchases": (purchases, want["purchases"]),
                  "revenue": (Decimal(revenue), want["revenue"]), "channel": (channel, want["channel"]),
                  "device": (device, want["device"]), "is_bot": (is_bot, want["is_bot"]),
                  "login_state": (login_state, want["login_state"]), "events": (count, want["events"]),
                  "page_views": (views, want["page_views"]), "bounce": (bounce, want["bounce"])}
        for name, (have, should) in checks.items():
            if have != should:
                mismatches[name].append((session_id, have, should))
        if want["users"]:
            assert user_id in want["users"]
    assert not mismatches, {k: v[:3] for k, v in mismatches.items()}
    stages = [s["stage"] for s in expected.values() if not s["is_bot"]]
    reached = [sum(stage >= k for stage in stages) for k in (1, 2, 3, 4)]
    assert reached[3] > 0 and reached == sorted(reached, reverse=True) and reached[3] < reached[1] < reached[0]
    bounces = sum(s["bounce"] for s in expected.values() if not s["is_bot"])
    assert 0 < bounces < len(stages) / 2  # some visitors leave the page they landed on
