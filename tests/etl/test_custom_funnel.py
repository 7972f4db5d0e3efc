"""Custom funnels: the per-session event sequence the ETL keeps on clickstream_sessions, and the
dashboards' funnel over it (dw_custom_funnel, sql/dw/history/0038), against figures worked out
by hand, through the real ETL on a real warehouse."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from clickstream_common import contract
from etl.pipeline import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import MONDAY, WINDOW, ev, sent
from tests.support.raw import put_records

STEPS = ["view_item", "add_to_cart", "purchase"]
DAY = MONDAY.date()


def at(seconds: int):
    return MONDAY + timedelta(seconds=seconds)


def scenario():
    """Six visitors (client ids), each a session but d, who comes back two hours later."""
    first, second = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    return [
        # a: every step in order, a custom event in between
        ev("page_view", at(0), "/", clientId="a"),
        ev("newsletter_signup", at(10), "/", clientId="a"),
        ev("view_item", at(60), "/p/1", clientId="a"),
        ev("add_to_cart", at(120), "/p/1", clientId="a"),
        ev("purchase", at(300), "/done", clientId="a"),
        # b: buys before adding to the cart; a click at the purchase's second, sorted by event id
        ev("view_item", at(0), "/p/1", clientId="b"),
        ev("purchase", at(100), "/done", clientId="b", eventId=second),
        ev("click", at(100), "/done", clientId="b", eventId=first),
        ev("add_to_cart", at(200), "/p/1", clientId="b"),
        # c: slow: the cart after 1000 s, the purchase after 1200 s
        ev("view_item", at(0), "/p/1", clientId="c"),
        ev("add_to_cart", at(1000), "/p/1", clientId="c"),
        ev("purchase", at(1200), "/done", clientId="c"),
        # d: views and adds to the cart, comes back 2 h later (a new session) and buys
        ev("view_item", at(0), "/p/1", clientId="d"),
        ev("add_to_cart", at(60), "/p/1", clientId="d"),
        ev("purchase", at(7200), "/done", clientId="d"),
        # e: never views a product
        ev("page_view", at(0), "/", clientId="e"),
        # f: adds to the cart before viewing: the funnel starts at the view (30 s)
        ev("add_to_cart", at(0), "/p/1", clientId="f"),
        ev("view_item", at(30), "/p/1", clientId="f"),
        ev("add_to_cart", at(60), "/p/1", clientId="f"),
        ev("purchase", at(90), "/done", clientId="f"),
    ]


@pytest.fixture
def loaded(raw_s3, warehouse):
    received = at(3 * 3600)
    put_records(raw_s3, BUCKET, sent(scenario(), received), received)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"
    return warehouse


def funnel(conn, any_order=False, window=86400, by_visitor=False, steps=STEPS):
    return conn.run("SELECT step, event_type, units, median_s, p75_s, p90_s FROM dw_custom_funnel("
                    "CAST(:d AS date), CAST(:d AS date), '{}', '{}', '{}', '{}', false, CAST(:steps AS text[]),"
                    " CAST(:any AS boolean), CAST(:w AS int), CAST(:v AS boolean))",
                    d=DAY, steps=steps, any=any_order, w=window, v=by_visitor)


def test_event_codes_are_the_contracts_canonical_events_in_order(warehouse):
    with connected(warehouse) as conn:
        table = [r[0] for r in conn.run("SELECT event_type FROM clickstream_event_types ORDER BY code")]
        codes = [r[0] for r in conn.run("SELECT code FROM clickstream_event_types ORDER BY code")]
    assert table == list(contract.canonical_events())
    assert codes == list(range(1, len(table) + 1))


def test_sessions_keep_their_event_sequence(loaded):
    with connected(loaded) as conn:
        rows = conn.run("SELECT client_id, event_codes, event_offsets FROM clickstream_sessions"
                        " ORDER BY client_id, session_start")
    # page_view 1, view_item 4, add_to_cart 5, purchase 11, click 16, a custom event 0
    assert rows == [
        ["a", [1, 0, 4, 5, 11], [0, 10, 60, 120, 300]],
        ["b", [4, 16, 11, 5], [0, 100, 100, 200]],
        ["c", [4, 5, 11], [0, 1000, 1200]],
        ["d", [4, 5], [0, 60]],
        ["d", [11], [0]],
        ["e", [1], [0]],
        ["f", [5, 4, 5, 11], [0, 30, 60, 90]],
    ]


def test_sessions_in_order(loaded):
    with connected(loaded) as conn:
        rows = funnel(conn)
    # step 1: a, b, c, d's first session, f. Add to cart after the view: a 60 s, b 200, c 1000,
    # d 60, f 30 (median 60; p75 200; p90 200 + 0.6 * 800). Purchase after that cart: a 240,
    # c 1200, f 60 (b bought before its cart, d in another session).
    assert rows == [
        [1, "view_item", 5, None, None, None],
        [2, "add_to_cart", 5, 60.0, 200.0, 680.0],
        [3, "purchase", 3, 240.0, 720.0, 1008.0],
    ]


def test_a_window_cuts_a_slow_conversion(loaded):
    with connected(loaded) as conn:
        rows = funnel(conn, window=600)
    # c's cart came 1000 s after its view: c stops at step 1.
    assert [r[2] for r in rows] == [5, 4, 2]
    assert rows[2][3] == 150.0  # a 240 s, f 60 s


def test_sessions_in_any_order(loaded):
    with connected(loaded) as conn:
        rows = funnel(conn, any_order=True)
    # b counts now: its purchase (100 s) and cart (200 s) both follow the view: done at 200 s.
    assert [r[2] for r in rows] == [5, 5, 4]
    assert rows[2][3] == 220.0  # 60, 200, 240, 1200


def test_visitors_convert_across_sessions(loaded):
    with connected(loaded) as conn:
        day = funnel(conn, by_visitor=True)
        hour = funnel(conn, by_visitor=True, window=3600)
    # d bought in its second session, 7200 s after its view.
    assert [r[2] for r in day] == [5, 5, 4]
    assert day[2][3] == 720.0  # 60, 240, 1200, 7200
    assert [r[2] for r in hour] == [5, 5, 3]


def test_steps_are_checked(loaded):
    with connected(loaded) as conn:
        for steps in (["view_item", "view_item"], ["view_item", "no_such_event"], ["click"] * 7):
            with pytest.raises(Exception, match="custom funnel"):
                funnel(conn, steps=steps)


# -- The definition, as a property over random sequences ----------------------------------------

CODES = {"page_view": 1, "view_item": 4, "add_to_cart": 5, "purchase": 11, "click": 16}
START = datetime(2026, 11, 2, tzinfo=UTC)


def percentile_cont(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    return v[lo] + (pos - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def reference(units, steps, any_order, window):
    """The documented definition, step by step: (units reaching each step, [median, p75, p90]
    seconds from step 1 to each step but the first)."""
    codes = [CODES[s] for s in steps]
    reached = [0] * len(steps)
    times: list[list[int]] = [[] for _ in steps]
    for seq, offs in units:
        if codes[0] not in seq:
            continue
        p1 = seq.index(codes[0])
        reached[0] += 1
        pos, worst = p1, 0
        for k in range(1, len(codes)):
            after = pos if not any_order else p1
            nxt = next((i for i in range(after + 1, len(seq)) if seq[i] == codes[k]), None)
            if nxt is None or offs[nxt] - offs[p1] > window:
                break
            worst = max(worst, offs[nxt] - offs[p1])
            reached[k] += 1
            times[k].append(worst)
            pos = nxt
    quantiles = [[percentile_cont(t, q) for q in (0.5, 0.75, 0.9)] for t in times[1:]]
    return reached, quantiles


session_strategy = st.tuples(
    st.integers(0, 3),                                   # visitor
    st.integers(0, 2 * 86400 - 1),                       # start, seconds into the two days
    st.lists(st.tuples(st.sampled_from([0, *CODES.values()]), st.integers(0, 900)), min_size=1, max_size=8),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions=st.lists(session_strategy, min_size=1, max_size=12),
       steps=st.lists(st.sampled_from(sorted(CODES)), min_size=2, max_size=6, unique=True),
       window=st.sampled_from([60, 600, 3600, 86400]))
def test_the_funnel_follows_its_definition(warehouse, sessions, steps, window):
    rows, by_session, by_visitor = [], [], {}
    for n, (visitor, start, events) in enumerate(sessions):
        codes, offsets, at = [], [], 0
        for code, gap in events:
            at += gap if codes else 0
            codes.append(code)
            offsets.append(at)
        started = START + timedelta(seconds=start)
        rows.append((f"k{n:02d}", f"c:v{visitor}", started, codes, offsets))
        by_session.append((codes, offsets))
        by_visitor.setdefault(f"c:v{visitor}", []).append((started, f"k{n:02d}", codes, offsets))
    # A visitor's events in time order (then session start, session, position).
    visitors = []
    for parts in by_visitor.values():
        merged = sorted((int((started - START).total_seconds()) + o, started, key, i, c)
                        for started, key, codes, offsets in parts
                        for i, (c, o) in enumerate(zip(codes, offsets, strict=True)))
        visitors.append(([m[4] for m in merged], [m[0] for m in merged]))
    with connected(warehouse) as conn:
        conn.run("DELETE FROM clickstream_sessions")
        for key, person, started, codes, offsets in rows:
            conn.run("INSERT INTO clickstream_sessions (session_key, session_group, person_key, login_state,"
                     " session_start, session_end, session_date, duration_s, event_count, page_view_count,"
                     " channel, device_type, is_bot, is_bounce, is_engaged, funnel_stage, reached_view_item,"
                     " reached_add_to_cart, reached_begin_checkout, reached_purchase, purchases, revenue,"
                     " is_first_visit, etl_run_id, event_codes, event_offsets)"
                     " VALUES (:k, :k, :p, 'anonymous', :s, :s, CAST(:d AS date), 0, 1, 1, 'direct', 'desktop',"
                     " false, false, true, 0, false, false, false, false, 0, 0, false, 1,"
                     " CAST(:c AS smallint[]), CAST(:o AS int[]))",
                     k=key, p=person, s=started, d=started.date(), c=codes, o=offsets)
        counts = {}
        for any_order in (False, True):
            for by_visitor_unit, units in ((False, by_session), (True, visitors)):
                got = conn.run(
                    "SELECT units, median_s, p75_s, p90_s FROM dw_custom_funnel(CAST(:a AS date), CAST(:b AS date),"
                    " '{}', '{}', '{}', '{}', false, CAST(:steps AS text[]), CAST(:any AS boolean), CAST(:w AS int),"
                    " CAST(:v AS boolean))", a=START.date(), b=START.date() + timedelta(days=1), steps=steps,
                    any=any_order, w=window, v=by_visitor_unit)
                reached, quantiles = reference(units, steps, any_order, window)
                counts[any_order, by_visitor_unit] = [r[0] for r in got]
                assert counts[any_order, by_visitor_unit] == reached
                for row, expected in zip(got[1:], quantiles, strict=True):
                    if expected[0] is None:
                        assert row[1:] == [None, None, None]
                    else:
                        assert row[1:] == pytest.approx(expected)
    for (any_order, by_visitor_unit), reached in counts.items():
        # Each step is reached by no more units than the one before; any order by no fewer
        # than in order.
        assert all(a >= b for a, b in itertools.pairwise(reached))
        if any_order:
            assert all(a >= b for a, b in zip(reached, counts[False, by_visitor_unit], strict=True))
