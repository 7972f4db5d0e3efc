"""Checkout steps, cart removals and abandoned cart value, per session and per day, against
figures worked out by hand, through the real ETL on a real warehouse."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from etl.pipeline import run

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import LAPTOP, MONDAY, PHONE, WINDOW, ev, sent
from tests.support.raw import put_records


def steps(client, *names, start=MONDAY, **extra):
    at = start
    out = []
    for name in names:
        at += timedelta(seconds=20)
        out.append(ev(name, at, "/checkout", clientId=client, **extra.get(name, {})))
    return out


def test_checkout_steps_carts_and_removals_by_hand(raw_s3, warehouse):
    paid = {"checkout_complete": {"transactionId": "T1", "value": 120, "currency": "EUR"}}
    events = [
        # k1: every step in order, and buys: step 4
        *steps("k1", "begin_checkout", "add_shipping_info", "add_payment_info", "checkout_complete", **paid),
        # k2: gives shipping details and leaves: step 2
        *steps("k2", "begin_checkout", "add_shipping_info"),
        # k3: payment without shipping (a tracker that skips a step): only step 1 counts
        *steps("k3", "begin_checkout", "add_payment_info"),
        # k4: never starts checkout: step 0
        *steps("k4", "page_view"),
        # k5: two laptops in the cart (price 100), one phone (49.50) added then removed, leaves
        ev("add_to_cart", MONDAY, "/p/sku-1", clientId="k5", product=LAPTOP, quantity=2),
        ev("add_to_cart", MONDAY + timedelta(seconds=10), "/p/sku-2", clientId="k5", product=PHONE),
        ev("remove_from_cart", MONDAY + timedelta(seconds=20), "/cart", clientId="k5", product=PHONE),
        # k6: puts a phone in the cart and buys it: a cart, not abandoned
        ev("add_to_cart", MONDAY, "/p/sku-2", clientId="k6", product=PHONE),
        *steps("k6", "begin_checkout", "add_shipping_info", "add_payment_info", "checkout_complete",
               start=MONDAY + timedelta(seconds=5),
               checkout_complete={"transactionId": "T6", "value": "49.50", "currency": "EUR"}),
    ]
    received = MONDAY + timedelta(hours=1)
    put_records(raw_s3, BUCKET, sent(events, received), received)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        sessions = conn.run("SELECT client_id, checkout_step, cart_removals, cart_value, has_cart, cart_abandoned"
                            " FROM clickstream_sessions ORDER BY client_id")
        funnel = conn.run("SELECT sum(begin_checkout_sessions), sum(shipping_sessions), sum(payment_sessions),"
                          " sum(purchase_sessions), sum(cart_sessions), sum(abandoned_cart_sessions),"
                          " sum(cart_removals), sum(abandoned_cart_value) FROM agg_daily_funnel")
    assert sessions == [
        ["k1", 4, 0, Decimal("0.0000"), False, False],
        ["k2", 2, 0, Decimal("0.0000"), False, False],
        ["k3", 1, 0, Decimal("0.0000"), False, False],
        ["k4", 0, 0, Decimal("0.0000"), False, False],
        ["k5", 0, 1, Decimal("200.0000"), True, True],
        ["k6", 4, 0, Decimal("49.5000"), True, False],
    ]
    # begin_checkout sessions: k1, k2, k3, k6; shipping k1, k2, k6; payment k1, k6; purchase k1, k6
    assert funnel == [[4, 3, 2, 2, 2, 1, 1, Decimal("200.0000")]]
