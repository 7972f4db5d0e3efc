"""The ingest takes each request in the tracker dialect its deployment names for it (by route,
else by Origin, else the default), validates the events as that dialect maps them, and stores
them as sent with the dialect's name, which the ETL then applies the same way."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from clickstream_common import contract, dialect
from etl.normalize import EVENT_COLUMNS, parse_object
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest.handler import handler
from ingest.settings import ConfigurationError, Settings

from tests.contract.test_dialects import _EVENTS, sbw
from tests.ingest.conftest import stored
from tests.support.events import api_event

SHOP = "https://shop.example.com"
STORE = "https://store.example.vn"
CHECKOUT = sbw("checkout_complete", element={"dataset": {"orderId": "", "orderNumber": "", "total": "179100"}})


@pytest.fixture
def dialect_env(ingest_env):
    ingest_env.setenv("CORS_ALLOWED_ORIGINS", f"{SHOP},{STORE}")
    ingest_env.setenv("INGEST_ORIGIN_DIALECTS", f"{STORE}/=sbw_nextjs")
    ingest_env.setenv("INGEST_ROUTE_DIALECTS", "/sbw/clickstream=sbw_nextjs")
    return ingest_env


def post(body, origin: str | None = None, path: str = "/clickstream"):
    headers = {"origin": origin} if origin else {}
    response = handler(api_event(body, path=path, headers=headers), None)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def test_an_origin_s_dialect_maps_its_events_and_is_written_with_them(s3, dialect_env):
    # One event per POST, the body the event itself: as the SBW tracker sends it.
    assert post(CHECKOUT, origin=STORE) == (200, {"accepted": 1, "rejected": []})
    (record,) = stored(s3, "events/")
    meta = record.pop("_ingest")
    assert record == CHECKOUT  # kept as sent: the ETL maps it again, a corrected dialect too
    assert meta["dialect"] == "sbw_nextjs"


def test_a_route_names_its_dialect_and_other_requests_keep_the_default(s3, dialect_env):
    assert post(CHECKOUT, path="/sbw/clickstream")[0] == 200
    assert post({"eventName": "page_view", "clientId": "c"}, origin=SHOP)[0] == 200
    assert post({"eventName": "page_view", "clientId": "c"}, path="/other")[0] == 404
    assert [r["_ingest"]["dialect"] for r in stored(s3, "events/")] == ["sbw_nextjs", "clickstream"]


def test_an_event_the_dialect_cannot_map_is_rejected_with_its_reason(s3, dialect_env):
    bad = sbw("checkout_complete", element={"dataset": {"total": "about 20"}})
    status, body = post([bad, CHECKOUT], origin=STORE)
    assert status == 200
    assert body["rejected"] == [{"index": 0, "code": "bad_amount", "field": "element.dataset.total",
                                 "reason": "element.dataset.total: not an amount: 'about 20'"}]
    (kept,) = stored(s3, "invalid/")
    assert (kept["code"], kept["event"], kept["_ingest"]["dialect"]) == ("bad_amount", bad, "sbw_nextjs")


def test_the_same_events_under_the_default_dialect_carry_no_revenue(s3, dialect_env):
    # Never guessed from the event: sent to the contract's route from another origin, the SBW
    # checkout is a purchase without a value (the contract's alias), as configured.
    assert post(CHECKOUT, origin=SHOP)[0] == 200
    (record,) = stored(s3, "events/")
    row = parse_object("events/x.ndjson", (json.dumps(record) + "\n").encode(), None, timedelta(days=7)).rows[0]
    values = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert (values["dialect"], values["event_type"], values["value"]) == ("clickstream", "purchase", None)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("INGEST_DIALECT", "shopify", "unknown dialect 'shopify'"),
    ("INGEST_ORIGIN_DIALECTS", f"{STORE}=nope", "unknown dialect 'nope'"),
    ("INGEST_ORIGIN_DIALECTS", "sbw_nextjs", "is not <key>=<dialect>"),
    ("INGEST_ROUTE_DIALECTS", "/sbw=", "is not <key>=<dialect>"),
])
def test_a_bad_dialect_setting_stops_the_function_at_start(ingest_env, variable, value, message):
    ingest_env.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env()


# --- one path: what the ingest accepts, the ETL loads the same way -----------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_EVENTS, min_size=1, max_size=6),
       name=st.sampled_from(["clickstream", "sbw_nextjs", "seed_legacy"]))
def test_the_etl_reads_what_the_ingest_accepted_as_the_ingest_did(s3, dialect_env, events, name):
    dialect_env.setenv("INGEST_DIALECT", name)
    for key in [o["Key"] for o in s3.list_objects_v2(Bucket="clickstream-raw-test").get("Contents", [])]:
        s3.delete_object(Bucket="clickstream-raw-test", Key=key)
    status, body = post(events)
    accepted = [e for i, e in enumerate(events) if i not in {r["index"] for r in (body or {}).get("rejected", [])}]
    if status != 200:
        assert status == 400 and not accepted
        return
    records = stored(s3, "events/")
    assert len(records) == len(accepted) == body["accepted"]
    parsed = parse_object("events/x.ndjson", "".join(json.dumps(r) + "\n" for r in records).encode(), None,
                          timedelta(days=3650))
    # Rows (or time rejections, which the ingest does not judge) for every accepted event, each
    # with the event type and values the dialect gave it at the ingest.
    assert {r.code for r in parsed.rejected} <= {"future_timestamp", "too_late"}, parsed.rejected
    chosen = dialect.get(name)
    rows = iter(parsed.rows)
    for event, line in zip(accepted, range(1, len(accepted) + 1), strict=True):
        if any(r.line_no == line for r in parsed.rejected):
            continue
        values = dict(zip(EVENT_COLUMNS, next(rows), strict=True))
        mapped = chosen.validate(event)
        assert (values["dialect"], values["event_type"], values["page_role"]) == (
            name, mapped.event_type, mapped.page_role)
        assert values["value"] == (None if mapped.event.get("value") in (None, "") else
                                   contract_amount(mapped.event["value"]))


def contract_amount(value):
    from decimal import Decimal

    return Decimal(str(value).strip())


def test_the_native_contract_stays_on_its_own_fast_path():
    # The ingest's hot path: a dialect that maps nothing validates with the contract alone.
    assert not dialect.get("clickstream").rules
    event = {"eventName": "page_view", "clientId": "c"}
    assert dialect.get("clickstream").validate(event).event == contract.validate(event)
