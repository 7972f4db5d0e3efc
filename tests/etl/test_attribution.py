"""Revenue credited to the sessions that led to it (agg_daily_attribution), checked against
figures worked out by hand, through the real ETL on a real warehouse."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from etl.pipeline import RunRequest, run

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import MONDAY, ev, sent
from tests.support.raw import put_records, snapshot

DAY0 = MONDAY + timedelta(days=30)  # in the past: events from the future are refused
WINDOW = RunRequest(trigger="manual", since=DAY0 - timedelta(days=36), until=DAY0 + timedelta(days=2))
SPRING = "?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
CPC = "?utm_source=google&utm_medium=cpc&utm_campaign=brand"


def deliver(raw_s3, events, at):
    put_records(raw_s3, BUCKET, sent(events, at + timedelta(seconds=5)), at + timedelta(seconds=5))


def visitor_a(raw_s3, *, skip_email=False):
    """Four sessions of client ca; the last buys for 100. The first is 35 days before it."""
    deliver(raw_s3, [ev("page_view", DAY0 - timedelta(days=35), "/?utm_source=old&utm_medium=cpc", clientId="ca")],
            DAY0 - timedelta(days=35))
    deliver(raw_s3, [ev("page_view", DAY0 - timedelta(days=20), "/", clientId="ca",
                        referrer="https://www.google.com/")], DAY0 - timedelta(days=20))
    if not skip_email:
        deliver(raw_s3, [ev("page_view", DAY0 - timedelta(days=10), "/" + SPRING, clientId="ca")],
                DAY0 - timedelta(days=10))
    deliver(raw_s3, [ev("page_view", DAY0, "/", clientId="ca"),
                     ev("checkout_complete", DAY0 + timedelta(minutes=3), "/checkout/done", clientId="ca",
                        transactionId="TA", value=100, currency="EUR")], DAY0)


def others(raw_s3):
    # b: one paid session that buys for 50
    deliver(raw_s3, [ev("page_view", DAY0, "/" + CPC, clientId="cb"),
                     ev("checkout_complete", DAY0 + timedelta(minutes=2), "/checkout/done", clientId="cb",
                        transactionId="TB", value=50, currency="EUR")], DAY0)
    # c: an anonymous social visit, then the same browser logs in and buys for 30
    deliver(raw_s3, [ev("page_view", DAY0 - timedelta(days=5), "/", clientId="cc", referrer="https://t.co/x")],
            DAY0 - timedelta(days=5))
    deliver(raw_s3, [ev("login_success", DAY0 + timedelta(hours=2), "/login", clientId="cc", userId="uc",
                        userLoginState="logged_in"),
                     ev("checkout_complete", DAY0 + timedelta(hours=2, minutes=1), "/checkout/done", clientId="cc",
                        userId="uc", userLoginState="logged_in", transactionId="TC", value=30, currency="EUR")],
            DAY0 + timedelta(hours=2))


def credits(conn):
    rows = conn.run("SELECT model, channel, utm_campaign, sum(conversions), sum(orders), sum(revenue)"
                    " FROM agg_daily_attribution WHERE conversion_date = :d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                    d=DAY0.date())
    return {(m, ch, camp): (conv, orders, rev) for m, ch, camp, conv, orders, rev in rows}


def D(x):
    return Decimal(x).quantize(Decimal("0.000001"))


EXPECTED = {
    # a: touchpoints organic (day -20), email/spring (day -10), direct (day 0); day -35 is out
    # of the 30-day lookback. b: paid alone. c: social (day -5), then direct with the login.
    ("first_touch", "organic_search", "(none)"): (D(1), D(1), D(100)),
    ("first_touch", "paid_search", "brand"): (D(1), D(1), D(50)),
    ("first_touch", "social", "(none)"): (D(1), D(1), D(30)),
    ("last_touch", "direct", "(none)"): (D(2), D(2), D(130)),
    ("last_touch", "paid_search", "brand"): (D(1), D(1), D(50)),
    ("linear", "direct", "(none)"): (D("0.833333"), D("0.833333"), D("48.333333")),  # a 1/3 + c 1/2
    ("linear", "email", "spring"): (D("0.333333"), D("0.333333"), D("33.333333")),
    ("linear", "organic_search", "(none)"): (D("0.333333"), D("0.333333"), D("33.333333")),
    ("linear", "paid_search", "brand"): (D(1), D(1), D(50)),
    ("linear", "social", "(none)"): (D("0.5"), D("0.5"), D(15)),
    ("position_based", "direct", "(none)"): (D("0.9"), D("0.9"), D(55)),  # a 40 % + c 50 %
    ("position_based", "email", "spring"): (D("0.2"), D("0.2"), D(20)),
    ("position_based", "organic_search", "(none)"): (D("0.4"), D("0.4"), D(40)),
    ("position_based", "paid_search", "brand"): (D(1), D(1), D(50)),
    ("position_based", "social", "(none)"): (D("0.5"), D("0.5"), D(15)),
}


def test_each_model_shares_each_conversion_as_worked_out_by_hand(raw_s3, warehouse):
    visitor_a(raw_s3)
    others(raw_s3)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        assert credits(conn) == EXPECTED
        # every model hands out each conversion exactly once, and its revenue in full (to the
        # rounding of each row's credit to 6 decimals)
        totals = conn.run("SELECT model, round(sum(conversions), 4), round(sum(revenue), 4)"
                          " FROM agg_daily_attribution GROUP BY 1")
        assert {m: (c, r) for m, c, r in totals} == {m: (Decimal("3.0000"), Decimal("180.0000")) for m in
                                                    ("first_touch", "last_touch", "linear", "position_based")}
        assert conn.run("SELECT count(*) FROM etl_pending_attribution_days") == [[0]]


def test_a_touchpoint_that_arrives_late_moves_the_credit(raw_s3, new_warehouse):
    # The email session reaches the warehouse after the purchase was attributed without it.
    warehouse = new_warehouse()
    visitor_a(raw_s3, skip_email=True)
    others(raw_s3)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        assert credits(conn)[("position_based", "organic_search", "(none)")] == (D("0.5"), D("0.5"), D(50))
    late = DAY0 - timedelta(days=10)
    received = late + timedelta(days=6)  # within the ETL's 7-day late limit
    # sent late by a client that was offline, and stored after the purchase was attributed
    put_records(raw_s3, BUCKET, sent([ev("page_view", late, "/" + SPRING, clientId="ca")], received), received)
    assert run(warehouse, RunRequest(trigger="manual", since=WINDOW.since, until=WINDOW.until, reprocess=False),
               s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        incremental = snapshot(conn, ("attribution",))
    # the same as one warehouse loaded with everything at once
    fresh = new_warehouse()
    assert run(fresh, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(fresh) as conn:
        assert snapshot(conn, ("attribution",)) == incremental
        assert credits(conn) == EXPECTED


def test_a_shorter_lookback_leaves_older_sessions_out(raw_s3, warehouse):
    visitor_a(raw_s3)
    settings = dataclasses.replace(warehouse, attribution_lookback_days=15)
    assert run(settings, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(settings) as conn:
        got = credits(conn)
    # only the email session (day -10) and the purchase session are within 15 days
    assert got[("first_touch", "email", "spring")] == (D(1), D(1), D(100))
    assert got[("linear", "direct", "(none)")] == (D("0.5"), D("0.5"), D(50))
    assert ("linear", "organic_search", "(none)") not in got
