"""Tracker dialects (lambdas/clickstream_common/dialects/): checked when loaded, applied to
exactly what the sources send, one path for the ingest and the ETL."""

from __future__ import annotations

import copy
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from clickstream_common import contract, dialect
from clickstream_common.dialect import DialectError, Mapped, parse_amount
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

SBW = dialect.get("sbw_nextjs")
SEED = dialect.get("seed_legacy")
NATIVE = dialect.get("clickstream")

# What the SBW storefront's tracker sends (lib/clickstreamClient.ts buildBaseEvent, then the
# payload of lib/clickstreamEvents.ts), for a signed-in shopper.
BASE = {"eventId": "0f8e2a54-6d0e-4a53-9f7e-2b0c8e9e1a11", "pageUrl": "https://shop.example.vn/cart",
        "referrer": None, "userId": "3c1f7e9a-0b2d-4e55-8d2f-6a7b8c9d0e1f", "userLoginState": "logged_in",
        "clientId": "a3e0c7f6-8b9d-4c1e-9f2a-1b2c3d4e5f60", "sessionId": "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f",
        "isFirstVisit": False}


def sbw(name: str, **payload) -> dict:
    return {"eventName": name, **BASE, **payload}


def test_every_shipped_dialect_loads_and_follows_its_schema():
    schema = json.loads(dialect.SCHEMA_PATH.read_text())
    Draft7Validator.check_schema(schema)
    assert dialect.names() == ["clickstream", "sbw_nextjs", "seed_legacy"]
    for name in dialect.names():
        data = json.loads((dialect.DIALECTS_DIR / f"{name}.json").read_text())
        assert not list(Draft7Validator(schema).iter_errors(data)), name
        loaded = dialect.get(name)
        assert loaded.name == name and loaded.chain[-1] == "clickstream"
    assert SEED.chain == ("seed_legacy", "sbw_nextjs", "clickstream")


def test_the_contract_dialect_maps_nothing():
    event = {"eventName": "productView", "clientId": "c", "product": {"id": "p", "discountPrice": 5, "price": 9}}
    mapped = NATIVE.validate(event)
    assert mapped == Mapped(contract.validate(event), "view_item", "impression")


# --- the SBW storefront -------------------------------------------------------------------------

def test_checkout_complete_takes_its_revenue_from_the_dataset():
    sent = sbw("checkout_complete", element={"dataset": {"orderId": "", "orderNumber": "", "total": "179100"}})
    mapped = SBW.validate(sent)
    assert mapped.event_type == "purchase"
    assert (mapped.event["value"], mapped.event["currency"], mapped.event.get("transaction_id")) == (
        "179100", "VND", None)
    assert mapped.event["identity_source"] == "cognito"
    numbered = SBW.validate(sbw("checkout_complete", element={"dataset": {"orderId": "", "orderNumber": "A-17",
                                                                          "total": "1791.5"}}))
    assert (numbered.event["transaction_id"], numbered.event["value"]) == ("A-17", "1791.5")


def test_a_total_that_cannot_be_read_is_a_rejection_not_a_zero():
    with pytest.raises(contract.ContractError) as caught:
        SBW.validate(sbw("checkout_complete", element={"dataset": {"total": "NaN"}}))
    assert (caught.value.rejection.code, caught.value.rejection.field) == ("bad_amount", "element.dataset.total")
    # Sent empty (the tracker's total was undefined): no value, not a rejection.
    assert "value" not in SBW.validate(sbw("checkout_complete", element={"dataset": {"total": ""}})).event


def test_a_category_view_is_a_list():
    mapped = SBW.validate(sbw("category_view", product={"category": "thoi-trang-nam", "id": "thoi-trang-nam"}))
    assert (mapped.event_type, mapped.page_role) == ("view_item_list", "impression")
    assert "product" not in mapped.event
    assert (mapped.event["item_list_id"], mapped.event["item_list_name"]) == ("thoi-trang-nam", "thoi-trang-nam")


