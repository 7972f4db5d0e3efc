from __future__ import annotations

import json
import re

import pytest
from ingest.handler import handler

from tests.ingest.conftest import object_keys, stored
from tests.support.events import api_event, ga4_purchase, seed_event, seed_http_api_event, snake_event, tracker_event

SHOP = "https://shop.example.com"


def call(event):
    response = handler(event, None)
    body = json.loads(response["body"]) if response["body"] else None
    return response["statusCode"], response["headers"], body


def test_seed_sample_event_verbatim(s3):
    status, _, body = call(seed_http_api_event())
    assert (status, body) == (200, {"accepted": 1, "rejected": []})
    [key] = object_keys(s3, "events/")
    assert re.fullmatch(r"events/\d{4}/\d{2}/\d{2}/\d{2}/\d{8}T\d{9}Z-[0-9a-f]{32}\.ndjson", key)
    [record] = stored(s3, "events/")
    meta = record.pop("_ingest")
    assert record == seed_event()  # the raw zone keeps the event exactly as sent
    assert meta["request_id"] == "test-request-id"
    assert meta["api_id"] == "abc123"
    assert meta["stage"] == "$default"
    assert meta["trace_id"] == "Root=1-67891233-abcdef012345678912345678"
    assert meta["user_agent"] == "Mozilla/5.0"
    assert meta["source_ip"] == "203.0.113.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", meta["received_at"])
    assert key.startswith("events/" + meta["received_at"][:13].replace("-", "/").replace("T", "/"))
    assert "client_event_id" not in meta and len(meta["event_id"]) == 36


def test_batch_of_mixed_formats_is_one_object(s3):
    events = [seed_event(), tracker_event(), snake_event(), ga4_purchase()]
    status, _, body = call(api_event({"events": events}))
    assert (status, body) == (200, {"accepted": 4, "rejected": []})
    assert len(object_keys(s3, "events/")) == 1
    records = stored(s3, "events/")
    assert [r["_ingest"].get("client_event_id") for r in records] == [
        None, "0b6f6c1e-2f7e-4b8a-9a4b-5d2a8e1f3c7d", "evt-000123", None]
    assert records[1]["_ingest"]["event_id"] == "0b6f6c1e-2f7e-4b8a-9a4b-5d2a8e1f3c7d"
    assert len({r["_ingest"]["event_id"] for r in records}) == 4


def test_partial_rejection_keeps_invalid_events_with_reasons(s3):
    events = [tracker_event(), {"eventName": "page_view"}, "junk", tracker_event(eventId="e-2")]
    status, _, body = call(api_event(events))
    assert status == 200
    assert body["accepted"] == 2
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, "missing_identity"), (2, "not_an_object")]
    invalid = stored(s3, "invalid/")
    assert [(r["index"], r["code"], r["event"]) for r in invalid] == [
        (1, "missing_identity", {"eventName": "page_view"}), (2, "not_an_object", "junk")]
    assert all(r["reason"] and r["_ingest"]["request_id"] == "test-request-id" for r in invalid)
    assert len(stored(s3, "events/")) == 2


def test_gzip_body_and_gzip_objects(s3, ingest_env):
    ingest_env.setenv("RAW_GZIP", "true")
    status, _, body = call(api_event([tracker_event()] * 3, gzip_body=True))
    assert (status, body["accepted"]) == (200, 3)
    [key] = object_keys(s3, "events/")
    assert key.endswith(".ndjson.gz")
    assert s3.get_object(Bucket="clickstream-raw-test", Key=key)["ContentEncoding"] == "gzip"
    assert len(stored(s3, "events/")) == 3


def test_ipv6_is_truncated_to_48_and_prefixes_are_configurable(s3, ingest_env):
    call(api_event(seed_event(), source_ip="2001:db8:85a3:8d3:1319:8a2e:370:7348"))
    ingest_env.setenv("SOURCE_IPV4_PREFIX", "32")
    call(api_event(seed_event(), source_ip="203.0.113.77"))
    ips = sorted(r["_ingest"]["source_ip"] for r in stored(s3, "events/"))
    assert ips == ["2001:db8:85a3::", "203.0.113.77"]


BIG = "x" * 4000


