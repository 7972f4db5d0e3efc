"""Properties of the ingest over generated bodies and headers (hypothesis), with moto S3.

- no exception escapes and bad input never gets a 5xx;
- every valid event is stored exactly once, every invalid one with its reason.
"""

from __future__ import annotations

import base64
import gzip
import json
import os

import boto3
import pytest
from clickstream_common import contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest import handler as ingest_handler
from moto import mock_aws

from tests.ingest.conftest import BUCKET
from tests.support.events import api_event

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

text = st.text(max_size=30)
# Ids may hold a lone UTF-16 surrogate: JSON can spell one ("\\ud800"), and one made the ingest answer 500.
ident = st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
                  st.sampled_from(["id-\ud800", "\udfff", "\ud83d-cut"]))
names = st.sampled_from(sorted(contract.canonical_events()) + sorted(contract.event_aliases()) + ["custom_thing"])
amount = st.one_of(st.none(), st.floats(0, 10_000, allow_nan=False), st.integers(0, 10_000),
                   st.decimals(0, 9999, places=2).map(str))


def _spell(key: str, camel: bool) -> str:
    if not camel:
        return key
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


@st.composite
def valid_events(draw):
    camel = draw(st.booleans())
    event = {"event_name": draw(names)}
    for field in draw(st.lists(st.sampled_from(["client_id", "session_id", "user_id"]), min_size=1, unique=True)):
        event[field] = draw(ident)
    optional = {
        "event_id": st.one_of(st.uuids().map(str), ident),
        "user_login_state": st.sampled_from(["logged_in", "anonymous", "guest"]),
        "is_first_visit": st.booleans(),
        "page_url": st.just("https://shop.example.com/p/1?utm_source=x"),
        "referrer": st.one_of(st.none(), st.just("https://www.google.com/")),
        "client_timestamp": st.integers(1_600_000_000_000, 1_900_000_000_000),
        "value": amount,
        "currency": st.sampled_from(["EUR", "usd"]),
        "product": st.fixed_dictionaries({"id": ident, "price": amount}, optional={"discount_price": amount}),
        "items": st.lists(st.fixed_dictionaries({"item_id": ident}, optional={"quantity": st.integers(0, 9)}),
                          max_size=3),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        event[key] = draw(optional[key])
    spelled = {_spell(k, camel): v for k, v in event.items()}
    if camel and "product" in event:
        spelled["product"] = {_spell(k, True): v for k, v in event["product"].items()}
    return spelled


breakers = st.sampled_from([
    lambda e: {k: v for k, v in e.items() if k not in ("eventName", "event_name")},
    lambda e: {**e, ("isFirstVisit" if "eventName" in e else "is_first_visit"): "maybe"},
    lambda e: {**e, ("userLoginState" if "eventName" in e else "user_login_state"): "root"},
    lambda e: {**e, "product": {"price": "free"}},
    lambda e: [e],
    lambda e: None,
])


@st.composite
def mixed_batches(draw):
    batch, valid_idx = [], []
    for i in range(draw(st.integers(1, 12))):
        event = draw(valid_events())
        if draw(st.booleans()):
            batch.append(draw(breakers)(event))
        else:
            batch.append(event)
            valid_idx.append(i)
    return batch, valid_idx


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def moto_s3():
    env = {"RAW_BUCKET_NAME": BUCKET, "CORS_ALLOWED_ORIGINS": "https://shop.example.com"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ingest_handler._store_cache.clear()
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client
    ingest_handler._store_cache.clear()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _keys(client) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _records(client, keys) -> list[dict]:
    out = []
    for key in sorted(keys):
        out.extend(json.loads(line) for line in
                   client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines())
    return out


@PROPERTY_SETTINGS
@given(
    body=st.one_of(json_values.map(json.dumps), st.binary(max_size=200), text),
    method=st.sampled_from(["POST", "POST", "GET", "OPTIONS", "PUT"]),
    headers=st.dictionaries(
        st.sampled_from(["content-type", "content-encoding", "origin", "x-amzn-trace-id", "user-agent"]),
        st.sampled_from(["gzip", "application/json", "text/plain", "https://shop.example.com", "https://evil.x",
                         "", "br", "identity"]),
        max_size=4),
    as_base64=st.booleans(),
    gzip_it=st.booleans(),
)
def test_no_exception_and_no_5xx_from_any_input(moto_s3, body, method, headers, as_base64, gzip_it):
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if gzip_it:
        raw = gzip.compress(raw)
    event = api_event(method=method, headers=headers)
    if as_base64 or gzip_it or isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = raw.decode("utf-8", "surrogatepass"), False
    response = ingest_handler.handler(event, None)
    assert 200 <= response["statusCode"] < 500
    if response["body"]:
        json.loads(response["body"])


@PROPERTY_SETTINGS
@given(case=mixed_batches(), envelope=st.booleans(), gzip_body=st.booleans())
def test_every_valid_event_stored_once_and_every_invalid_with_reason(moto_s3, case, envelope, gzip_body):
    batch, valid_idx = case
    before = _keys(moto_s3)
    response = ingest_handler.handler(api_event({"events": batch} if envelope else batch, gzip_body=gzip_body), None)
    body = json.loads(response["body"])
    new = _keys(moto_s3) - before
    valid_records = _records(moto_s3, {k for k in new if k.startswith("events/")})
    invalid_records = _records(moto_s3, {k for k in new if k.startswith("invalid/")})

    assert response["statusCode"] == (200 if valid_idx else 400)
    assert body["accepted"] == len(valid_idx)
    rejected_idx = [i for i in range(len(batch)) if i not in valid_idx]
    assert [r["index"] for r in body["rejected"]] == rejected_idx
    # exactly once, as sent, in order
    assert [{k: v for k, v in r.items() if k != "_ingest"} for r in valid_records] == [batch[i] for i in valid_idx]
    for record, i in zip(valid_records, valid_idx, strict=True):
        normalized = contract.validate(batch[i])
        assert contract.is_uuid(record["_ingest"]["event_id"])
        if normalized.get("event_id"):  # client ids map to the same warehouse id on every retry
            assert record["_ingest"]["event_id"] == contract.event_id_for(normalized)
    # every invalid one kept, with its reason
    assert [(r["index"], r["event"]) for r in invalid_records] == [(i, batch[i]) for i in rejected_idx]
    assert all(r["code"] and r["reason"] for r in invalid_records)

