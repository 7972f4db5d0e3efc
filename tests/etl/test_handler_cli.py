"""The Lambda entry point and scripts/invoke_etl.py, end to end."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from etl import handler as etl_handler
from etl.handler import BadRequest, request_from_event

from tests.etl.conftest import BUCKET
from tests.etl.streams import seeded_stream
from tests.support import local
from tests.support.local import free_port
from tests.support.raw import put_records
from toolkit.etl import invoke

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
SCHEDULED = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-10-15T12:30:00Z",
             "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/clickstream-etl"],
             "detail": {}}


def env_for(settings) -> dict[str, str]:
    t = settings.target
    return {"RAW_BUCKET_NAME": settings.bucket, "DW_PG_HOST": t.host, "DW_PG_PORT": str(t.port),
            "DW_PG_USER": t.user, "DW_PG_PASSWORD": t.password, "DW_PG_DATABASE": t.database, "DW_PG_SSL": "false"}


def put_sample(s3, bucket=BUCKET) -> int:
    deliveries = seeded_stream(11, clients=3, max_events=30)
    for i in range(0, len(deliveries), 5):
        chunk = deliveries[i:i + 5]
        received = max(d.received for d in chunk)
        key = f"events/{received:%Y/%m/%d/%H}/{i:04d}.ndjson"
        put_records(s3, bucket, [d.record for d in chunk], received, key=key)
    return len({d.record["_ingest"]["event_id"] for d in deliveries})


def test_scheduled_event_window_is_the_lookback_before_its_time(warehouse):
    request = request_from_event(SCHEDULED, warehouse)
    assert request.trigger == "schedule"
    assert request.since == datetime(2026, 10, 13, 12, 30, tzinfo=UTC)
    assert request.until > datetime(2026, 10, 15, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(("payload", "message"), [
    ({"since": "2026-10-02T00:00:00Z", "until": "2026-10-01T00:00:00Z"}, "since must be before until"),
    ({"since": "yesterday"}, "since is not an RFC 3339 timestamp"),
    ({"prefix": "invalid/2026/"}, "prefix must be a string under 'events/'"),
    ({"reprocess": "maybe"}, "reprocess must be true or false"),
])
def test_bad_manual_payloads_are_refused_by_name(warehouse, payload, message):
    with pytest.raises(BadRequest, match=message):
        request_from_event(payload, warehouse)


def test_handler_loads_and_logs_an_emf_summary(raw_s3, warehouse, monkeypatch, capsys):
    expected = put_sample(raw_s3)
    for name, value in env_for(warehouse).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ETL_LOOKBACK_HOURS", str(24 * 30))
    event = {**SCHEDULED, "time": "2026-10-20T00:00:00Z"}
    result = etl_handler.handler(event, type("Ctx", (), {"aws_request_id": "req-1"})())
    assert result["status"] == "succeeded" and result["events_loaded"] == expected
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Clickstream"
    assert log["EventsLoaded"] == expected and log["summary"]["run_id"] == result["run_id"]


def test_handler_refuses_missing_configuration(monkeypatch):
    monkeypatch.delenv("RAW_BUCKET_NAME", raising=False)
    from etl.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="RAW_BUCKET_NAME is not set"):
        etl_handler.handler(SCHEDULED, None)


@pytest.fixture
def moto_server():
    with local.moto_server() as url:
        yield url


def test_cli_local_run_against_a_real_s3_endpoint(moto_server, warehouse, tmp_path):
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    expected = put_sample(s3)
    env_file = tmp_path / "etl.env"
    values = {**env_for(warehouse), "AWS_ENDPOINT_URL": moto_server}
    env_file.write_text("\n".join(f"{k}={v}" for k, v in values.items()))
    env_file.chmod(0o600)
    cmd = [sys.executable, str(REPO / "scripts/invoke_etl.py"), "--local", "--env-file", str(env_file),
           "--since", "2026-10-01T00:00:00Z", "--until", "2026-10-25T00:00:00Z"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["events_loaded"]) == ("succeeded", expected)
    again = json.loads(subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, timeout=120).stdout)
    assert (again["status"], again["objects_new"]) == ("dry_run", 0)

    closed = f"DW_PG_PORT={free_port()}"
    env_file.write_text(env_file.read_text().replace(f"DW_PG_PORT={warehouse.target.port}", closed))
    down = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert down.returncode == invoke.EXIT_UNREACHABLE
    assert "warehouse unreachable: cannot connect to PostgreSQL" in down.stderr


def _payload(data) -> StreamingBody:
    raw = json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_cli_invokes_the_deployed_function(capsys):
    client = boto3.client("lambda", region_name="eu-west-1")
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": _payload({"status": "succeeded", "run_id": 4})},
                          {"FunctionName": "clickstream-dev-etl", "InvocationType": "RequestResponse",
                           "Payload": json.dumps({"trigger": "manual", "reprocess": True}).encode()})
        assert invoke.main(["--function", "clickstream-dev-etl", "--reprocess"], lambda_client=client) == 0
        stub.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                     "Payload": _payload({"errorMessage": "cannot connect"})})
        assert invoke.main(["--function", "clickstream-dev-etl"], lambda_client=client) == invoke.EXIT_FAILED
        stub.add_response("invoke", {"StatusCode": 202, "Payload": _payload(None)})
        assert invoke.main(["--function", "clickstream-dev-etl", "--async"], lambda_client=client) == 0
    out = capsys.readouterr()
    assert '"run_id": 4' in out.out and "cannot connect" in out.err and '"queued"' in out.out


def test_cli_without_function_or_local_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("ETL_FUNCTION_NAME", raising=False)
    assert invoke.main([]) == invoke.EXIT_CONFIG
    assert "--function" in capsys.readouterr().err


def test_window_helpers_cover_each_hour():
    from etl.source import hour_prefixes

    start = datetime(2026, 10, 5, 22, 30, tzinfo=UTC)
    assert hour_prefixes(start, start + timedelta(hours=2)) == [
        "events/2026/10/05/22/", "events/2026/10/05/23/", "events/2026/10/06/00/"]