def test_discount_price_is_a_percentage_off_the_price_paid():
    product = {"id": "cm1", "name": "Quạt", "category": "appliances", "brand": "Acme", "price": 199000,
               "discountPrice": 10, "urlPath": "/product/quat"}
    mapped = SBW.validate(sbw("product_view", product=product))
    # PriceView: the price is what is paid, the original is price / (1 - discount / 100).
    assert (mapped.event["product"]["discount_price"], mapped.event["product"]["price"]) == ("199000", "221111")
    no_discount = SBW.validate(sbw("product_view", product={**product, "discountPrice": 0}))
    assert (no_discount.event["product"]["price"], no_discount.event["product"]["discount_price"]) == (199000, None)
    # A product with a discountPrice of its own sends that price, which no percentage reaches.
    priced = SBW.validate(sbw("product_view", product={**product, "discountPrice": 179000}))
    assert (priced.event["product"]["price"], priced.event["product"]["discount_price"]) == (199000, "179000")
    with pytest.raises(contract.ContractError) as caught:
        SBW.validate(sbw("product_view", product={**product, "discountPrice": "ten"}))
    assert caught.value.rejection.code == "bad_discount"


def test_the_wishlist_toggle_says_which_way():
    on = SBW.validate(sbw("wishlist_toggle", element={"dataset": {"toggledOn": "true"}}))
    off = SBW.validate(sbw("wishlist_toggle", element={"dataset": {"toggledOn": "false"}}))
    assert (on.event_type, off.event_type) == ("add_to_wishlist", "remove_from_wishlist")


def test_home_view_is_part_of_its_page_load_and_anonymous_events_have_no_identity_source():
    anonymous = {k: v for k, v in BASE.items() if k != "userId"} | {"userLoginState": "anonymous"}
    mapped = SBW.validate({"eventName": "home_view", **anonymous})
    assert (mapped.event_type, mapped.page_role) == ("page_view", "impression")
    assert "identity_source" not in mapped.event
    assert SBW.validate(sbw("page_view")).page_role == "view"
    click = sbw("click", element={"tag": "a", "role": None, "text": "Shop", "dataset": {}})
    assert SBW.validate(click).page_role is None


def test_mapping_never_changes_the_event_it_was_given():
    sent = sbw("category_view", product={"category": "x", "id": "x"},
               element={"dataset": {"total": "5"}})
    kept = copy.deepcopy(sent)
    folded = contract.normalize_keys(sent)
    folded_copy = copy.deepcopy(folded)
    SBW.map(folded)
    SBW.validate(sent)
    assert (sent, folded) == (kept, folded_copy)


# --- the seed system's raw shapes (Lambda-ETL.mjs parseEvent) ------------------------------------

@pytest.mark.parametrize("raw", [
    {"event_name": "product_view", "client_id": "c", "context_product": {
        "product_id": "p1", "product_name": "Fan", "product_category": "appliances", "product_brand": "Acme",
        "product_price": "199000", "product_discount_price": "10", "product_url_path": "/product/fan"}},
    {"eventName": "product_view", "clientId": "c", "context_product": {
        "id": "p1", "name": "Fan", "category": "appliances", "brandName": "Acme", "price": 199000,
        "discountPrice": 10, "urlPath": "/product/fan"}},
    {"eventName": "product_view", "clientId": "c", "product": {
        "product_id": "p1", "product_name": "Fan", "category": "appliances", "brand": "Acme",
        "price": " 199000 ", "product_discount_price": 10, "product_url_path": "/product/fan"}},
    {"eventName": "product_view", "clientId": "c", "product": {
        "id": "p1", "name": "Fan", "category": "appliances", "brand": "Acme", "price": 199000, "discountPrice": 10,
        "urlPath": "/product/fan"}, "context_product": {"id": "ignored"}},
])
def test_every_product_shape_the_seed_read_loads_its_product(raw):
    mapped = SEED.validate(raw)
    assert mapped.event["product"] == {"id": "p1", "name": "Fan", "category": "appliances", "brand": "Acme",
                                       "price": "221111", "discount_price": "199000", "url_path": "/product/fan"}
    assert mapped.event_type == "view_item"


