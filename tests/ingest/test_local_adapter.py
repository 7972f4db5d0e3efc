"""The local HTTP adapter: real HTTP requests -> payload 2.0 -> the same handler -> a moto S3 server."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.events import seed_event, tracker_event
from tests.support.local import free_port

REPO = Path(__file__).resolve().parents[2]
BUCKET = "clickstream-raw-local"


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def adapter(moto_endpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("RAW_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "http://127.0.0.1")
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    (tmp_path / "index.html").write_text("<h1>shop</h1>")
    from ingest import handler as ingest_handler

    from toolkit.local.http_adapter import make_server

    ingest_handler._store_cache.clear()
    server = make_server(ingest_handler.handler, "127.0.0.1", 0, static_dir=tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", s3
    server.shutdown()
    server.server_close()
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    s3.delete_bucket(Bucket=BUCKET)
    ingest_handler._store_cache.clear()


def request(url, data=None, method="POST", headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_post_batch_lands_in_s3_through_real_http(adapter):
    base, s3 = adapter
    body = json.dumps({"events": [seed_event(), tracker_event()]}).encode()
    status, headers, raw = request(f"{base}/clickstream", body, headers={"content-type": "application/json",
                                                                          "origin": "http://127.0.0.1"})
    assert status == 200, raw
    assert json.loads(raw) == {"accepted": 2, "rejected": []}
    assert headers["access-control-allow-origin"] == "http://127.0.0.1"
    [obj] = s3.list_objects_v2(Bucket=BUCKET, Prefix="events/")["Contents"]
    lines = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["_ingest"]["source_ip"] == "127.0.0.0"
    assert records[0]["_ingest"]["api_id"] == "local"
    assert records[1]["_ingest"]["user_agent"].startswith("Python-urllib")


def test_gzip_beacon_and_errors_over_http(adapter):
    base, _ = adapter
    gz = gzip.compress(json.dumps([tracker_event()]).encode())
    status, _, raw = request(f"{base}/clickstream", gz, headers={"content-type": "text/plain;charset=UTF-8",
                                                                  "content-encoding": "gzip"})
    assert (status, json.loads(raw)["accepted"]) == (200, 1)
    assert request(f"{base}/clickstream", b"{oops", headers={"content-type": "application/json"})[0] == 400
    assert request(f"{base}/clickstream", method="GET")[0] == 405
    status, headers, _ = request(f"{base}/clickstream", method="OPTIONS",
                                 headers={"origin": "http://127.0.0.1", "access-control-request-method": "POST"})
    assert status == 204 and headers["access-control-allow-methods"] == "OPTIONS, POST"


def test_static_files_are_served_and_confined(adapter):
    base, _ = adapter
    status, headers, raw = request(f"{base}/", method="GET")
    assert (status, raw) == (200, b"<h1>shop</h1>") and headers["content-type"] == "text/html"
    assert request(f"{base}/../../etc/passwd", method="GET")[0] == 404
    assert request(f"{base}/%2e%2e/%2e%2e/etc/passwd", method="GET")[0] == 404


def test_cli_serves_until_stopped(moto_endpoint, tmp_path):
    port = free_port()
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "RAW_BUCKET_NAME": "cli-bucket",
           "AWS_DEFAULT_REGION": "eu-west-1"}
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts/local_ingest.py"), "--port", str(port),
                             "--create-bucket"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "ingest listening on" in proc.stdout.readline()
        status, _, raw = request(f"http://127.0.0.1:{port}/clickstream", json.dumps(seed_event()).encode())
        assert status == 200, raw
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_handler_import_defers_boto3_and_the_validator():
    """Cold start: importing the handler must not pull in boto3 or compile the schema."""
    code = ("import sys, time; t=time.perf_counter(); import ingest.handler; "
            "print(int('boto3' in sys.modules), int('fastjsonschema' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO / "lambdas", capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO / "lambdas")}).stdout.split()
    assert out == ["0", "0"]


def test_payload_v2_shape():
    from toolkit.local.http_adapter import payload_v2

    event = payload_v2("POST", "/clickstream", "a=1", [("Content-Type", "application/json"), ("X-Forwarded-For", "1"),
                                                       ("X-Forwarded-For", "2"), ("Cookie", "a=b; c=d")],
                       b'{"x":1}', "10.1.2.3")
    assert event["version"] == "2.0" and event["body"] == '{"x":1}' and not event["isBase64Encoded"]
    assert event["headers"]["x-forwarded-for"] == "1,2" and event["cookies"] == ["a=b", "c=d"]
    ctx = event["requestContext"]
    assert ctx["http"]["sourceIp"] == "10.1.2.3" and ctx["stage"] == "$default" and ctx["timeEpoch"] > 0
    binary = payload_v2("POST", "/clickstream", "", [("Content-Encoding", "gzip")], b"\x1f\x8b", "::1")
    assert binary["isBase64Encoded"] and binary["body"] == "H4s="
