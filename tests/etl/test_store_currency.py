"""The store's currency (ETL_STORE_CURRENCY): the currency of amounts sent without one."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from clickstream_common import currencies
from etl.normalize import parse_object
from etl.pipeline import run
from etl.settings import ConfigurationError, Settings

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import MONDAY, WINDOW, ev, sent
from tests.support.raw import put_records, record

BASE = {"RAW_BUCKET_NAME": "b", "DW_PG_HOST": "h", "DW_PG_USER": "u", "DW_PG_DATABASE": "d"}


def _rows(events, store_currency):
    body = "".join(json.dumps(record({**e, "sentAt": e["clientTimestamp"]}, MONDAY)) + "\n" for e in events)
    parsed = parse_object("events/k.ndjson", body.encode(), None, timedelta(days=7), store_currency=store_currency)
    assert not parsed.rejected
    return [(r.event_type, r.value, r.product_price, r.currency) for r in parsed.rows]


def test_amounts_without_a_currency_are_in_the_store_s_and_events_without_amounts_have_none():
    events = [ev("page_view", MONDAY, "/", clientId="c1"),
              ev("purchase", MONDAY, "/done", clientId="c1", transactionId="T1", value=10),
              ev("purchase", MONDAY, "/done", clientId="c1", transactionId="T2", value=5, currency="usd"),
              ev("view_item", MONDAY, "/p/1", clientId="c1", product={"id": "1", "price": 3})]
    assert [c for *_, c in _rows(events, "EUR")] == [None, "EUR", "USD", "EUR"]
    # Without a store currency (the default) an amount keeps none, as before.
    assert [c for *_, c in _rows(events, None)] == [None, None, "USD", None]


def test_the_setting_is_an_active_iso_4217_code():
    assert Settings.from_env(BASE).store_currency is None
    assert Settings.from_env({**BASE, "ETL_STORE_CURRENCY": "VND"}).store_currency == "VND"
    for bad in ("eur", "EUO", "XAU", "EURO", "€"):
        with pytest.raises(ConfigurationError, match=f"ETL_STORE_CURRENCY: '{bad}' is not an active ISO 4217"):
            Settings.from_env({**BASE, "ETL_STORE_CURRENCY": bad})


def test_the_code_list_is_data():
    codes = currencies.active_codes()
    assert {"EUR", "USD", "VND", "JPY", "GBP", "XCG", "ZWG"} <= set(codes) and len(codes) > 150
    assert all(len(c) == 3 and c.isascii() and c.isupper() for c in codes)
    assert not {"HRK", "XXX", "XTS", "XAU"} & set(codes)  # withdrawn, no currency, test, gold


def test_purchases_are_counted_per_day_in_the_currency_they_were_sent_in(raw_s3, warehouse):
    settings = dataclasses.replace(warehouse, store_currency="EUR")
    tuesday = MONDAY + timedelta(days=1)
    first = [ev("purchase", MONDAY, "/done", clientId="c1", transactionId="T1", value=100),  # the store's: EUR
             ev("purchase", MONDAY, "/done", clientId="c2", transactionId="T2", value=30, currency="usd"),
             ev("purchase", MONDAY, "/done", clientId="c3", transactionId="T3"),  # no amount: no currency
             ev("purchase", tuesday, "/done", clientId="c4", transactionId="T4", value="20.50", currency="EUR"),
             ev("page_view", MONDAY, "/", clientId="c5")]
    put_records(raw_s3, BUCKET, sent(first, tuesday + timedelta(hours=1)), tuesday + timedelta(hours=1))
    assert run(settings, WINDOW, s3=raw_s3).status == "succeeded"
    query = "SELECT activity_date::text, currency, is_bot, purchases, revenue FROM agg_daily_purchase_currencies"
    monday, tue = str(MONDAY.date()), str(tuesday.date())
    with connected(warehouse) as conn:
        assert conn.run(query + " ORDER BY 1, 2") == [
            [monday, "(none)", False, 1, Decimal("0.0000")],
            [monday, "EUR", False, 1, Decimal("100.0000")],
            [monday, "USD", False, 1, Decimal("30.0000")],
            [tue, "EUR", False, 1, Decimal("20.5000")]]
    # A late USD purchase on Monday, in a later run, changes Monday's USD row only.
    late = [ev("purchase", MONDAY + timedelta(hours=2), "/done", clientId="c6", transactionId="T6", value="12.5",
               currency="USD")]
    put_records(raw_s3, BUCKET, sent(late, tuesday + timedelta(hours=3)), tuesday + timedelta(hours=3))
    assert run(settings, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        assert conn.run(query + " WHERE currency = 'USD'") == [[monday, "USD", False, 2, Decimal("42.5000")]]
        assert conn.run("SELECT sum(purchases), sum(revenue) FROM agg_daily_purchase_currencies") == [
            [5, Decimal("163.0000")]]
        # The sessions' revenue is the same sum, as sent.
        assert conn.run("SELECT sum(revenue) FROM clickstream_sessions") == [[Decimal("163.0000")]]