def test_seed_spellings_of_time_ids_and_identity_source():
    mapped = SEED.validate({"eventName": "page_view", "userId": "u", "eventTimestamp": "2025-12-01T10:00:00Z",
                            "eventId": "e-1", "identitySource": "clerk_google"})
    assert (mapped.event["client_timestamp"], mapped.event["event_id"], mapped.event["identity_source"]) == (
        "2025-12-01T10:00:00Z", "e-1", "clerk_google")


@pytest.mark.parametrize(("ingest", "key", "name"), [
    ({"dialect": "sbw_nextjs", "contract_version": 1}, "events/2026/01/01/00/x.ndjson", "sbw_nextjs"),
    ({"contract_version": 1}, "events/2026/01/01/00/x.ndjson", "clickstream"),
    ({"receivedAt": "2025-12-01T10:00:00Z", "sourceIp": "1.2.3.4"}, "events/2025/12/01/10/x.ndjson", "seed_legacy"),
    (None, "events/2025/12/01/10/event-3f7c.json", "seed_legacy"),
    (None, "events/2025/12/01/10/batch.ndjson", "clickstream"),
    ({"dialect": 5}, "events/x.ndjson", "5"),
])
def test_which_dialect_a_raw_record_is_in(ingest, key, name):
    assert dialect.for_raw_record(ingest, key) == name


# --- amounts --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "mark", "amount"), [
    ("179100", ".", "179100"), ("1,234.50", ".", "1234.50"), ("€ 12", ".", "12"), ("$1,000,000", ".", "1000000"),
    ("179.100 ₫", ",", "179100"), ("1.234,5", ",", "1234.5"), ("12 500 Kč", ",", "12500"), ("VND 99", ".", "99"),
    ("0.30000000000000004", ".", "0.3"), (199000, ".", "199000"), (12.5, ".", "12.5"), ("12 kr.", ",", "12"),
])
def test_amounts_as_stores_write_them(text, mark, amount):
    assert parse_amount(text, mark) == Decimal(amount)


@pytest.mark.parametrize("text", ["abc", "-5", "1e3", "1.234,50", "12,34", "1,2345.0", "", True, "10000000000",
                                  "about 20", "20 dollars"])
def test_what_is_not_an_amount(text):
    with pytest.raises(ValueError):
        parse_amount(text, ".")


# --- checked when loaded --------------------------------------------------------------------------

def _dialect_dir(tmp_path: Path, **files: dict) -> Path:
    for name in ("clickstream", "sbw_nextjs", "seed_legacy"):
        shutil.copy(dialect.DIALECTS_DIR / f"{name}.json", tmp_path)
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def _store(**rules) -> dict:
    return {"name": "store", "title": "A store", "source": "its tracker", "extends": "clickstream", **rules}


@pytest.mark.parametrize(("data", "message"), [
    (_store(rules=[{"why": "w", "set": "value", "from": ["element.dataset.total"], "convert": "euros"}]),
     "rules[0].convert: 'euros' is not a converter"),
    (_store(rules=[{"why": "w", "set": "transactionId", "from": ["element.dataset.orderId"]}]),
     "rules[0].set: 'transactionId' must name the field in snake_case (transaction_id)"),
    (_store(rules=[{"why": "w", "move": "product.urlPath", "to": "product.url_path"}]),
     "product's fields are folded to snake_case (url_path)"),
    (_store(rules=[{"why": "w", "convert": "product.discount_price", "with": "percent_off"}]),
     "rules[0]: paid_price goes with, and only with, percent_off"),
    (_store(rules=[{"why": "w", "event_type": "checkout_complete"}]),
     "rules[0].event_type: 'checkout_complete' is a spelling of 'purchase'"),
    (_store(rules=[{"why": "w", "set": "value", "move": "x", "to": "y"}]), "store.json:"),
    (_store(rules=[{"set": "value", "value": 1}]), "store.json:"),
    (_store(event_types={"buy": "orderComplete"}), "store.json:"),
    (_store(extends="nowhere"), "unknown dialect 'nowhere'"),
    ({**_store(), "name": "other"}, "store.json: name 'other' must match the file name"),
    ({**_store(), "extends": "store"}, "store.json: extends itself through store -> store"),
])
def test_a_bad_dialect_is_refused_when_loaded_with_where_it_is_wrong(tmp_path, data, message):
    directory = _dialect_dir(tmp_path, store=data)
    with pytest.raises(DialectError) as caught:
        dialect.load("store", directory)
    assert message in str(caught.value)


