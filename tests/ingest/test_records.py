"""The ingest's shortcuts give what the straightforward code gives.

- a valid event's NDJSON line, spliced from the event's JSON and the request's pre-encoded
  ``_ingest`` block, is byte for byte the JSON of the record ``valid_record`` builds;
- the cached settings are re-read when a variable changes, and cover every variable.
"""

from __future__ import annotations

import json

import pytest
from clickstream_common import contract
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest import records
from ingest import settings as ingest_settings
from ingest.storage import encode_lines, encode_record, join_lines

from tests.support.events import ga4_purchase, seed_event, snake_event, tracker_event

CONTEXT = {"received_at": "2026-11-25T14:30:02.500Z", "request_id": "r-1", "api_id": "abc", "stage": "$default",
           "trace_id": None, "user_agent": "Mozilla/5.0 \u00e9\u2028", "source_ip": "203.0.113.0",
           "contract_version": 1}

text = st.text(max_size=12)
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text


@st.composite
def accepted_events(draw):
    event = draw(st.sampled_from([tracker_event, seed_event, snake_event, ga4_purchase]))()
    event.update(draw(st.dictionaries(st.sampled_from(["utmSource", "pageTitle", "eventId", "x\u2028y"]),
                                      json_leaf, max_size=3)))
    if draw(st.booleans()):
        event["_ingest"] = draw(json_leaf)  # a client trying to forge the server's block
    if "eventId" in event and draw(st.booleans()):
        event["eventId"] = draw(st.sampled_from(["evt-\u00e9\"\\", "0B6F6C1E-2F7E-4B8A-9A4B-5D2A8E1F3C7D", "e"]))
    return event


def _without_random_id(line: str) -> dict:
    record = json.loads(line)
    record["_ingest"].pop("event_id")
    return record


@settings(max_examples=150, deadline=None)
@given(event=accepted_events())
def test_spliced_line_is_the_record_json(event):
    try:
        normalized = contract.validate(event)
    except contract.ContractError:
        return
    line = records._LineWriter(CONTEXT).line(event, normalized)
    expected = encode_record(records.valid_record(event, normalized, CONTEXT))
    if normalized.get("event_id") is not None:  # deterministic id: the bytes must match exactly
        assert line == expected
    else:
        assert _without_random_id(line) == _without_random_id(expected)
        assert len(line) == len(expected)
    assert line.isascii() and "\n" not in line


def test_sort_events_lines_and_rejections():
    events = [tracker_event(), {"eventName": "page_view"}, snake_event(), "junk"]
    batch = records.sort_events(events, CONTEXT)
    assert [r["index"] for r in batch.rejected] == [1, 3]
    assert [json.loads(line)["_ingest"].get("client_event_id") for line in batch.valid] == [
        "0b6f6c1e-2f7e-4b8a-9a4b-5d2a8e1f3c7d", "evt-000123"]
    stored = [json.loads(line) for line in join_lines(batch.valid, False).decode().splitlines()]
    assert [{k: v for k, v in r.items() if k != "_ingest"} for r in stored] == [events[0], events[2]]
    assert join_lines(batch.valid, False) == encode_lines(
        [records.valid_record(e, contract.validate(e), CONTEXT) for e in (events[0], events[2])], False)


def test_settings_are_cached_until_a_variable_changes(monkeypatch):
    monkeypatch.setenv("RAW_BUCKET_NAME", "bucket-a")
    monkeypatch.delenv("MAX_EVENTS_PER_REQUEST", raising=False)
    first = ingest_settings.current()
    assert ingest_settings.current() is first
    monkeypatch.setenv("MAX_EVENTS_PER_REQUEST", "7")
    assert ingest_settings.current().max_events == 7
    monkeypatch.setenv("RAW_BUCKET_NAME", "bucket-b")
    assert ingest_settings.current().bucket == "bucket-b"


def test_the_cache_key_covers_every_variable_settings_read():
    read = set()

    class Recording(dict):
        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

    ingest_settings.Settings.from_env(Recording(RAW_BUCKET_NAME="b"))
    assert read == set(ingest_settings.ENV_NAMES)


json_values = st.recursive(
    json_leaf | st.floats() | st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_record_encoder_matches_the_json_encoder(value):
    encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    try:
        reference = encoder.encode(value)
    except ValueError:
        # NaN and infinities are not JSON: raw objects never hold them (the ingest refuses them).
        with pytest.raises(ValueError):
            encode_record(value)
        return
    assert encode_record(value) == reference
    assert encode_record({"event": value}) == '{"event":' + reference + "}"
