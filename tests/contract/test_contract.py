from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from clickstream_common import contract
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from tests.support.events import ga4_purchase, seed_event, snake_event, tracker_event


def test_schema_is_a_valid_draft7_schema():
    Draft7Validator.check_schema(contract.schema())


@pytest.mark.parametrize("make", [seed_event, tracker_event, snake_event, ga4_purchase])
def test_accepts_every_client_format(make):
    normalized = contract.validate(make())
    assert "event_name" in normalized
    # Independent check with a second validator implementation on the same file.
    assert not list(Draft7Validator(contract.schema()).iter_errors(normalized))


def test_camel_case_is_folded_to_snake_case_recursively_but_dataset_keys_are_kept():
    normalized = contract.validate(tracker_event())
    assert normalized["client_id"] == "c-7d1f"
    assert normalized["product"]["discount_price"] == 79.9
    assert normalized["product"]["url_path"] == "/p/sku-42"
    assert normalized["element"]["dataset"] == {"sku": "sku-42", "listPosition": "3"}
    assert contract.validate(ga4_purchase())["items"][1]["item_id"] == "sku-2"


def test_legacy_context_product_fields_become_product():
    normalized = contract.validate(
        {"eventName": "product_view", "sessionId": "s", "context_product_id": "sku-9",
         "context_product_price": 10, "context_product_discountPrice": 8}
    )
    assert normalized["product"] == {"id": "sku-9", "price": 10, "discount_price": 8}


@pytest.mark.parametrize(
    ("event", "code", "field"),
    [
        ({"sessionId": "s"}, "missing_field", "event_name"),
        ({"eventName": "page_view"}, "missing_identity", None),
        ({"eventName": "page view!", "sessionId": "s"}, "bad_format", "event_name"),
        ({"eventName": "page_view", "sessionId": "s", "userLoginState": "admin"}, "not_allowed", "user_login_state"),
        ({"eventName": "page_view", "sessionId": "s", "isFirstVisit": "yes"}, "wrong_type", "is_first_visit"),
        ({"eventName": "view_item", "sessionId": "s", "product": {"price": "cheap"}}, "invalid_value", "product.price"),
        ({"eventName": "purchase", "sessionId": "s", "currency": "EURO"}, "bad_format", "currency"),
        ({"eventName": "purchase", "sessionId": "s", "items": [{"price": 1}]}, "invalid_value", "items[0]"),
        ({"eventName": "page_view", "sessionId": "s", "pageUrl": "x" * 5000}, "too_long", "page_url"),
        ({"eventName": "page_view", "sessionId": "s", "clientTimestamp": "yesterday"}, "invalid_value",
         "client_timestamp"),
        ({"eventName": "page_view", "userId": "a", "user_id": "b"}, "conflicting_fields", "user_id"),
        ({"eventName": "view_item", "sessionId": "s", "product": 1, "context_product_id": "a"}, "wrong_type",
         "product"),
        (["not", "an", "object"], "not_an_object", None),
    ],
)
def test_rejections_carry_a_code_and_the_field(event, code, field):
    with pytest.raises(contract.ContractError) as err:
        contract.validate(event)
    assert err.value.rejection.code == code
    assert err.value.rejection.field == field
    assert err.value.rejection.message


def test_same_value_in_both_spellings_is_fine():
    assert contract.validate({"eventName": "x", "event_name": "x", "userId": "u"})["event_name"] == "x"


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [("product_view", "view_item"), ("view_product", "view_item"), ("checkout_complete", "purchase"),
     ("checkout_start", "begin_checkout"), ("add_to_cart_click", "add_to_cart"), ("home_view", "page_view"),
     ("category_view", "view_item_list"), ("productView", "view_item"), ("purchase", "purchase"),
     ("newsletter_signup", "newsletter_signup"), ("Page-View", "page_view")],
)
def test_alias_map(sent, canonical):
    assert contract.canonical_event_name(sent) == canonical