def test_a_good_store_dialect_loads(tmp_path):
    directory = _dialect_dir(tmp_path, store=_store(
        decimal_mark=",", event_types={"order_done": "purchase"},
        rules=[{"why": "the total is in the dataset", "events": ["order_done"], "set": "value",
                "from": ["element.dataset.sum"], "convert": "amount"}]))
    store = dialect.load("store", directory)
    mapped = store.validate({"eventName": "order_done", "clientId": "c", "element": {"dataset": {"sum": "1.234,50 €"}}})
    assert (mapped.event_type, mapped.event["value"]) == ("purchase", "1234.5")


def test_an_unknown_dialect_is_an_error():
    with pytest.raises(DialectError, match="unknown dialect 'nope'"):
        dialect.get("nope")
    with pytest.raises(DialectError):
        dialect.get("../clickstream")


# --- one path: mapping then validating is validating the mapped event -----------------------------

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=8),
                    st.sampled_from(["179100", "1,234.50", "", " ", "NaN", "10", "100", "-1", "false", "true"]))
_EVENTS = st.fixed_dictionaries(
    {"eventName": st.sampled_from(["page_view", "home_view", "category_view", "product_view", "add_to_cart_click",
                                   "remove_from_cart_click", "wishlist_toggle", "checkout_start",
                                   "checkout_complete", "click", "share_click"]),
     "clientId": st.sampled_from(["c-1", "c-2"])},
    optional={
        "userId": st.one_of(st.none(), st.sampled_from(["u-1", ""])),
        "identitySource": st.sampled_from(["cognito", "clerk_google", None]),
        "product": st.one_of(_VALUES, st.dictionaries(
            st.sampled_from(["id", "name", "category", "brand", "price", "discountPrice", "urlPath", "discount_price"]),
            _VALUES, max_size=5)),
        "element": st.one_of(_VALUES, st.dictionaries(
            st.sampled_from(["tag", "id", "role", "text", "dataset"]),
            st.one_of(_VALUES, st.dictionaries(st.sampled_from(["total", "orderId", "orderNumber", "toggledOn"]),
                                               _VALUES, max_size=4)), max_size=4)),
        "context_product": st.one_of(_VALUES, st.dictionaries(
            st.sampled_from(["product_id", "product_price", "brandName", "product_discount_price"]), _VALUES,
            max_size=4)),
        "value": _VALUES,
        "eventTimestamp": st.sampled_from(["2025-12-01T10:00:00Z", "yesterday"]),
    })


def _outcome(call):
    try:
        return "ok", call()
    except contract.ContractError as exc:
        return "rejected", (exc.rejection.code, exc.rejection.field)


@settings(max_examples=400, deadline=None)
@given(event=_EVENTS, name=st.sampled_from(["clickstream", "sbw_nextjs", "seed_legacy"]))
def test_mapping_then_validating_equals_validating_the_mapped_event(event, name):
    chosen = dialect.get(name)

    def mapped_then_validated():
        mapped = chosen.map(contract.normalize_keys(event))
        return Mapped(contract.validate(mapped.event), mapped.event_type, mapped.page_role)

    assert _outcome(lambda: chosen.validate(event)) == _outcome(mapped_then_validated)
