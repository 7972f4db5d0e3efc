"""Hostile input the ingest must survive (issue 16, item 7), against moto S3.

- a requestContext (or headers) value the function cannot use counts as absent: a good body
  still gets its 2xx, never a 5xx;
- NaN, Infinity and numbers beyond a double's range are refused per event, kept under
  invalid/ with the reason, and every object written is standard JSON;
- a gzip body is read member by member; bytes after the last member are a 400; the size
  limit holds across members.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest.handler import handler
from ingest.storage import encode_record

from tests.ingest.conftest import BUCKET, object_keys, stored
from tests.support.events import api_event, seed_event, set_in_payload, tracker_event


def call(event):
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def strict_loads(text):
    """json.loads that refuses NaN/Infinity, as any standard JSON reader does."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def stored_strict(client, prefix):
    """Every record under prefix, each line read as standard JSON."""
    records = []
    for key in object_keys(client, prefix):
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        records.extend(strict_loads(line) for line in body.decode("ascii").splitlines())
    return records


# --- request contexts -------------------------------------------------------------------------

def _set(*path):
    """A mutation that sets event[path...] = value, creating nothing: the path exists in api_event()."""
    def mutate(event, value):
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


HOSTILE_CONTEXTS = [
    # (case, mutation, value, the _ingest field that must come out None or None)
    ("timeEpoch far future", _set("requestContext", "timeEpoch"), 10**20, None),
    ("timeEpoch year 9999+", _set("requestContext", "timeEpoch"), 253_402_300_800_000, None),
    ("timeEpoch negative", _set("requestContext", "timeEpoch"), -10**15, None),
    ("timeEpoch a string", _set("requestContext", "timeEpoch"), "1700000000000", None),
    ("timeEpoch a bool", _set("requestContext", "timeEpoch"), True, None),
    ("sourceIp an int", _set("requestContext", "http", "sourceIp"), 3405803777, "source_ip"),
    ("sourceIp a list", _set("requestContext", "http", "sourceIp"), ["203.0.113.1"], "source_ip"),
    ("sourceIp a dict", _set("requestContext", "http", "sourceIp"), {"ip": "203.0.113.1"}, "source_ip"),
    ("sourceIp 10 KB", _set("requestContext", "http", "sourceIp"), "1" * 10_000, "source_ip"),
    ("requestId non-ASCII", _set("requestContext", "requestId"), "r\u00e9q-\u2603", "request_id"),
    ("requestId a lone surrogate", _set("requestContext", "requestId"), "id-\ud800", "request_id"),
    ("requestId with a newline", _set("requestContext", "requestId"), "a\r\nx-amz-meta-evil: 1", "request_id"),
    ("requestId 5 KB", _set("requestContext", "requestId"), "r" * 5_000, "request_id"),
    ("requestId a list", _set("requestContext", "requestId"), ["r"], "request_id"),
    ("apiId a dict", _set("requestContext", "apiId"), {"id": 1}, "api_id"),
    ("stage a dict", _set("requestContext", "stage"), {"name": "$default"}, "stage"),
    ("stage a number", _set("requestContext", "stage"), 7, "stage"),
    ("userAgent a dict", _set("requestContext", "http", "userAgent"), {"ua": 1}, None),
    ("method a list", _set("requestContext", "http", "method"), ["POST"], None),
    ("method not a token", _set("requestContext", "http", "method"), "PO ST\u00e9", None),
    ("path a number", _set("requestContext", "http", "path"), 42, None),
    ("http a list", _set("requestContext", "http"), ["POST", "/clickstream"], "source_ip"),
    ("http a string", _set("requestContext", "http"), "POST /clickstream", "source_ip"),
    ("requestContext a string", _set("requestContext"), "ctx", "request_id"),
    ("requestContext a list", _set("requestContext"), [{"requestId": "x"}], "request_id"),
    ("requestContext None", _set("requestContext"), None, "request_id"),
    ("headers a list", _set("headers"), [["origin", "https://evil.example"]], "trace_id"),
    ("headers a string", _set("headers"), "origin: https://evil.example", "trace_id"),
    ("origin header an int", _set("headers", "origin"), 5, None),
    ("origin header a list", _set("headers", "origin"), ["https://evil.example"], None),
    ("content-type header a dict", _set("headers", "content-type"), {"a": 1}, None),
    ("trace header None", _set("headers", "x-amzn-trace-id"), None, "trace_id"),
    ("routeKey a dict", _set("routeKey"), {"k": 1}, None),
    ("isBase64Encoded the string 'false'", _set("isBase64Encoded"), "false", None),
]


