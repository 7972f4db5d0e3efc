"""Whatever a raw object holds, parsing it gives rows PostgreSQL accepts or rejections with a
reason: never an error that fails the run. An object that fails its batch is never ledgered,
so it would fail every run after it too.

The records here are generated around the contract's field names in both spellings, with
values of any JSON type, and with an ``_ingest`` block that may claim the current contract
without the line holding it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from clickstream_common import contract
from etl import load
from etl.normalize import EVENT_COLUMNS, parse_items
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.etl.conftest import connected

LATE = timedelta(days=400)
AT = datetime(2026, 9, 14, 12, 0, tzinfo=UTC)
VERSION = contract.schema()["x-contract-version"]

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                     st.sampled_from(["", " ", "EUR", "eur", "EURO", "€€€", "19.99", " 7 ", "-1", "1e400", "0x10",
                                      "\x00", "a\tb", "true", "maybe", "2026-09-14T11:59:00Z", "garbage"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=6)
_MOMENTS = st.one_of(st.datetimes(min_value=datetime(2026, 9, 1), max_value=datetime(2026, 9, 15),
                                  timezones=st.just(UTC)).map(lambda d: d.isoformat()),
                     st.integers(0, 2**45), _SCALARS)
_TEXTS = st.one_of(st.text(max_size=16), st.sampled_from(["c-1", "s-1", "u-1", "https://shop.example.com/p/1?utm_source=x%09&gclid=1",
                                                          "https://www.google.com/", "not a url", "http://[::1"]))
_PRODUCT_KEYS = ("id", "name", "category", "brand", "price", "discountPrice", "discount_price", "urlPath",
                 "url_path", "currency", "quantity", "variant", "Id")
_PRODUCTS = st.one_of(st.dictionaries(st.sampled_from(_PRODUCT_KEYS), st.one_of(_SCALARS, _TEXTS), max_size=6),
                      _JSON)
# name -> values: each field may come in either spelling, with a value of its own type or any other.
_FIELDS = {
    "eventName": st.one_of(st.sampled_from(["page_view", "product_view", "checkout_complete", "add_to_cart"]),
                           _SCALARS),
    "event_name": st.sampled_from(["page_view", "view_item", "login"]),
    "clientId": _TEXTS, "client_id": _TEXTS, "sessionId": _TEXTS, "userId": _TEXTS, "user_id": _SCALARS,
    "eventId": st.one_of(st.uuids().map(str), _TEXTS), "pageUrl": _TEXTS, "page_url": _TEXTS,
    "referrer": _TEXTS, "pageTitle": _TEXTS, "userLoginState": st.one_of(
        st.sampled_from(["logged_in", "guest", "anonymous"]), _SCALARS),
    "isFirstVisit": _SCALARS, "clientTimestamp": _MOMENTS, "sentAt": _MOMENTS, "currency": _SCALARS,
    "value": _SCALARS, "quantity": _SCALARS, "transactionId": _TEXTS, "searchTerm": _TEXTS,
    "identitySource": _TEXTS, "product": _PRODUCTS,
    "element": st.one_of(st.dictionaries(st.sampled_from(["tag", "id", "Tag", "dataset"]), _SCALARS, max_size=3),
                         _JSON),
    "items": st.one_of(st.lists(st.dictionaries(st.sampled_from(["item_id", "item_name", "price", "quantity"]),
                                                _SCALARS, max_size=4), max_size=2), _JSON),
    "context_product_id": _TEXTS, "context_product_price": _SCALARS,
}
_INGEST = st.fixed_dictionaries(
    {},
    optional={
        "received_at": st.one_of(st.just(AT.isoformat()), _MOMENTS),
        "receivedAt": st.just((AT - timedelta(minutes=1)).isoformat()),
        "event_id": st.one_of(st.uuids().map(str), _SCALARS),
        "user_agent": st.one_of(st.sampled_from(["Mozilla/5.0 (compatible; Googlebot/2.1)",
                                                 "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile"]),
                                _SCALARS),
        "source_ip": st.one_of(st.sampled_from(["203.0.113.0", "2001:db8::", "10.0.0.0/24", "fe80::1%eth0",
                                                "300.1.2.3", "unknown", ""]), _SCALARS),
        "contract_version": st.one_of(st.just(VERSION), _SCALARS),
    },
)


@st.composite
def raw_records(draw) -> dict:
    names = draw(st.lists(st.sampled_from(sorted(_FIELDS)), unique=True, max_size=9))
    record = {name: draw(_FIELDS[name]) for name in names}
    if draw(st.booleans()):
        record.setdefault("eventName", "page_view")
        record.setdefault("clientId", "c-1")
    if draw(st.integers(0, 9)):
        ingest = draw(_INGEST)
        if draw(st.integers(0, 3)):
            ingest.setdefault("received_at", AT.isoformat())
            ingest.setdefault("contract_version", VERSION)
        record["_ingest"] = ingest
    return record


def _lines(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.mark.postgres
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(raw_records(), min_size=1, max_size=8), min_size=1, max_size=3))
def test_any_line_is_a_row_postgres_takes_or_a_rejection(warehouse, objects):
    items = [(f"events/2026/09/14/12/{n:03d}.ndjson", None, _lines(records)) for n, records in enumerate(objects)]
    parsed, _ = parse_items(LATE, 1, items)  # raises nothing
    for obj, records in zip(parsed, objects, strict=True):
        assert obj.lines == len(records) == obj.rows + len(obj.rejected)
        assert all(r.code and r.reason for r in obj.rejected)
    with connected(warehouse) as conn:
        load.prepare(conn)
        conn.run("START TRANSACTION")
        try:
            conn.run(f"COPY etl_stage_copy ({', '.join((*EVENT_COLUMNS, 'etl_run_id'))}) FROM STDIN",
                     stream=load.byte_chunks(p.data for p in parsed))
            # The staging view turns the timestamps back: every one must be an instant PostgreSQL has.
            staged = conn.run("SELECT count(*), count(event_timestamp) + count(received_at)"
                              " + count(client_created_at) + count(client_sent_at) >= 0 FROM etl_stage")[0]
        finally:
            conn.run("ROLLBACK")
    assert staged == [sum(p.rows for p in parsed), True]


def _trusted(event: dict) -> bytes:
    return _lines([{**event, "_ingest": {"contract_version": VERSION, "received_at": AT.isoformat(),
                                          "source_ip": "203.0.113.0"}}])


@pytest.mark.parametrize(("event", "code", "field"), [
    ({"clientId": "c"}, "missing_field", "event_name"),
    ({"clientId": "c", "eventName": 5}, "wrong_type", "event_name"),
    ({"clientId": "c", "eventName": "x", "product": "abc"}, "wrong_type", "product"),
    ({"clientId": "c", "eventName": "x", "currency": "EURO"}, "bad_format", "currency"),
    ({"clientId": "c", "eventName": "x", "product": {"currency": "EURO"}}, "bad_format", "product.currency"),
    ({"clientId": "c", "eventName": "x", "isFirstVisit": "maybe"}, "wrong_type", "is_first_visit"),
])
def test_a_line_that_claims_the_contract_without_holding_it_is_rejected(event, code, field):
    # Such a line once raised (KeyError, AttributeError) or made the batch's COPY fail.
    [obj], _ = parse_items(LATE, 1, [("events/k.ndjson", None, _trusted(event))])
    assert obj.rows == 0
    assert [(r.code, r.field) for r in obj.rejected] == [(code, field)]


def test_an_unreadable_source_address_is_dropped_not_fatal():
    body = _lines([{"eventName": "page_view", "clientId": "c",
                    "_ingest": {"contract_version": VERSION, "received_at": AT.isoformat(), "source_ip": ip}}
                   for ip in ("unknown", "203.0.113.0", "fe80::1%eth0", "10.0.0.0/24")])
    [obj], _ = parse_items(LATE, 1, [("events/k.ndjson", None, body)])
    ips = [line.split("\t")[EVENT_COLUMNS.index("ip_truncated")] for line in obj.data.decode().splitlines()]
    assert ips == ["\\N", "203.0.113.0", "\\N", "10.0.0.0/24"]
