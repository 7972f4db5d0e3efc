"""The throughput paths of the load: parse worker processes, COPY text, day-level listings.

Each must give exactly what the plain path gives: the same COPY text as parsing in-process,
the same tables as a run without workers, the same objects as listing hour by hour.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from etl import source
from etl.load import epoch_micros_sql
from etl.normalize import (
    EPOCH_MICROS_COLUMNS,
    EVENT_COLUMNS,
    BadValue,
    build_row,
    copy_line,
    decode_lines,
    parse_items,
    parse_object,
)
from etl.parse_pool import ParsePool, ParseWorkerError
from etl.pipeline import run
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest.storage import encode_lines

from tests.etl.conftest import BUCKET, connected
from tests.etl.streams import START, WINDOW, seeded_stream
from tests.support.raw import iso, record, snapshot

LATE = timedelta(days=7)


def awkward_records():
    """Values COPY text must escape, one PostgreSQL cannot store, and lines that are not events."""
    at = START + timedelta(hours=1)
    base = {"eventName": "page_view", "clientId": "c-odd", "clientTimestamp": iso(at), "sentAt": iso(at)}
    return [
        record({**base, "eventId": "e-tab", "pageUrl": "https://shop.example.com/a?utm_source=x%09y",
                "pageTitle": "tab\there, newline\nthere, return\r, backslash \\ and \\N"}, at),
        record({**base, "eventId": "e-nul", "pageUrl": "https://shop.example.com/b", "pageTitle": "nul\x00byte"}, at),
        record({**base, "eventId": "e-plain", "pageUrl": "https://shop.example.com/c", "pageTitle": "plain"}, at),
    ]


def raw_objects() -> list[tuple[str, bytes]]:
    """A fixed stream (duplicates and late copies included) in objects of 7 lines, plus odd ones."""
    deliveries = seeded_stream(11)
    objects = []
    for i in range(0, len(deliveries), 7):
        chunk = deliveries[i:i + 7]
        received = max(d.received for d in chunk)
        objects.append((f"events/{received:%Y/%m/%d/%H}/{i:06d}.ndjson", encode_lines([d.record for d in chunk],
                                                                                     False)))
    at = START + timedelta(hours=1)
    odd = encode_lines(awkward_records(), False) + b"not json\n[1, 2]\n"
    objects.append((f"events/{at:%Y/%m/%d/%H}/zz-odd.ndjson", odd))
    return objects


def test_worker_processes_give_the_in_process_copy_text():
    items = [(key, None, body) for key, body in raw_objects()]
    items.append(("events/2026/10/05/09/broken.ndjson.gz", None, OSError("Not a gzipped file")))
    expected, _ = parse_items(LATE, 7, items)
    pool = ParsePool(2)
    try:
        pool.JOB_BYTES = 2_000  # several jobs, shared between both workers
        got, cpu = pool.parse(LATE, 7, items)
        again, _ = pool.parse(LATE, 7, items)  # workers serve job after job
    finally:
        pool.close()
    assert got == expected == again
    assert cpu > 0
    odd = got[-2]
    assert odd.rows == 2 and [(r.line_no, r.code) for r in odd.rejected] == [
        (2, "bad_value"), (4, "not_json"), (5, "not_an_object")]
    assert "NUL" in odd.rejected[0].reason and odd.rejected[0].field == "page_title"
    assert got[-1].rejected[0].code == "unreadable_object"


def test_a_worker_error_is_raised_with_its_message():
    items = [(key, None, body) for key, body in raw_objects()[:1]]
    pool = ParsePool(1)
    try:
        with pytest.raises(ParseWorkerError, match="failed: TypeError"):
            pool.parse(None, 7, items)  # no late limit to compare with: a bug, not a bad event
        got, _ = pool.parse(LATE, 7, items)  # and the worker goes on serving
        assert got == parse_items(LATE, 7, items)[0]
    finally:
        pool.close()


def _decode(line: str) -> list[str | None]:
    """COPY text -> field values, as PostgreSQL reads them."""
    out = []
    for field in line.split("\t"):
        if field == "\\N":
            out.append(None)
            continue
        text, i = [], 0
        while i < len(field):
            if field[i] == "\\":
                text.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[field[i + 1]])
                i += 2
            else:
                text.append(field[i])
                i += 1
        out.append("".join(text))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(exclude_characters="\x00")),
                          st.sampled_from(["\\", "\\N", "\t", "a\nb", "\r\n", "\\t"])),
                min_size=len(EVENT_COLUMNS), max_size=len(EVENT_COLUMNS)))
def test_copy_line_reads_back_as_the_values(values):
    row = tuple(values)
    line = copy_line(row)
    assert "\n" not in line and "\r" not in line
    assert _decode(line) == list(row)


_HOSTILE = st.lists(st.sampled_from(["a", "é", "\t", "\n", "\r", "\\", "\x00", "%", "%09", "%5C", "\u2028", '"', "N",
                                     "/"]), max_size=8).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.just("c-1"), _HOSTILE), st.one_of(st.just("Title"), _HOSTILE),
                          st.one_of(st.just("p/1"), _HOSTILE),
                          st.one_of(st.sampled_from(["x", "%09", "%5C", "a%0Ab", "%00", "%0D"]), _HOSTILE)),
                min_size=1, max_size=6),
       st.sampled_from(["events/k.ndjson", "events/a\tb.ndjson", "events/back\\slash.ndjson"]))
def test_copy_text_skips_the_escape_check_only_where_nothing_needs_escaping(fields, key):
    # parse_object_copy skips copy_line's check for lines without a backslash (and with no "%"
    # in the page URL): its COPY text must be exactly what the checked path writes.
    at = START + timedelta(hours=1)
    records = [record({"eventName": "page_view", "eventId": f"e-{n}", "clientId": client, "pageTitle": title,
                       "pageUrl": f"https://shop.example.com/{path}?utm_source={utm}", "clientTimestamp": iso(at),
                       "sentAt": iso(at)}, at)
               for n, (client, title, path, utm) in enumerate(fields)]
    body = encode_lines(records, False)
    [obj], _ = parse_items(LATE, 7, [(key, None, body)])
    expected, rejected = [], []
    for n, line in enumerate(body.decode().split("\n"), start=1):
        if line.strip():
            try:
                expected.append(copy_line(build_row(json.loads(line), key, n, None, LATE, epoch_micros=True)) + "\t7\n")
            except BadValue:
                rejected.append(n)
    assert obj.data.decode() == "".join(expected)
    assert [r.line_no for r in obj.rejected] == rejected


def test_copy_line_refuses_nul():
    row = ("x",) * (len(EVENT_COLUMNS) - 1) + ("a\x00b",)
    with pytest.raises(BadValue, match="NUL"):
        copy_line(row)


def test_copy_line_formats_like_postgres_expects():
    [row] = parse_object("events/k.ndjson", encode_lines(awkward_records()[2:], False), None, LATE).rows
    fields = copy_line(row).split("\t")
    named = dict(zip(EVENT_COLUMNS, fields, strict=True))
    assert named["event_timestamp"] == row[1].isoformat() and named["is_bot"] == "f"
    assert named["user_id"] == "\\N" and named["raw_line"] == "1"


@pytest.mark.postgres
@settings(max_examples=40, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
                min_size=1, max_size=30))
def test_copy_text_timestamps_read_back_as_the_instants_parsed(pg_server, moments):
    # COPY text carries timestamps as integer microseconds since the epoch, and the staging
    # view turns them back: every instant a client can send must come back to the microsecond.
    records = [record({"eventName": "page_view", "eventId": f"e-{n}", "clientId": "c-ts",
                       "pageUrl": "https://shop.example.com/", "clientTimestamp": iso(m), "sentAt": iso(m)}, m)
               for n, m in enumerate(moments)]
    [obj], _ = parse_items(timedelta(days=4_000_000), 1, [("events/k.ndjson", None, encode_lines(records, False))])
    assert obj.rows == len(moments)
    columns = [EVENT_COLUMNS.index(c) for c in EPOCH_MICROS_COLUMNS]
    micros = [int(line.split("\t")[i]) for line in obj.data.decode().splitlines() for i in columns]
    conn = pg_server.connect()
    try:
        read = conn.run(f"SELECT {epoch_micros_sql('m')} FROM unnest(CAST(:m AS bigint[]))"  # noqa: S608
                        " WITH ORDINALITY AS u(m, i) ORDER BY i", m=micros)
    finally:
        conn.close()
    assert [r[0] for r in read] == [m for m in moments for _ in columns]
    assert (obj.low, obj.high) == (min(moments), max(moments))


def test_a_clock_correction_off_the_calendar_is_a_rejection_not_a_crash():
    at = START + timedelta(hours=1)
    base = {"eventName": "page_view", "clientId": "c-cal", "pageUrl": "https://shop.example.com/"}
    records = [record({**base, "eventId": "e-early", "clientTimestamp": "0001-01-01T00:00:00Z",
                       "sentAt": "9999-12-31T00:00:00Z"}, at),
               record({**base, "eventId": "e-late", "clientTimestamp": "9999-12-31T00:00:00Z",
                       "sentAt": "0001-01-01T00:00:00Z"}, at),
               record({**base, "eventId": "e-old", "clientTimestamp": "0001-01-01T00:00:00Z"},
                      datetime(1, 1, 1, 0, 1, tzinfo=UTC))]
    parsed = parse_object("events/k.ndjson", encode_lines(records, False), None, timedelta(days=365_000))
    assert [(r.code, r.field) for r in parsed.rejected] == [("bad_timestamp", "client_timestamp")] * 2
    assert len(parsed.rows) == 1  # received in year 1, one minute after the event: within the limit


@pytest.mark.postgres
def test_run_with_worker_processes_loads_what_a_run_in_process_loads(raw_s3, new_warehouse):
    for key, body in raw_objects():
        raw_s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    in_process = replace(new_warehouse(), parse_workers=0)
    pooled = replace(new_warehouse(), parse_workers=2, parse_pool_min_bytes=0, batch_objects=3)
    a = run(in_process, WINDOW, s3=raw_s3)
    b = run(pooled, WINDOW, s3=raw_s3)
    assert "parse_start" not in a.phase_ms and "parse_start" in b.phase_ms
    assert (a.status, a.events_loaded, a.events_rejected) == (b.status, b.events_loaded, b.events_rejected)
    assert a.events_rejected == 3  # the NUL, "not json", the array
    with connected(in_process) as x, connected(pooled) as y:
        assert snapshot(x) == snapshot(y)
        title = "SELECT page_title FROM clickstream_events WHERE raw_object_key LIKE '%zz-odd%' ORDER BY raw_line"
        assert x.run(title) == y.run(title) == [
            ["tab\there, newline\nthere, return\r, backslash \\ and \\N"], ["plain"]]
        assert y.run("SELECT utm_source FROM clickstream_events WHERE page_title LIKE 'tab%'") == [["x\ty"]]


def _parse_workers() -> list[int]:
    """Process ids of this process's parse workers."""
    pids = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if b"serve_parse_jobs" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