def test_every_alias_targets_a_canonical_event_and_funnel_stages_are_canonical():
    canonical = contract.canonical_events()
    assert set(contract.event_aliases().values()) <= set(canonical)
    assert set(contract.funnel_stages()) <= set(canonical)
    assert contract.funnel_stages() == ["view_item", "add_to_cart", "begin_checkout", "purchase"]


def test_event_ids():
    client_uuid = str(uuid.uuid4())
    assert contract.event_id_for({"event_id": client_uuid.upper()}) == client_uuid
    derived = contract.event_id_for({"event_id": "evt-1", "client_id": "c"})
    assert derived == contract.event_id_for({"event_id": "evt-1", "client_id": "c"})  # stable for retries
    assert derived != contract.event_id_for({"event_id": "evt-1", "client_id": "other"})
    fresh = {contract.event_id_for({}) for _ in range(3)}
    assert len(fresh) == 3 and all(contract.is_uuid(i) for i in fresh)


@settings(max_examples=300)
@given(st.text())
def test_name_uuids_are_uuid5(name):
    # uuid5 itself: the derived ids of events stored before name_uuid existed stay the same.
    assert contract.name_uuid(name) == str(uuid.uuid5(contract.EVENT_ID_NAMESPACE, name))


def test_a_client_id_with_a_lone_surrogate_still_maps_to_one_uuid():
    # JSON can spell one ("\\ud800"); uuid5 refused it and the ingest answered 500.
    derived = contract.event_id_for({"event_id": "evt-1", "client_id": "c\ud800"})
    assert contract.is_uuid(derived) and derived == contract.event_id_for({"event_id": "evt-1", "client_id": "c\ud800"})
    assert derived != contract.event_id_for({"event_id": "evt-1", "client_id": "c\udfff"})


@pytest.mark.parametrize(
    ("value", "iso"),
    [(1764081000000, "2025-11-25T14:30:00+00:00"), ("2026-11-25T14:30:02.500Z", "2026-11-25T14:30:02.500000+00:00"),
     ("2026-11-25T16:30:00+02:00", "2026-11-25T14:30:00+00:00"), ("garbage", None), (None, None), (True, None)],
)
def test_parse_timestamp(value, iso):
    parsed = contract.parse_timestamp(value)
    assert (parsed.isoformat() if parsed else None) == iso


def test_schema_file_is_the_only_copy_of_the_alias_map():
    # The contract module reads names from the schema; it must not carry its own table.
    source = (contract.SCHEMA_PATH.parent / "contract.py").read_text()
    for alias in contract.event_aliases():
        assert f'"{alias}"' not in source
    assert json.loads(contract.SCHEMA_PATH.read_text())["x-event-aliases"] == contract.event_aliases()


@settings(max_examples=400, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
       offset_minutes=st.integers(-14 * 60, 14 * 60),
       spelling=st.sampled_from(["offset", "Z", "z", "naive", "padded", "space", "date"]))
def test_parse_timestamp_fast_path_agrees_with_the_full_one(moment, offset_minutes, spelling):
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = {"offset": aware.isoformat(), "Z": moment.isoformat() + "Z", "z": moment.isoformat() + "z",
            "naive": moment.isoformat(), "padded": f" {aware.isoformat()} ", "space": aware.isoformat(" "),
            "date": moment.date().isoformat()}[spelling]
    parsed = contract.parse_timestamp(text)
    assert parsed == contract._parse_timestamp_full(text)
    assert parsed is None or parsed.utcoffset() == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(value=st.uuids().map(str), spelling=st.sampled_from(["canonical", "upper", "braces", "shifted", "bad"]))
def test_is_uuid_agrees_with_uuid_parsing(value, spelling):
    text = {"canonical": value, "upper": value.upper(), "braces": "{" + value.replace("-", "")[:34] + "}",
            "shifted": value.replace("-", "")[:4] + "-" + value.replace("-", "")[4:] + "---",
            "bad": value[:35] + "g"}[spelling]
    try:
        expected = len(text) == 36 and bool(uuid.UUID(text))
    except ValueError:
        expected = False
    assert contract.is_uuid(text) is expected
