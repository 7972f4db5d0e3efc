"""The store's currency (ETL_STORE_CURRENCY): the currency of amounts sent without one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from clickstream_common import currencies
from etl.normalize import parse_object
from etl.settings import ConfigurationError, Settings

from tests.etl.test_scenarios import MONDAY, ev
from tests.support.raw import record

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