@pytest.mark.postgres
def test_a_dead_worker_fails_the_run_and_the_next_run_finishes_it(raw_s3, new_warehouse):
    for key, body in raw_objects():
        raw_s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    reference = replace(new_warehouse(), parse_workers=0)
    run(reference, WINDOW, s3=raw_s3)
    settings_ = replace(new_warehouse(), parse_workers=2, parse_pool_min_bytes=0, batch_objects=1)
    killed = []

    def progress(done, total, events):
        if done == 1:
            killed.extend(_parse_workers())
            for pid in killed:
                os.kill(pid, 9)

    with pytest.raises(ParseWorkerError, match="exited"):
        run(settings_, WINDOW, s3=raw_s3, progress=progress)
    assert len(killed) == 2
    with connected(settings_) as conn:
        assert conn.run("SELECT status FROM etl_runs") == [["failed"]]
        assert 0 < conn.run("SELECT count(*) FROM etl_object_ledger")[0][0] < len(raw_objects())
    assert run(settings_, WINDOW, s3=raw_s3).status == "succeeded"
    assert not _parse_workers()
    with connected(reference) as a, connected(settings_) as b:
        assert snapshot(a) == snapshot(b)


def test_day_listings_find_what_hour_listings_find(raw_s3):
    since = datetime(2026, 10, 4, 21, 30, tzinfo=UTC)
    until = datetime(2026, 10, 7, 2, 0, tzinfo=UTC)
    keys = ["events/2026/10/04/20/before.ndjson", "events/2026/10/04/21/a.ndjson", "events/2026/10/05/00/b.ndjson",
            "events/2026/10/05/23/c.ndjson.gz", "events/2026/10/05/stray.ndjson", "events/2026/10/06/12/d.json",
            "events/2026/10/07/01/e.ndjson", "events/2026/10/07/02/after.ndjson", "events/2026/10/06/12/x.txt"]
    for key in keys:
        raw_s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"k": key}).encode())
    assert source.window_prefixes(since, until) == [
        "events/2026/10/04/21/", "events/2026/10/04/22/", "events/2026/10/04/23/", "events/2026/10/05/",
        "events/2026/10/06/", "events/2026/10/07/00/", "events/2026/10/07/01/"]
    by_hour = list(source.list_objects(raw_s3, BUCKET, source.hour_prefixes(since, until)))
    by_day = list(source.list_window(raw_s3, BUCKET, since, until))
    assert by_day == by_hour
    assert [i.key for i in by_day] == [
        "events/2026/10/04/21/a.ndjson", "events/2026/10/05/00/b.ndjson", "events/2026/10/05/23/c.ndjson.gz",
        "events/2026/10/06/12/d.json", "events/2026/10/07/01/e.ndjson"]