@pytest.mark.parametrize(
    ("case", "make", "status", "error"),
    [
        ("one event", lambda: api_event(seed_event()), 200, None),
        ("array", lambda: api_event([seed_event(), seed_event()]), 200, None),
        ("events envelope", lambda: api_event({"events": [seed_event()]}), 200, None),
        ("base64 body", lambda: api_event(seed_event(), base64_body=True), 200, None),
        ("text/plain beacon", lambda: api_event(seed_event(), headers={"content-type": "text/plain"}), 200, None),
        ("not json", lambda: api_event(raw_body="{nope"), 400, "bad_json"),
        ("empty body", lambda: api_event(), 400, "empty_body"),
        ("scalar", lambda: api_event(42), 400, "bad_shape"),
        ("empty list", lambda: api_event([]), 400, "no_events"),
        ("all invalid", lambda: api_event([{"foo": 1}]), 400, "no_valid_events"),
        ("bad base64", lambda: {**api_event(seed_event()), "body": "%%%", "isBase64Encoded": True}, 400,
         "bad_encoding"),
        ("bad gzip", lambda: api_event(raw_body=b"not gzip", headers={"content-encoding": "gzip"}), 400,
         "bad_encoding"),
        ("too many events", lambda: api_event([seed_event()] * 501), 413, "too_many_events"),
        ("too large", lambda: api_event([tracker_event(pageUrl="https://x/" + BIG)] * 300), 413, "body_too_large"),
        ("gzip bomb", lambda: api_event(raw_body="[" + " " * 3_000_000 + "]", gzip_body=True), 413,
         "body_too_large"),
        ("unknown encoding", lambda: api_event(seed_event(), headers={"content-encoding": "br"}), 415,
         "unsupported_encoding"),
        ("other route", lambda: api_event(seed_event(), path="/other"), 404, "not_found"),
        ("GET", lambda: api_event(method="GET"), 405, "method_not_allowed"),
        ("DELETE", lambda: api_event(method="DELETE"), 405, "method_not_allowed"),
        ("foreign origin", lambda: api_event(seed_event(), headers={"origin": "https://evil.example"}), 403,
         "origin_not_allowed"),
        ("not a payload", lambda: ["what"], 400, "bad_payload"),
    ],
)
def test_response_codes(s3, case, make, status, error):
    got, headers, body = call(make())
    assert got == status, body
    assert headers["content-type"] == "application/json"
    if error:
        assert body["error"] == error and body["message"]
    else:
        assert body["accepted"] >= 1 and body["rejected"] == []
    if status == 405:
        assert headers["allow"] == "OPTIONS, POST"


def test_unparseable_body_is_kept_under_invalid(s3):
    call(api_event(raw_body="{nope"))
    [record] = stored(s3, "invalid/")
    assert (record["code"], record["body"], record["index"]) == ("bad_json", "{nope", None)
    assert object_keys(s3, "events/") == []


def test_limits_come_from_the_environment(s3, ingest_env):
    ingest_env.setenv("MAX_EVENTS_PER_REQUEST", "2")
    assert call(api_event([seed_event()] * 3))[0] == 413
    assert call(api_event([seed_event()] * 2))[0] == 200


class TestCors:
    def test_preflight_from_allowed_origin(self, s3):
        status, headers, _ = call(api_event(method="OPTIONS", headers={
            "origin": SHOP, "access-control-request-method": "POST"}))
        assert status == 204
        assert headers["access-control-allow-origin"] == SHOP
        assert headers["access-control-allow-credentials"] == "true"
        assert headers["vary"] == "Origin"
        assert "POST" in headers["access-control-allow-methods"]
        assert "content-encoding" in headers["access-control-allow-headers"]
        assert object_keys(s3) == []

    def test_preflight_from_other_origin_is_refused(self, s3):
        status, headers, _ = call(api_event(method="OPTIONS", headers={"origin": "https://evil.example"}))
        assert status == 403
        assert not any(h.startswith("access-control-") for h in headers)

    def test_post_echoes_the_origin_never_a_wildcard_with_credentials(self, s3):
        _, headers, _ = call(api_event(seed_event(), headers={"origin": "https://admin.example.com"}))
        assert headers["access-control-allow-origin"] == "https://admin.example.com"
        assert headers["access-control-allow-credentials"] == "true"

    def test_wildcard_without_credentials(self, s3, ingest_env):
        ingest_env.setenv("CORS_ALLOWED_ORIGINS", "*")
        ingest_env.setenv("CORS_ALLOW_CREDENTIALS", "false")
        _, headers, _ = call(api_event(seed_event(), headers={"origin": "https://anyone.example"}))
        assert headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in headers

    def test_wildcard_with_credentials_is_a_configuration_error(self, ingest_env):
        from ingest.settings import ConfigurationError, Settings

        ingest_env.setenv("CORS_ALLOWED_ORIGINS", "*")
        with pytest.raises(ConfigurationError, match="'\\*'"):
            Settings.from_env()

    def test_server_to_server_requests_need_no_origin(self, s3):
        status, headers, _ = call(api_event(seed_event()))
        assert status == 200 and "access-control-allow-origin" not in headers


def test_one_structured_log_line_with_emf_metrics_per_request(s3, capsys):
    call(api_event([tracker_event(), {"bad": True}]))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [line] = [entry for entry in lines if entry.get("message") == "ingest request"]
    assert (line["status"], line["EventsAccepted"], line["EventsRejected"]) == (200, 1, 1)
    assert line["BytesReceived"] > 0 and line["BytesStored"] > 0
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Clickstream" and directive["Dimensions"] == [["Function"]]
    assert {m["Name"] for m in directive["Metrics"]} == {
        "EventsAccepted", "EventsRejected", "BytesReceived", "BytesStored"}


def test_stored_objects_are_valid_ndjson_even_with_lone_surrogates(s3):
    raw = '{"eventName":"page_view","sessionId":"s","pageTitle":"\\ud800 broken"}'
    assert call(api_event(raw_body=raw))[0] == 200
    [key] = object_keys(s3, "events/")
    body = s3.get_object(Bucket="clickstream-raw-test", Key=key)["Body"].read()
    body.decode("utf-8")  # must not raise
    assert json.loads(body)["pageTitle"] == "\ud800 broken"
