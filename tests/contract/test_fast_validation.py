"""The contract's fast paths agree with the full ones (hypothesis).

- the yes/no check compiled from the schema (schema_check) accepts exactly what
  fastjsonschema accepts, on events generated from the schema itself and nudged across
  every boundary it declares (lengths, ranges, patterns, types, enums, required fields);
- key folding through the cached per-shape plans gives what the plain fold gives, rejections
  included;
- ``validate`` (fast check first) returns or rejects exactly like the reference path;
- ``event_id_for`` without the second UUID parse gives the ids it gave before.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from clickstream_common import contract, schema_check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SCHEMA = contract.schema()
PROPERTY_SETTINGS = settings(max_examples=400, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values that sit on a type or format boundary somewhere in the schema.
ODD_VALUES = [None, True, False, 0, -1, 1, 2.0, 2.5, -0.0, float("nan"), float("inf"), float("-inf"), 10**20,
              Decimal("1.5"), Decimal("-1"), "", "x", " 12 ", "12\n", "1.1234567", "19.99", "EUR", "eu", "E1R",
              "2026-11-25T14:30:02Z", "2026-02-30T10:00:00Z", "2026-11-25 14:30:02", [], [1], {}, {"a": 1}, ("t",)]


def _resolve(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = SCHEMA
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _lengths(schema: dict, clean: bool) -> st.SearchStrategy[int]:
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 64)
    return st.sampled_from(sorted({lo, min(lo + 3, hi), hi} if clean else {max(lo - 1, 0), lo, hi, hi + 1}))


def _bounds(schema: dict, integer: bool, clean: bool) -> st.SearchStrategy[Any]:
    lo, hi = schema.get("minimum", -(10**6)), schema.get("maximum", 10**15)
    edges = [lo, hi] if clean else [lo, hi, lo - 1, hi + 1]
    ints = st.sampled_from(edges) | st.integers(lo, hi)
    floats = st.sampled_from([float(lo), float(hi)] if clean else [lo - 0.5, hi + 0.5]) | st.floats(lo, hi)
    return ints | floats.map(lambda f: float(math.floor(f)) if integer else f)


@st.composite
def _typed(draw, schema: dict, kind: str, depth: int, clean: bool) -> Any:
    if kind == "null":
        return None
    if kind == "boolean":
        return draw(st.booleans())
    if kind in ("number", "integer"):
        return draw(_bounds(schema, kind == "integer", clean))
    if kind == "string":
        if "pattern" in schema:
            fullmatch = st.from_regex(schema["pattern"], fullmatch=True)
            return draw(fullmatch if clean else fullmatch | st.from_regex(schema["pattern"]))
        if schema.get("format") == "date-time":
            stamp = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
            return draw(stamp | stamp.map(lambda s: s.replace("+00:00", "Z")))
        return "x" * draw(_lengths(schema, clean))
    if kind == "array":
        size = draw(st.sampled_from([0, 1, 2, 3] + ([] if clean else [schema["maxItems"] + 1])))
        item = draw(_instance(schema.get("items", {}), depth + 1, clean))
        return [item] * size if size > 3 else [draw(_instance(schema.get("items", {}), depth + 1, clean))
                                                for _ in range(size)]
    if kind == "object":
        return draw(_object(schema, depth, clean))
    raise AssertionError(kind)


@st.composite
def _object(draw, schema: dict, depth: int, clean: bool) -> dict:
    properties = schema.get("properties", {})
    keys = set(schema.get("required", []))
    for branch in schema.get("anyOf", []):
        if draw(st.booleans()):
            keys |= set(_resolve(branch).get("required", []))
    keys |= set(draw(st.lists(st.sampled_from(sorted(properties)), unique=True, max_size=8))) if properties else set()
    if not clean and draw(st.integers(0, 5)) == 0:
        keys -= set(draw(st.lists(st.sampled_from(sorted(keys)), max_size=1))) if keys else set()
    out = {k: draw(_instance(properties.get(k, {}), depth + 1, clean)) for k in sorted(keys)}
    extra = schema.get("additionalProperties", True)
    for name in draw(st.lists(st.sampled_from(["utm", "sku", "listPosition", "x-y"]), unique=True, max_size=2)):
        out[name] = draw(_instance(extra, depth + 1, clean)) if isinstance(extra, dict) else "x"
    if not clean and "maxProperties" in schema and draw(st.integers(0, 30)) == 0:
        out.update({f"pad{i}": 1 for i in range(schema["maxProperties"] + 1 - len(out))})
    return out


@st.composite
def _instance(draw, schema: Any, depth: int = 0, clean: bool | None = None) -> Any:
    """A value for ``schema``: valid when ``clean``, else nudged across its boundaries now and then."""
    if clean is None:
        clean = draw(st.booleans())
    schema = _resolve(schema)
    if not clean and depth > 0 and draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(ODD_VALUES))
    if not isinstance(schema, dict) or not schema:
        return draw(st.sampled_from(ODD_VALUES))
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"] if clean else [*schema["enum"], "admin", 1]))
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        value = draw(_typed(schema, draw(st.sampled_from(kinds)), depth, clean))
        if not clean and isinstance(value, dict) and "anyOf" in schema and depth > 0 and draw(st.booleans()):
            value.pop(next(iter(value), None), None)
        return value
    if "anyOf" in schema:
        return draw(_instance(draw(st.sampled_from(schema["anyOf"])), depth, clean))
    return draw(st.sampled_from(ODD_VALUES))


def _reference_accepts(event: Any) -> bool:
    from fastjsonschema import JsonSchemaValueException

    try:
        contract._validator()(event)
    except JsonSchemaValueException:
        return False
    return True


@PROPERTY_SETTINGS
@given(event=_instance(SCHEMA))
def test_fast_check_accepts_exactly_what_fastjsonschema_accepts(event):
    check = contract._fast_check()
    verdict = _reference_accepts(event)
    assert check(event) is verdict
    if isinstance(event, dict):  # and the check compiled for this event's shape
        assert check.for_shape(tuple(event))(event) is verdict


@pytest.mark.parametrize("field", sorted(SCHEMA["properties"]))
def test_fast_check_on_every_field_and_odd_value(field):
    check = contract._fast_check()
    for value in ODD_VALUES:
        events = [{"event_name": "page_view", "session_id": "s", field: value}]
        for nested in ("product", "element"):
            events += [{"event_name": "page_view", "session_id": "s", nested: {key: value}}
                       for key in _resolve(SCHEMA["properties"][nested])["properties"]]
        events.append({"event_name": "purchase", "user_id": "u", "items": [{"item_id": 1, field: value}]})
        for event in events:
            verdict = _reference_accepts(event)
            assert check(event) is verdict, event
            assert check.for_shape(tuple(event))(event) is verdict, event


def test_the_generator_reaches_both_verdicts():
    verdicts = set()

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(event=_instance(SCHEMA))
    def collect(event):
        verdicts.add(_reference_accepts(event))

    collect()
    assert verdicts == {True, False}


@pytest.mark.parametrize("schema", [
    {"oneOf": [{"type": "string"}]},
    {"type": "string", "const": "x"},
    {"type": "object", "properties": {"a": {"$ref": "https://example.com/other.json"}}},
    {"type": "number", "exclusiveMinimum": 0},
    {"type": "array", "items": [{"type": "string"}]},
    {"type": "string", "format": "regex"},
    {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
])
def test_keywords_it_does_not_mirror_are_refused(schema):
    with pytest.raises(schema_check.Unsupported):
        schema_check.compile_check(schema)


def test_a_schema_it_cannot_compile_sends_everything_to_the_reference(monkeypatch):
    monkeypatch.setattr(contract, "schema", lambda: {**SCHEMA, "not": {"required": ["x"]}})
    contract._fast_check.cache_clear()
    try:
        assert contract._fast_check()({"event_name": "page_view", "session_id": "s"}) is False
    finally:
        contract._fast_check.cache_clear()


def test_compiling_either_validator_leaves_the_shared_schema_alone():
    pristine = contract.SCHEMA_PATH.read_text()
    contract._validator.cache_clear()
    contract._validator()
    assert contract.schema() == json.loads(pristine)
    assert "def _object" in schema_check.compile_check(contract.schema()).source


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


KEYS = sorted({*SCHEMA["properties"], *map(_camel, SCHEMA["properties"]), "context_product_id",
               "context_product_discountPrice", "utmSource", "EventName", "dataset"})
NESTED_KEYS = sorted({"id", "name", "discount_price", "discountPrice", "url_path", "urlPath", "item_id", "itemId",
                      "item_name", "tag", "dataset", "listPosition"})
leaf = st.sampled_from(["a", "b", 1, 1.0, True, None, "page_view", "s-1"])
nested_object = st.dictionaries(st.sampled_from(NESTED_KEYS), leaf, max_size=5)
values = st.one_of(leaf, nested_object, st.lists(st.one_of(nested_object, leaf), max_size=3),
                   st.just({"sku": 1, "listPosition": "3"}))


@st.composite
def spelled_events(draw) -> dict:
    event = {"eventName": draw(st.sampled_from(["page_view", "view_item", "bad name!"])),
             draw(st.sampled_from(["sessionId", "client_id", "userId"])): "s-1"}
    event.update(draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=8)))
    if draw(st.integers(0, 20)) == 0:
        event[7] = "a non-string key"
    return event


def _outcome(fn, event):
    try:
        return ("ok", fn(event))
    except contract.ContractError as exc:
        return ("rejected", exc.rejection)


@PROPERTY_SETTINGS
@given(event=spelled_events())
def test_folding_through_plans_equals_the_plain_fold(event):
    reference = _outcome(contract._normalize_full, event)
    assert _outcome(contract.normalize_keys, event) == reference
    assert _outcome(contract.normalize_keys, event) == reference  # second time from the cached plan


@PROPERTY_SETTINGS
@given(event=spelled_events(), shape_after=st.sampled_from([0, 1, contract._SHAPE_AFTER]))
def test_validate_equals_the_reference_path(event, shape_after):
    def reference(e):
        return contract._validate_reference(contract._normalize_full(e))

    # Shape checks compiled at once (or after a few events) rather than after _SHAPE_AFTER.
    with mock.patch.object(contract, "_SHAPE_AFTER", shape_after), mock.patch.object(contract, "_SHAPE_BUDGET", 10**6):
        for _ in range(3):
            assert _outcome(contract.validate, event) == _outcome(reference, event)


def test_shape_checks_are_compiled_after_a_few_events_and_within_a_budget():
    event = {"eventName": "page_view", "sessionId": "s", "shapeTestField": 1}
    contract.validate(event)
    plan = contract._top_plans[tuple(event)]
    for _ in range(contract._SHAPE_AFTER):
        contract.validate(event)
    assert callable(plan[2])
    with mock.patch.object(contract, "_shapes_compiled", contract._SHAPE_BUDGET):
        other = {"eventName": "page_view", "sessionId": "s", "shapeTestOther": 1}
        for _ in range(contract._SHAPE_AFTER + 5):
            contract.validate(other)
        assert contract._top_plans[tuple(other)][2] == contract._SHAPE_AFTER + 5  # still the generic check


def test_fold_results_are_fresh_objects():
    event = {"eventName": "x", "product": {"id": 1}, "items": [{"item_id": 1}], "element": {"dataset": {"a": 1}}}
    for _ in range(2):
        out = contract.normalize_keys(event)
        assert out["product"] is not event["product"] and out["items"][0] is not event["items"][0]
        assert out["element"] is not event["element"]
        out["product"]["id"] = 2
        assert event["product"]["id"] == 1


def test_plan_caches_stay_bounded():
    for i in range(contract._PLAN_LIMIT + 10):
        contract.normalize_keys({"eventName": "x", f"field{i}": 1, "product": {f"k{i}": 1}})
    assert len(contract._top_plans) <= contract._PLAN_LIMIT
    assert len(contract._nested_plans) <= contract._PLAN_LIMIT


def _event_id_before(event: dict) -> str | None:
    """event_id_for as it was before the single-parse change (None where it drew a random id)."""
    client_event_id = event.get("event_id")
    if client_event_id is None or client_event_id == "":
        return None
    if contract.is_uuid(client_event_id):
        return str(uuid.UUID(client_event_id))
    scope = "|".join(str(event.get(k) or "") for k in ("client_id", "session_id", "user_id"))
    return str(uuid.uuid5(contract.EVENT_ID_NAMESPACE, f"{scope}|{client_event_id}"))


uuid_spellings = st.uuids().flatmap(lambda u: st.sampled_from([
    str(u), str(u).upper(), "{" + u.hex + "}--", "urn:uuid:" + u.hex[:27], u.hex + "----", str(u)[:-1] + "g"]))


@given(event_id=st.one_of(uuid_spellings, st.text(max_size=40), st.integers(), st.none()),
       client_id=st.one_of(st.none(), st.text(max_size=5)))
def test_event_id_for_unchanged(event_id, client_id):
    event = {"event_id": event_id, "client_id": client_id}
    expected = _event_id_before(event)
    got = contract.event_id_for(event)
    if expected is None:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", got)
    else:
        assert got == expected


def test_random_uuid_is_a_version_4_uuid():
    ids = {contract.random_uuid() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every variant digit and every free version-nibble neighbour shows up, as with uuid4
    assert {v[19] for v in ids} == set("89ab") and {v[15] for v in ids} == set("0123456789abcdef")
