"""New and returning visitors, visitors' purchases and new customers, against figures worked
out by hand, through the real ETL on a real warehouse; and a late-arriving earlier session
turning a first visit into a returning one."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from etl.pipeline import run

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import MONDAY, WINDOW, ev, sent
from tests.support.raw import put_records, snapshot

pytestmark = pytest.mark.postgres

M = MONDAY  # Monday 2026-11-02 10:00 UTC
SUN, MON, TUE, WED, THU = (date(2026, 11, d) for d in (1, 2, 3, 4, 5))


def bought(at, client, order, value):
    return [ev("page_view", at, "/", clientId=client),
            ev("checkout_complete", at + timedelta(minutes=1), "/checkout/done", clientId=client,
               transactionId=order, value=value, currency="EUR")]


def first_run():
    """(events, received) per object: A buys on Monday and again on Wednesday; B browses on
    Monday morning and buys that evening; C only browses, on Tuesday."""
    return [
        ([ev("page_view", M, "/", clientId="a"), ev("product_view", M + timedelta(minutes=1), "/p/sku-1", clientId="a"),
          ev("checkout_complete", M + timedelta(minutes=2), "/checkout/done", clientId="a", transactionId="A1",
             value=100, currency="EUR")], M + timedelta(minutes=3)),
        ([ev("page_view", M + timedelta(hours=1), "/", clientId="b")], M + timedelta(hours=1, minutes=1)),
        (bought(M + timedelta(hours=7), "b", "B1", 30), M + timedelta(hours=7, minutes=2)),
        ([ev("page_view", M + timedelta(hours=23), "/", clientId="c")], M + timedelta(hours=23, minutes=1)),
        (bought(M + timedelta(days=2), "a", "A2", 50), M + timedelta(days=2, minutes=2)),
    ]


# B's phone had been offline: a visit on Sunday 08:00, sent on Wednesday.
LATE = ([ev("page_view", M - timedelta(days=1, hours=2), "/", clientId="b")], M + timedelta(days=2, hours=2))
# B buys again on Thursday: only a new session after B's first one (the visitors step's update).
AGAIN = (bought(M + timedelta(days=3), "b", "B2", 20), M + timedelta(days=3, minutes=2))


def load(raw_s3, warehouse, objects):
    for events, received in objects:
        put_records(raw_s3, BUCKET, sent(events, received), received)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"


FUNNEL = ("SELECT session_date, sum(sessions)::int, sum(new_sessions)::int, sum(purchase_sessions)::int,"
          " sum(new_purchase_sessions)::int, sum(revenue), sum(new_revenue)"
          " FROM agg_daily_funnel GROUP BY 1 ORDER BY 1")
VISITORS = ("SELECT person_key, first_seen_at, first_purchase_at, orders, purchase_sessions, revenue"
            " FROM clickstream_visitors ORDER BY 1")
CUSTOMERS = ("SELECT first_purchase_date, first_channel, first_device_type, is_bot, time_bucket, customers,"
             " repeat_customers, orders, revenue FROM agg_daily_new_customers ORDER BY 1, 5")


def test_new_returning_and_customers_by_hand(raw_s3, new_warehouse):
    warehouse = new_warehouse()
    load(raw_s3, warehouse, first_run())
    with connected(warehouse) as conn:
        funnel, visitors, customers = conn.run(FUNNEL), conn.run(VISITORS), conn.run(CUSTOMERS)
        first = conn.run("SELECT client_id, session_date FROM clickstream_sessions WHERE is_first_visit ORDER BY 1")
    # Monday: A's first visit (bought 100), B's first (browsed), B's second (bought 30).
    assert funnel == [
        [MON, 3, 2, 2, 1, Decimal("130.0000"), Decimal("100.0000")],
        [TUE, 1, 1, 0, 0, Decimal("0.0000"), Decimal("0.0000")],
        [WED, 1, 0, 1, 0, Decimal("50.0000"), Decimal("0.0000")],
    ]
    assert first == [["a", MON], ["b", MON], ["c", TUE]]
    assert [[v[0], None if v[2] is None else v[2] - v[1], v[3], v[4], v[5]] for v in visitors] == [
        ["c:a", timedelta(minutes=2), 2, 2, Decimal("150.0000")],
        ["c:b", timedelta(hours=6, minutes=1), 1, 1, Decimal("30.0000")],
        ["c:c", None, 0, 0, Decimal("0.0000")],
    ]
    # Both became customers on Monday: A within 5 minutes (bucket 0), ordered twice so far;
    # B after 6 h 1 min (bucket 4: 6 h to 1 day), once.
    assert customers == [
        [MON, "direct", "desktop", False, 0, 1, 1, 2, Decimal("150.0000")],
        [MON, "direct", "desktop", False, 4, 1, 0, 1, Decimal("30.0000")],
    ]

    # The earlier visit of B arrives: B's Monday morning session is no longer a first visit,
    # and B's first purchase came 33 h 1 min after B was first seen (bucket 5: 1 to 3 days).
    load(raw_s3, warehouse, [LATE])
    with connected(warehouse) as conn:
        funnel, customers = conn.run(FUNNEL), conn.run(CUSTOMERS)
        first = conn.run("SELECT client_id, session_date FROM clickstream_sessions WHERE is_first_visit ORDER BY 1")
    assert funnel == [
        [SUN, 1, 1, 0, 0, Decimal("0.0000"), Decimal("0.0000")],
        [MON, 3, 1, 2, 1, Decimal("130.0000"), Decimal("100.0000")],
        [TUE, 1, 1, 0, 0, Decimal("0.0000"), Decimal("0.0000")],
        [WED, 1, 0, 1, 0, Decimal("50.0000"), Decimal("0.0000")],
    ]
    assert first == [["a", MON], ["b", SUN], ["c", TUE]]
    assert customers == [
        [MON, "direct", "desktop", False, 0, 1, 1, 2, Decimal("150.0000")],
        [MON, "direct", "desktop", False, 5, 1, 0, 1, Decimal("30.0000")],
    ]

    # B's second order on Thursday makes B a repeat customer, still counted on Monday.
    load(raw_s3, warehouse, [AGAIN])
    with connected(warehouse) as conn:
        customers = conn.run(CUSTOMERS)
        b = conn.run("SELECT first_purchase_at - first_seen_at, orders, purchase_sessions, revenue, sessions"
                     " FROM clickstream_visitors WHERE person_key = 'c:b'")
        incremental = snapshot(conn, ("sessions", "visitors", "funnel", "new_customers"))
    assert b == [[timedelta(hours=33, minutes=1), 2, 2, Decimal("50.0000"), 4]]
    assert customers == [
        [MON, "direct", "desktop", False, 0, 1, 1, 2, Decimal("150.0000")],
        [MON, "direct", "desktop", False, 5, 1, 1, 2, Decimal("50.0000")],
    ]

    # The same objects in one run give the same tables.
    at_once = new_warehouse()
    load(raw_s3, at_once, [])
    with connected(at_once) as conn:
        assert snapshot(conn, ("sessions", "visitors", "funnel", "new_customers")) == incremental


def test_first_purchase_of_overlapping_sessions_on_two_devices(raw_s3, warehouse):
    # u9 is logged in on a laptop from 10:00 (buys at 10:50) and on a phone from 10:05 (buys at
    # 10:10): one visitor, whose first purchase is the phone's, 10 minutes after the first visit.
    user = {"userId": "u9", "userLoginState": "logged_in"}
    laptop = [ev("login_success", M, "/login", clientId="p1", **user),
              ev("page_view", M + timedelta(minutes=20), "/", clientId="p1", **user),
              ev("checkout_complete", M + timedelta(minutes=50), "/checkout/done", clientId="p1", transactionId="L1",
                 value=70, currency="EUR", **user)]
    phone = [ev("page_view", M + timedelta(minutes=5), "/", clientId="p2", **user),
             ev("checkout_complete", M + timedelta(minutes=10), "/checkout/done", clientId="p2", transactionId="P1",
                value=20, currency="EUR", **user)]
    load(raw_s3, warehouse, [(laptop, M + timedelta(minutes=51)), (phone, M + timedelta(minutes=11))])
    with connected(warehouse) as conn:
        visitor = conn.run("SELECT person_key, first_purchase_at - first_seen_at, orders, purchase_sessions, revenue"
                           " FROM clickstream_visitors")
        customers = conn.run(CUSTOMERS)
        funnel = conn.run(FUNNEL)
    assert visitor == [["u:u9", timedelta(minutes=10), 2, 2, Decimal("90.0000")]]
    # bucket 1: 5 to 15 minutes; two orders, so a repeat customer
    assert customers == [[MON, "direct", "desktop", False, 1, 1, 1, 2, Decimal("90.0000")]]
    # the laptop's session came first: the new visitor's, with its 70
    assert funnel == [[MON, 2, 1, 2, 1, Decimal("90.0000"), Decimal("70.0000")]]
