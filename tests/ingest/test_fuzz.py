"""Fuzz: 10,000 generated API Gateway (payload 2.0) requests through the real handler, moto S3.

Bodies: valid and invalid events, NaN/Infinity and overflowing numbers, huge integers, odd
Unicode (lone surrogates, U+2028, NUL, astral), deep nesting, batches over the limit; sent as
text, base64, gzip (one or several members, zero padding, trailing garbage, truncated, bombs),
zlib, UTF-16, under any content type and content encoding. Request contexts and headers:
every field now and then replaced by a hostile value (wrong type, out of range, non-ASCII,
huge), or the whole requestContext, http or headers object by a non-object.

Invariants: no response is a 5xx; every event a response counts as accepted is stored under
events/ exactly once (by its ``fz`` tag); every event it lists as rejected is stored under
invalid/ with that code and a reason; a body refused as a whole with a 400 is stored under
invalid/ once; nothing else is stored; every stored line is standard, ASCII JSON.

Reproducible: ``INGEST_FUZZ_SEED`` (default below) and ``INGEST_FUZZ_REQUESTS`` (default
10,000) pick the run; the counts are printed at the end, captured or not:

    .venv/bin/python -m pytest tests/ingest/test_fuzz.py -q
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import os
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from ingest import handler as ingest_handler
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from tests.ingest.conftest import BUCKET
from tests.support.events import (
    api_event,
    ga4_purchase,
    seed_event,
    set_in_payload,
    snake_event,
    tracker_event,
)

SEED = int(os.environ.get("INGEST_FUZZ_SEED", "20160907"))
REQUESTS = int(os.environ.get("INGEST_FUZZ_REQUESTS", "10000"))
MAX_EVENTS = 40
MAX_BODY = 65_536
SHOP = "https://shop.example.com"
NF = "@@non-finite@@"  # swapped for a non-finite spelling once the body is JSON text
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "2E+308", "1.5e400", "-9e9999"]
BODY_ERRORS = {"empty_body", "bad_encoding", "bad_json", "bad_shape", "no_events"}  # 400s that keep the body

HOSTILE = [None, True, False, 0, -1, 2**70, -(2**70), 1.5, float("nan"), float("inf"), "", " ", "\u00e9\u2603",
           "\ud800", "a\r\nb: c", "x" * 5000, "\x00", "\U0001f600", [], ["POST"], {}, {"a": {"b": 1}},
           "9" * 40, "-1", "1700000000000", "::1%eth0", "999.1.1.1", "/clickstream/../x"]
CONTEXT_FIELDS = [("requestContext",), ("requestContext", "http"), ("requestContext", "requestId"),
                  ("requestContext", "apiId"), ("requestContext", "stage"), ("requestContext", "timeEpoch"),
                  ("requestContext", "http", "method"), ("requestContext", "http", "sourceIp"),
                  ("requestContext", "http", "userAgent"), ("requestContext", "http", "path"),
                  ("requestContext", "http", "protocol"), ("headers",), ("headers", "origin"),
                  ("headers", "content-type"), ("headers", "content-encoding"), ("headers", "user-agent"),
                  ("headers", "x-amzn-trace-id"), ("rawPath",), ("routeKey",), ("isBase64Encoded",),
                  ("cookies",), ("version",)]
TIME_EPOCHS = [1_764_081_002_500, 0, -1, 10**20, 253_402_300_800_000, 946_684_799_999, 4_102_444_800_000, 2**63]
CHARS = ("abc XYZ 019", "\u00e9\u00fc\u00df", "\u2028\u2029\x85", "\x00\x01\x1f\x7f", "\ud800\udfff",
         "\U0001f600\U00010348", "\"\\/\b", "\ufeff\ufffe", "\u202e\u200b")


def odd_text(rng: random.Random, max_len: int = 40) -> str:
    pool = "".join(rng.sample(CHARS, rng.randint(1, len(CHARS))))
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, max_len)))


def as_text(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # random bytes: a text body holds what they decode to
        return data.decode("utf-8", "replace")


@dataclass
class Sent:
    """One generated request and what the fuzz knows about it."""

    event: dict[str, Any]
    events: list[Any] = field(default_factory=list)  # the events the body carries, in order
    non_finite: set[int] = field(default_factory=set)  # indexes of events holding NaN/Infinity


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.tags = 0

    def tag(self) -> str:
        self.tags += 1
        return f"fz-{self.tags}"

    # -- events --------------------------------------------------------------------------------

    def valid_event(self) -> dict[str, Any]:
        rng = self.rng
        event = rng.choice([tracker_event, seed_event, snake_event, ga4_purchase])()
        event["fz"] = self.tag()
        if rng.random() < 0.3:
            event["pageTitle" if "eventName" in event else "page_title"] = odd_text(rng)
        if rng.random() < 0.15:
            event["big"] = rng.choice([10**30, -(2**63), 2**64, 10**300, 1.7976931348623157e308, 5e-324, -0.0])
        if rng.random() < 0.1:
            depth = rng.choice([1, 10, 100, 400, 900])
            nested: Any = odd_text(rng, 5)
            for _ in range(depth):
                nested = [nested] if rng.random() < 0.5 else {"k": nested}
            event["deep"] = nested
        if rng.random() < 0.1:
            event[odd_text(rng, 8) or "k"] = odd_text(rng)
        return event

    def invalid_event(self) -> Any:
        rng = self.rng
        tag = self.tag()
        kind = rng.randrange(8)
        if kind == 0:
            return f"fz:{tag}"
        if kind == 1:
            return [tag, odd_text(rng, 5)]
        if kind == 2:
            return 10**12 + self.tags
        event = self.valid_event()
        event["fz"] = tag
        if kind == 3:
            for key in ("clientId", "sessionId", "userId", "client_id", "session_id", "user_id"):
                event.pop(key, None)
        elif kind == 4:
            event["eventName" if "eventName" in event else "event_name"] = rng.choice([42, None, "", [], odd_text(rng)])
        elif kind == 5:
            event["isFirstVisit" if "eventName" in event else "is_first_visit"] = "maybe"
        elif kind == 6:
            event["product"] = rng.choice(["x", {"price": "free"}, [1], {"id": {"nested": True}}])
        else:
            event["userLoginState" if "eventName" in event else "user_login_state"] = odd_text(rng, 10)
        return event

    def non_finite_event(self) -> dict[str, Any]:
        rng = self.rng
        event = self.valid_event()
        where = rng.randrange(4)
        if where == 0:
            event["value"] = NF
        elif where == 1:
            event.setdefault("product", {})["price"] = NF
        elif where == 2:
            event["items"] = [{"item_id": "a", "price": 1}, {"item_id": "b", "price": NF}]
        else:
            event["x"] = {"y": [1, 2, {"z": NF}]}
        return event

    # -- bodies ----------------------------------------------------------------------------------

    def events_body(self, sent: Sent) -> bytes:
        rng = self.rng
        count = MAX_EVENTS + 1 if rng.random() < 0.03 else rng.choice([1, 1, 1, 2, 3, 5, 8, 10, 25, MAX_EVENTS])
        events: list[Any] = []
        for i in range(count):
            roll = rng.random()
            if roll < 0.12:
                events.append(self.non_finite_event())
                sent.non_finite.add(i)
            elif roll < 0.35:
                events.append(self.invalid_event())
            else:
                events.append(self.valid_event())
        shape = rng.randrange(4)
        if shape == 0 and count == 1 and isinstance(events[0], dict):
            payload: Any = events[0]
        elif shape == 1:
            payload = {"events": events}
        elif shape == 2 and count == 1 and isinstance(events[0], dict):
            # An "events" key beside others: the whole object is one event.
            payload = {**events[0], "events": [1, 2]}
            events = [payload]
        else:
            payload = events
        sent.events = events
        text = json.dumps(payload, ensure_ascii=rng.random() < 0.5)
        while NF in text:
            text = text.replace(f'"{NF}"', rng.choice(NON_FINITE), 1)
        return text.encode("utf-8", "surrogatepass")

    def garbage_body(self) -> bytes:
        rng = self.rng
        return rng.choice([
            lambda: b"",
            lambda: b"{nope",
            lambda: json.dumps(tracker_event())[: rng.randint(1, 200)].encode(),
            lambda: rng.randbytes(rng.randint(1, 300)),
            lambda: b"null",
            lambda: b"42",
            lambda: b'"a string"',
            lambda: b"[]",
            lambda: b'{"events": []}',
            lambda: b"[" + b"9" * 5000 + b"]",  # past Python's int digit limit
            lambda: b"[" * 3000 + b"]" * 3000,
            lambda: b"NaN",
            lambda: odd_text(rng, 60).encode("utf-8", "surrogatepass"),
        ])()

    def transport(self, data: bytes, event: dict[str, Any]) -> None:
        """Put ``data`` in ``event`` as text, base64, gzip in its variants, zlib or UTF-16."""
        rng = self.rng
        headers = event["headers"]
        mode = rng.choices(["text", "base64", "gzip", "members", "padding", "garbage", "zlib", "truncated",
                            "bomb", "utf16", "bom", "unknown", "gzip-unlabelled", "labelled-not-gzip"],
                           [30, 10, 15, 8, 3, 4, 3, 3, 2, 2, 1, 3, 2, 2])[0]
        blob: bytes | None = data
        if mode == "text":
            event["body"], event["isBase64Encoded"] = as_text(data), False
            if rng.random() < 0.1:
                headers["content-encoding"] = rng.choice(["identity", "", " identity "])
            return
        if mode in ("gzip", "gzip-unlabelled"):
            blob = gzip.compress(data, mtime=0)
        elif mode == "members":
            cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(1, 4)))
            bounds = [0, *cuts, len(data)]
            blob = b"".join(gzip.compress(data[a:b], mtime=0) for a, b in itertools.pairwise(bounds))
        elif mode == "padding":
            blob = gzip.compress(data, mtime=0) + b"\0" * rng.randint(1, 64)
        elif mode == "garbage":
            blob = gzip.compress(data, mtime=0) + rng.choice([b"x", b"\0\0junk", b"\x1f", b"\x1f\x8b\x08", b"{}"])
        elif mode == "zlib":
            blob = zlib.compress(data)
        elif mode == "truncated":
            whole = gzip.compress(data, mtime=0)
            blob = whole[: rng.randint(0, len(whole) - 1)]
        elif mode == "bomb":
            blob = gzip.compress(b"[" + b" " * (MAX_BODY + 10) + b"]", mtime=0)
            if rng.random() < 0.5:  # spread over members, each under the limit
                half = gzip.compress(b" " * (MAX_BODY // 2 + 10), mtime=0)
                blob = gzip.compress(b"[", mtime=0) + half + half + gzip.compress(b"]", mtime=0)
        elif mode == "utf16":  # json.loads detects UTF-16 and UTF-32 in bytes (RFC 8259 8.1 allows it)
            blob = as_text(data).encode("utf-16", "surrogatepass")
        elif mode == "bom":  # and skips a UTF-8 byte order mark
            blob = b"\xef\xbb\xbf" + data
        if mode in ("gzip", "members", "padding", "garbage", "zlib", "truncated", "bomb", "labelled-not-gzip"):
            headers["content-encoding"] = rng.choice(["gzip", "gzip", "x-gzip", "GZIP", " gzip "])
        elif mode == "unknown":
            headers["content-encoding"] = rng.choice(["br", "deflate", "compress", "gzip, br", "\u00e9"])
        event["body"], event["isBase64Encoded"] = base64.b64encode(blob).decode(), True
        if rng.random() < 0.03:
            event["body"] = event["body"][:-1] + "%"  # no longer base64

    # -- requests --------------------------------------------------------------------------------

    def request(self) -> Sent:
        rng = self.rng
        event = api_event()
        event["requestContext"]["timeEpoch"] = rng.choice(TIME_EPOCHS[:1] * 6 + TIME_EPOCHS)
        event["requestContext"]["requestId"] = f"req-{self.tags}"
        headers = event["headers"]
        headers["content-type"] = rng.choice(["application/json", "text/plain;charset=UTF-8", "",
                                              "application/x-www-form-urlencoded", "application/octet-stream",
                                              odd_text(rng, 20)])
        if rng.random() < 0.3:
            headers["origin"] = rng.choice([SHOP, SHOP, SHOP, SHOP + "/", "https://evil.example", "null",
                                            odd_text(rng, 20)])
        if rng.random() < 0.05:
            method = rng.choice(["GET", "OPTIONS", "PUT", "DELETE", "post", "HEAD"])
            event["requestContext"]["http"]["method"] = method
        if rng.random() < 0.03:
            event["requestContext"]["http"]["path"] = event["rawPath"] = rng.choice(["/other", "/", "/clickstream/"])
        sent = Sent(event)
        data = self.events_body(sent) if rng.random() < 0.85 else self.garbage_body()
        if data or rng.random() < 0.5:
            self.transport(data, event)
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 4])):
            set_in_payload(event, rng.choice(CONTEXT_FIELDS), rng.choice(HOSTILE))
        return sent


def ident(value: Any) -> Any:
    """The fz tag an event (or its stored copy) carries, whatever its type."""
    if isinstance(value, dict):
        return value.get("fz")
    if isinstance(value, list):
        return value[0] if value else None
    if isinstance(value, str):
        return value.removeprefix("fz:")
    return value


def strict_lines(body: bytes) -> list[dict[str, Any]]:
    def refuse(name: str) -> None:
        raise AssertionError(f"stored object holds non-standard JSON: {name}")

    return [json.loads(line, parse_constant=refuse) for line in body.decode("ascii").splitlines()]


def test_fuzz_ingest(monkeypatch, capsys):
    for name, value in {"RAW_BUCKET_NAME": BUCKET, "CORS_ALLOWED_ORIGINS": SHOP, "CORS_ALLOW_CREDENTIALS": "false",
                        "MAX_EVENTS_PER_REQUEST": str(MAX_EVENTS), "MAX_BODY_BYTES": str(MAX_BODY)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAW_GZIP", raising=False)
    ingest_handler._store_cache.clear()
    gen = Generator(SEED)
    started = time.perf_counter()

    statuses: Counter[int] = Counter()
    per_event_codes: Counter[str] = Counter()
    request_errors: Counter[str] = Counter()
    events_in_refused_requests: Counter[str] = Counter()
    expected_events: Counter[Any] = Counter()
    expected_invalid: Counter[tuple] = Counter()
    expected_bodies: Counter[str] = Counter()
    events_sent = 0
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for n in range(REQUESTS):
            if n % 4 == 0:  # raw objects gzipped for a quarter of the run
                monkeypatch.setenv("RAW_GZIP", "true" if n % 8 == 0 else "false")
            sent = gen.request()
            events_sent += len(sent.events)
            response = ingest_handler.handler(sent.event, None)
            status = response["statusCode"]
            statuses[status] += 1
            assert status < 500, (n, response)
            body = json.loads(response["body"]) if response["body"] else {}
            if "accepted" in body:  # the body was read: one verdict per event
                assert body["accepted"] + len(body["rejected"]) == len(sent.events), (n, body)
                rejected = {r["index"]: r for r in body["rejected"]}
                for i, event in enumerate(sent.events):
                    if i in rejected:
                        code = rejected[i]["code"]
                        assert code and rejected[i]["reason"]
                        per_event_codes[code] += 1
                        expected_invalid[(ident(event), i, code)] += 1
                    else:
                        expected_events[ident(event)] += 1
                    if i in sent.non_finite:
                        assert rejected[i]["code"] == "non_finite_number", (n, rejected.get(i))
                if status == 400:
                    request_errors["no_valid_events"] += 1
            else:
                error = body.get("error", "preflight_answered" if status == 204 else "?")
                request_errors[error] += 1
                events_in_refused_requests[error] += len(sent.events)
                if status == 400:
                    assert error in BODY_ERRORS, (n, body)
                    expected_bodies[error] += 1
        elapsed_requests = time.perf_counter() - started

        stored_events: Counter[Any] = Counter()
        stored_invalid: Counter[tuple] = Counter()
        stored_bodies: Counter[str] = Counter()
        # Keys as S3 lists them; bytes straight from moto's store (get_object through boto3 for
        # every object would double the run).
        store = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                obj = store.get_object(BUCKET, item["Key"])
                raw = obj.value
                assert len(raw) == item["Size"]
                if item["Key"].endswith(".gz"):
                    assert obj.metadata["content-encoding"] == "gzip"
                    raw = gzip.decompress(raw)
                for record in strict_lines(raw):
                    if item["Key"].startswith("events/"):
                        stored_events[ident(record)] += 1
                        assert record["_ingest"]["event_id"]
                    elif record["index"] is None:
                        assert record["reason"]
                        stored_bodies[record["code"]] += 1
                    else:
                        assert record["reason"]
                        stored_invalid[(ident(record["event"]), record["index"], record["code"])] += 1

    accepted = sum(expected_events.values())
    summary = {
        "seed": SEED, "requests": REQUESTS, "events_sent": events_sent, "accepted": accepted,
        "rejected_events_by_reason": dict(per_event_codes.most_common()),
        "requests_refused_whole_by_error": dict(request_errors.most_common()),
        "events_in_requests_refused_whole": sum(events_in_refused_requests.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "status_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "stored_events": sum(stored_events.values()), "stored_invalid_events": sum(stored_invalid.values()),
        "stored_invalid_bodies": sum(stored_bodies.values()),
        "seconds": {"requests": round(elapsed_requests, 1), "total": round(time.perf_counter() - started, 1)},
    }
    with capsys.disabled():
        print("\ningest fuzz summary: " + json.dumps(summary, indent=1))

    assert summary["status_5xx"] == 0
    assert all(count == 1 for count in expected_events.values())  # tags are unique per event
    assert stored_events == expected_events  # every accepted event exactly once, nothing else
    assert stored_invalid == expected_invalid  # every rejected event, with its code
    assert stored_bodies == expected_bodies  # every body refused whole with a 400
    # The run exercised what it claims to.
    assert accepted > REQUESTS and per_event_codes["non_finite_number"] > REQUESTS // 10
    assert {"bad_encoding", "bad_json", "body_too_large", "too_many_events"} <= set(request_errors)
