"""Random but reproducible shopper streams for the property-based ETL tests."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from etl.pipeline import RunRequest
from hypothesis import strategies as st

from tests.support.raw import BOT_UA, DESKTOP_UA, MOBILE_UA, iso, record

START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)  # a Monday
# A manual run window that covers any stream below: clients start within 9 days, a client's
# events are at most 25 h apart (40 at the most per client), and a copy may arrive 3 days late.
WINDOW = RunRequest(trigger="manual", since=START - timedelta(days=1), until=START + timedelta(days=60))
PATHS = {"page_view": "/", "product_view": "/p/{sku}", "add_to_cart_click": "/p/{sku}", "cart_view": "/cart",
         "checkout_start": "/checkout", "checkout_complete": "/checkout/done", "login_success": "/login",
         "remove_from_cart_click": "/cart", "click": "/p/{sku}", "home_view": "/", "search": "/search"}
# Search terms that differ only in case and white space, and one without a term.
TERMS = ("Red shoes", "  red   SHOES", "boots", "")
# Trackers the clients use: the contract itself (records written before dialects, or naming
# it) and the SBW storefront's, whose checkout carries its total in element.dataset.
DIALECTS = (None, "clickstream", "sbw_nextjs")
SKUS = ("sku-1", "sku-2", "sku-3")
AGENTS = (DESKTOP_UA, MOBILE_UA, BOT_UA)
REFERRERS = (None, "https://www.google.com/", "https://t.co/x", "https://blog.example.org/post")


@dataclass(frozen=True)
class Delivery:
    """One copy of an event as it reached the ingest: its record and when it was received."""
    record: dict
    received: datetime


class _Hypothesis:
    def __init__(self, draw):
        self.draw = draw

    def integers(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def sampled_from(self, options):
        return self.draw(st.sampled_from(options))

    def booleans(self):
        return self.draw(st.booleans())


class _Seeded:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def integers(self, lo, hi):
        return self.rng.randint(lo, hi)

    def sampled_from(self, options):
        return self.rng.choice(list(options))

    def booleans(self):
        return self.rng.random() < 0.5


@st.composite
def event_streams(draw, max_events: int = 40) -> list[Delivery]:
    return build_stream(_Hypothesis(draw), max_events)


def seeded_stream(seed: int, clients: int = 4, max_events: int = 60) -> list[Delivery]:
    """A fixed stream for example-based tests (same generator as the property tests)."""
    return build_stream(_Seeded(seed), max_events, clients)


def build_stream(pick, max_events: int, clients: int | None = None) -> list[Delivery]:
    paths = PATHS
    clients = clients or pick.integers(1, 4)
    deliveries = []
    for c in range(clients):
        with_session = pick.booleans()
        agent = pick.sampled_from(AGENTS)
        referrer = pick.sampled_from(REFERRERS)
        dialect = pick.sampled_from(DIALECTS)
        at = START + timedelta(minutes=pick.integers(0, 60 * 24 * 9))
        user = None
        for _ in range(pick.integers(1, max_events // clients)):
            # gaps either side of the 30-minute inactivity cut, now and then a day or more
            at += timedelta(seconds=pick.sampled_from((5, 60, 600, 1790, 1810, 3600, 90000)))
            name = pick.sampled_from(sorted(paths))
            sku = pick.sampled_from(SKUS)
            if name == "login_success":
                user = f"u{c}"
            event = {"eventName": name, "eventId": str(uuid.UUID(int=pick.integers(1, 2**64))),
                     "clientId": f"c{c}", "pageUrl": "https://shop.example.com" + paths[name].format(sku=sku),
                     "clientTimestamp": iso(at)}
            if with_session:
                event["sessionId"] = f"s{c}-{(at - START).days}"
            if referrer:
                event["referrer"] = referrer
            if user:
                event.update(userId=user, userLoginState="logged_in")
            if name in ("product_view", "add_to_cart_click", "remove_from_cart_click"):
                event["product"] = {"id": sku, "name": sku.upper(), "category": f"cat-{sku[-1]}", "price": 10}
            if name == "remove_from_cart_click" and pick.booleans():
                event["quantity"] = 1  # else the product leaves the cart
            if name == "search" and (term := pick.sampled_from(TERMS)):
                event["searchTerm"] = term
            if name == "click":
                event["element"] = {"tag": "a", "text": pick.sampled_from(("Shop", "Cart", "Laptops")),
                                    "dataset": {"sku": sku}}
            if name == "checkout_complete" and dialect == "sbw_nextjs":
                event["element"] = {"dataset": {"orderId": "", "orderNumber": "", "total": str(pick.integers(1, 500))}}
            elif name == "checkout_complete":
                event.update(transactionId=f"T{c}-{at:%H%M%S}", value=pick.integers(1, 500), currency="EUR")
            copies = pick.sampled_from((1, 1, 1, 2))  # a share of duplicate sends
            for _ in range(copies):
                # late arrivals: received up to three days after it happened
                delay = timedelta(seconds=pick.sampled_from((1, 30, 3600, 86400 * 3)))
                received = at + delay
                deliveries.append(Delivery(record({**event, "sentAt": iso(received)}, received, agent,
                                                  dialect=dialect), received))
    return deliveries