@pytest.mark.parametrize(("case", "mutate", "value", "absent"), HOSTILE_CONTEXTS, ids=[c[0] for c in HOSTILE_CONTEXTS])
def test_unusable_context_values_count_as_absent(s3, case, mutate, value, absent):
    event = api_event(seed_event())
    mutate(event, value)
    before = datetime.now(UTC)
    status, body = call(event)
    assert (status, body) == (200, {"accepted": 1, "rejected": []})
    [record] = stored_strict(s3, "events/")
    meta = record.pop("_ingest")
    assert record == seed_event()
    assert all(v is None or isinstance(v, str) for k, v in meta.items() if k != "contract_version"), meta
    if absent:
        assert meta[absent] is None
    if "timeEpoch" in case:  # the function's own clock instead
        assert abs((datetime.fromisoformat(meta["received_at"]) - before).total_seconds()) < 60
    [key] = object_keys(s3, "events/")
    metadata = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    assert metadata["request-id"].isascii() and len(metadata["request-id"]) <= 128


def test_usable_context_values_are_still_used(s3):
    event = api_event(seed_event())
    event["requestContext"]["timeEpoch"] = 1_764_081_002_500  # 2025-11-25T14:30:02.500Z
    assert call(event)[0] == 200
    [record] = stored_strict(s3, "events/")
    assert record["_ingest"]["received_at"] == "2025-11-25T14:30:02.500Z"
    assert record["_ingest"]["request_id"] == "test-request-id"
    assert object_keys(s3, "events/")[0].startswith("events/2025/11/25/14/")


def test_without_a_usable_method_a_route_key_or_a_body_decides(s3):
    event = api_event(seed_event())
    event["requestContext"] = "gone"
    event["routeKey"] = "OPTIONS /clickstream"
    event["headers"]["origin"] = "https://shop.example.com"
    assert call(event)[0] == 204  # the route key's verb
    event.pop("body")
    event["routeKey"] = "$default"
    assert call(event)[0] == 405  # no method anywhere and nothing to ingest


context_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300),
    st.binary(max_size=20), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                   max_size=3))
CONTEXT_FIELDS = [("requestContext",), ("requestContext", "http"), ("requestContext", "requestId"),
                  ("requestContext", "apiId"), ("requestContext", "stage"), ("requestContext", "timeEpoch"),
                  ("requestContext", "http", "method"), ("requestContext", "http", "path"),
                  ("requestContext", "http", "sourceIp"), ("requestContext", "http", "userAgent"), ("headers",),
                  ("headers", "user-agent"), ("headers", "x-amzn-trace-id"), ("rawPath",), ("routeKey",)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(CONTEXT_FIELDS), context_values), min_size=1, max_size=6))
def test_any_context_value_still_gets_a_good_body_stored(s3, changes):
    event = api_event([tracker_event()])
    event["routeKey"] = "$default"  # the local adapter's: the method must come from the context or the body
    for path, value in changes:
        set_in_payload(event, path, value)
    response = handler(event, None)
    path_ok = all(p[-1] not in ("path", "rawPath") for p, _ in changes)
    method_ok = all(p[-1] not in ("method", "routeKey") or not isinstance(v, str) for p, v in changes)
    status = response["statusCode"]
    assert status < 500
    if path_ok and method_ok:  # a string path or method is used as given (a 404 or 405 then)
        assert status == 200, response["body"]


# --- NaN, Infinity, numbers beyond a double ----------------------------------------------------