def test_lines_end_at_newlines_only():
    # JSON allows U+2028, U+2029 and U+0085 unescaped in strings; splitting there (as
    # str.splitlines does) turned one good event into two "not JSON" rejections.
    at = START + timedelta(hours=1)
    base = {"eventName": "page_view", "clientId": "c-sep", "clientTimestamp": iso(at), "sentAt": iso(at)}
    records = [record({**base, "eventId": f"e-{n}", "pageUrl": "https://shop.example.com/",
                       "pageTitle": f"one{sep}title"}, at) for n, sep in enumerate(["\u2028", "\u2029", "\x85"])]
    body = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
    parsed = parse_object("events/k.ndjson", body, None, LATE)
    assert parsed.rejected == [] and [row[EVENT_COLUMNS.index("page_title")] for row in parsed.rows] == [
        "one\u2028title", "one\u2029title", "one\x85title"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5)
    | st.sampled_from([9007199254740993, 9007199254740992.0, ",", "],[", '"', "}{"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)


def _loads_each(lines: list[str]) -> list | None:
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            return None
    return out if all(type(r) is dict for r in out) else None


# Lines that, read together, read as something none of them is: two or three values on one
# line, a value split over two lines, strings left open, the marker's digits.
_PIECES = ['{"a": 1}', '{"a": 1}, {"b": 2}', '{"a": 1}, {"b": 2}, {"c": 3}', '{"o": [{}', "{}]}",
           '{}]}, {"b": 2}, {"c": 3}', '{"s": "x', 'y"}', "{}, 9007199254740993, {}", '{"e": "9007199254740993"}',
           "[1]", "NaN"]
_LINES = st.lists(st.sampled_from(_PIECES), min_size=2, max_size=4)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_LINES, st.lists(_JSON, min_size=2, max_size=5).map(lambda vs: [json.dumps(v) for v in vs])))
def test_lines_decoded_at_once_are_what_each_line_decodes_to(lines):
    got = decode_lines(lines, "\n".join(lines))
    each = _loads_each(lines)
    if each is not None and "9007199254740993" not in "\n".join(lines):
        assert got == each
    else:
        assert got is None


def test_lines_that_decode_only_together_are_rejected_line_by_line():
    # Together they read as three objects, one per line; alone, none of them is JSON.
    lines = ['{"x": 1}, {"y": 2}', '{"a": [{"b": 1}', '{"c": 1}]}']
    assert json.loads("[" + ",".join(lines) + "]") == [{"x": 1}, {"y": 2}, {"a": [{"b": 1}, {"c": 1}]}]
    assert decode_lines(lines, "\n".join(lines)) is None
    # with an object where the marker between lines would be, and with the marker itself
    for first in ('{"x": 1}, {"y": 2}, {"z": 3}', '{"x": 1}, 9007199254740993, {"y": 2}'):
        assert decode_lines([first, *lines[1:]], "\n".join([first, *lines[1:]])) is None
    parsed = parse_object("events/k.ndjson", "\n".join(lines).encode(), None, LATE)
    assert parsed.rows == [] and [(r.line_no, r.code) for r in parsed.rejected] == [
        (1, "not_json"), (2, "not_json"), (3, "not_json")]