def test_non_finite_numbers_are_refused_per_event_and_kept_as_standard_json(s3):
    good = json.dumps(tracker_event(eventId="ok-1"))
    raw = ("[" + good + ","
           '{"eventName":"page_view","sessionId":"s","value":NaN},'
           '{"eventName":"page_view","sessionId":"s","product":{"id":"p","price":1e999}},'
           + json.dumps(tracker_event(eventId="ok-2")) + ","
           '{"eventName":"purchase","sessionId":"s","items":[{"item_id":"a","price":-Infinity}]},'
           '{"eventName":"page_view","sessionId":"s","x":[1,Infinity]},'
           "-1e400]")
    status, body = call(api_event(raw_body=raw))
    assert status == 200 and body["accepted"] == 2
    assert [(r["index"], r["code"], r["field"]) for r in body["rejected"]] == [
        (1, "non_finite_number", "value"), (2, "non_finite_number", "product.price"),
        (4, "non_finite_number", "items[0].price"), (5, "non_finite_number", "x[1]"),
        (6, "non_finite_number", None)]
    assert "NaN" in body["rejected"][0]["reason"] and "1e999" in body["rejected"][1]["reason"]
    assert [r["eventId"] for r in stored_strict(s3, "events/")] == ["ok-1", "ok-2"]
    invalid = stored_strict(s3, "invalid/")
    assert [(r["index"], r["code"]) for r in invalid] == [(i, "non_finite_number") for i in (1, 2, 4, 5, 6)]
    assert all(r["reason"] for r in invalid)
    # The refused events themselves, with each such number spelled as the client sent it.
    assert invalid[0]["event"] == {"eventName": "page_view", "sessionId": "s", "value": "NaN"}
    assert invalid[1]["event"]["product"] == {"id": "p", "price": "1e999"}
    assert invalid[2]["event"]["items"] == [{"item_id": "a", "price": "-Infinity"}]
    assert invalid[3]["event"]["x"] == [1, "Infinity"]
    assert invalid[4]["event"] == "-1e400"


def test_an_envelope_holding_only_non_finite_events_is_a_400_with_every_one_kept(s3, ingest_env):
    ingest_env.setenv("RAW_GZIP", "true")
    raw = '{"events":[{"eventName":"page_view","sessionId":"s","value":NaN}]}'
    status, body = call(api_event(raw_body=raw, gzip_body=True))
    assert status == 400 and body["error"] == "no_valid_events"
    [record] = stored(s3, "invalid/")
    assert record["code"] == "non_finite_number" and record["event"]["value"] == "NaN"
    assert object_keys(s3, "events/") == []


def test_finite_extremes_are_accepted_as_sent(s3):
    raw = json.dumps(tracker_event(bigInt=10**30, maxFloat=1.7976931348623157e308, tiny=5e-324, negZero=-0.0))
    assert call(api_event(raw_body=raw))[0] == 200
    [record] = stored_strict(s3, "events/")
    assert (record["bigInt"], record["maxFloat"], record["tiny"]) == (10**30, 1.7976931348623157e308, 5e-324)


def test_the_record_encoder_refuses_non_finite_numbers():
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError):
            encode_record({"event": {"price": value}})
    assert encode_record({"price": 1.5}) == '{"price":1.5}'


spellings = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-2E+400", "123e456"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.booleans(), min_size=1, max_size=8), spelling=spellings,
       where=st.sampled_from(["top", "product", "items", "deep"]))
def test_each_non_finite_event_is_refused_and_the_rest_accepted(s3, bad, spelling, where):
    parts = []
    for i, is_bad in enumerate(bad):
        event = tracker_event(eventId=f"e-{i}")
        if is_bad:
            target = {"top": event, "product": event["product"], "deep": event.setdefault("deep", {"a": {}})["a"],
                      "items": event.setdefault("items", [{"item_id": "x"}])[0]}[where]
            target["bad"] = "@@NF@@"
        parts.append(json.dumps(event).replace('"@@NF@@"', spelling))
    before = set(object_keys(s3))
    status, body = call(api_event(raw_body="[" + ",".join(parts) + "]"))
    bad_idx = [i for i, b in enumerate(bad) if b]
    assert status == (400 if all(bad) else 200)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(i, "non_finite_number") for i in bad_idx]
    new = set(object_keys(s3)) - before
    for key in new:  # strict JSON, every object
        for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("ascii").splitlines():
            record = strict_loads(line)
            if key.startswith("events/"):
                assert not bad[int(record["eventId"][2:])]
            else:
                assert record["event"]["eventId"] == f"e-{record['index']}" and spelling in record["reason"]


# --- gzip members ------------------------------------------------------------------------------

def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def gzip_event(raw: bytes):
    return api_event(raw_body=raw, headers={"content-encoding": "gzip"})


def test_a_body_split_into_gzip_members_is_read_whole(s3):
    data = json.dumps([tracker_event(eventId=f"m-{i}") for i in range(3)]).encode()
    raw = _gz(data[:17]) + _gz(data[17:40]) + _gz(b"") + _gz(data[40:])
    assert call(gzip_event(raw)) == (200, {"accepted": 3, "rejected": []})
    assert [r["eventId"] for r in stored_strict(s3, "events/")] == ["m-0", "m-1", "m-2"]


def test_zero_padding_after_the_last_member_is_ignored(s3):
    data = json.dumps(seed_event()).encode()
    assert call(gzip_event(_gz(data) + b"\0" * 7))[0] == 200


@pytest.mark.parametrize("trailer", [b"garbage", b"\0\0x", b"\x1f", b"\x1f\x8b\x08\x00", b"{}"])
def test_bytes_after_the_gzip_data_are_a_400_and_the_body_is_kept(s3, trailer):
    data = json.dumps(seed_event()).encode()
    status, body = call(gzip_event(_gz(data) + trailer))
    assert status == 400 and body["error"] == "bad_encoding", body
    assert "gzip" in body["message"]
    [record] = stored_strict(s3, "invalid/")
    assert record["code"] == "bad_encoding" and record["index"] is None and record["is_base64"]
    assert object_keys(s3, "events/") == []


def test_the_size_limit_holds_across_members(s3):
    # Each member alone is under the 1 MiB limit; together they are over it.
    member = _gz(b" " * 600_000)
    status, body = call(gzip_event(_gz(b"[") + member + member + _gz(json.dumps(seed_event()).encode() + b"]")))
    assert (status, body["error"]) == (413, "body_too_large")
    assert object_keys(s3) == []


def test_many_tiny_members_are_read_in_bounded_time(s3):
    data = json.dumps(seed_event()).encode()
    raw = _gz(data) + _gz(b"") * 20_000  # 400 KB of empty members
    assert call(gzip_event(raw))[0] == 200


def test_a_zlib_wrapped_body_is_still_accepted(s3):
    raw = zlib.compress(json.dumps(seed_event()).encode())
    assert call(gzip_event(raw))[0] == 200


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6), cuts=st.lists(st.integers(0, 10_000), max_size=5))
def test_any_split_into_members_reads_as_the_one_body(s3, n, cuts):
    data = json.dumps([tracker_event(eventId=f"s-{i}") for i in range(n)]).encode()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    raw = b"".join(_gz(data[a:b]) for a, b in itertools.pairwise(bounds))
    event = gzip_event(raw)
    assert event["body"] == base64.b64encode(raw).decode()
    assert call(event) == (200, {"accepted": n, "rejected": []})


# --- callers that build HttpRequest themselves (the simulator's S3 sink) -----------------------

def _request(**overrides):
    from ingest.request import HttpRequest

    fields = {"method": "POST", "path": "/clickstream", "headers": {}, "body": "{}", "is_base64": False,
              "source_ip": None, "user_agent": None, "request_id": None, "api_id": None, "stage": None,
              "time_epoch_ms": None}
    return HttpRequest(**{**fields, **overrides})


@pytest.mark.parametrize("epoch_ms", [10**20, -10**15, 2**63])
def test_a_receive_time_datetime_cannot_hold_is_replaced_by_now(epoch_ms):
    from ingest.records import received_at

    assert abs((received_at(_request(time_epoch_ms=epoch_ms)) - datetime.now(UTC)).total_seconds()) < 60


def test_a_source_ip_that_is_not_text_is_no_address(ingest_env):
    from ingest.records import ingest_context
    from ingest.settings import current

    for ip in (["203.0.113.1"], 3405803777, {"ip": 1}):
        assert ingest_context(_request(source_ip=ip), current(), datetime.now(UTC))["source_ip"] is None


def test_finding_and_spelling_non_finite_numbers_needs_no_recursion():
    from ingest.records import non_finite_field, spelled_out

    deep = [float("nan")]
    for _ in range(20_000):  # far past the interpreter's recursion limit
        deep = {"k": deep}
    assert non_finite_field(deep) == (".".join(["k"] * 20_000) + "[0]", "NaN")
    out = spelled_out(deep)
    for _ in range(20_000):
        out = out["k"]
    assert out == ["NaN"]
