"""The SBW storefront stand-in (tests/e2e/sbw_store/) in headless Chromium against a local
capture server: what goes over the wire must be what the SBW Cloudworks Next.js storefront
(SBW-Cloudworks/ClickSteam.NextJS at 76ba086: lib/clickstreamClient.ts, lib/clickstreamEvents.ts,
contexts/ClickstreamProvider.tsx, the page trackers, cart page) sends: one JSON event per POST,
its keys in the publisher's order, the view events' order against page_view, the click
elements, the wishlist and checkout payloads, the user before and after signing in."""

from __future__ import annotations

import json
import re
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from tests.e2e.sbw_shopper import bounce_on_home, buy_in_sbw_store, open_sbw_page
from tests.e2e.sbw_store_server import sbw_store
from tests.e2e.shopper import ShopperBrowser
from tests.shiny.cdp import chromium_path
from tests.support.local import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# buildBaseEvent's keys, in its order.
BASE_KEYS = ["eventName", "eventId", "pageUrl", "referrer", "userId", "userLoginState", "clientId", "sessionId",
             "isFirstVisit"]
# What each event adds after the base (trackCustom spreads the payload over the base).
PAYLOAD_KEYS = {
    "page_view": [], "click": ["element"], "home_view": [], "category_view": ["product"],
    "product_view": ["product"], "add_to_cart_click": ["product"], "remove_from_cart_click": ["product"],
    "wishlist_toggle": ["product", "element"], "checkout_start": ["element"], "checkout_complete": ["element"],
}
PRODUCT_KEYS = ["id", "name", "category", "brand", "price", "discountPrice", "urlPath"]
ELEMENT_KEYS = ["tag", "id", "role", "text", "dataset"]
BUY_SEQUENCE = [
    "page_view", "home_view",  # first load: the provider's page_view, then HomeTracker once auth has loaded
    "click", "category_view",  # category link
    "click", "product_view",  # product link
    "add_to_cart_click",  # Add to Cart is ignored by the click listener
    "click",  # quantity +
    "click", "product_view",  # related product
    "add_to_cart_click",
    "wishlist_toggle", "wishlist_toggle",  # the heart sets the click-once flag: no click events
    "click",  # "Ask a question"
    "click", "page_view",  # cart (no page tracker): the signed-out cart only offers to sign in
    "click", "page_view",  # "Sign in" -> /sign-in
    "click", "page_view", "home_view",  # submit; the auth change re-runs page_view on /sign-in; home
    "click", "page_view",  # cart, signed in
    "remove_from_cart_click",  # trash icon, ignored by the click listener
    "checkout_start", "checkout_complete",  # 1.5 s apart; "Thanh toán" is ignored by the click listener
]


class _Capture:
    """Every request the capture server answered: method, path, headers (lower-case), body, arrival."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""

    def add(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)

    def posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST"]


def _handler(capture: _Capture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _record(self, body: bytes) -> None:
            capture.add({"method": self.command, "path": self.path, "body": body, "at": time.monotonic(),
                         "headers": {k.lower(): v for k, v in self.headers.items()}})

        def _answer(self, body: bytes) -> None:
            # The tracker posts cross-origin with a JSON content type: a preflighted CORS request.
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "content-type")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:
            self._record(b"")
            self._answer(b"")

        def do_POST(self) -> None:
            self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self._answer(b'{"ok":true}')

    return Handler


@pytest.fixture(scope="module")
def capture():
    recorder = _Capture()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(recorder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="capture", daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/clickstream"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def journey(capture):
    """A new visitor bounces, comes back and buys, then returns signed in; and a page without
    an endpoint, for the catalog."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/bootstrap.sh installs it)")
    with ShopperBrowser() as browser, sbw_store(free_port(), capture.url) as origin:
        try:
            first = bounce_on_home(browser, origin)
            buy = buy_in_sbw_store(browser, origin)
            back = bounce_on_home(browser, origin)
        except Exception as exc:
            raise AssertionError(f"the SBW shopper failed: {exc}; {browser.diagnostics()}") from exc
        with sbw_store(free_port(), "") as offline:
            open_sbw_page(browser, f"{offline}/")
            browser.wait_until("SbwShop.route() === 'home'", "the offline home page")
            catalog = browser.evaluate("SbwShop.catalog()")
            dry_sent = browser.evaluate("SbwShop.sent")
            dry_console = list(browser.console)
        exceptions = list(browser.exceptions)
    return SimpleNamespace(first=first, buy=buy, back=back, visits=(first, buy, back), origin=origin, catalog=catalog,
                           dry_sent=dry_sent, dry_console=dry_console, exceptions=exceptions)


def _events(journey) -> list[dict]:
    return [e for visit in journey.visits for e in visit.events]


def _product(journey, product_id: str) -> dict:
    return next(p for p in journey.catalog["products"] if p["_id"] == product_id)


def _one(events: list[dict], name: str) -> dict:
    (found,) = [e for e in events if e["eventName"] == name]
    return found


def test_every_event_is_one_json_post(journey, capture):
    requests = [r for visit in journey.visits for r in visit.requests]
    posts = capture.posts()
    assert len(posts) == len(requests) == len(_events(journey))
    for request in requests:
        # fetch(endpoint, {method, headers, body: JSON.stringify(event), keepalive: true}), nothing else.
        assert request["url"] == capture.url
        assert request["init"] == {"method": "POST", "headers": {"Content-Type": "application/json"},
                                   "body": request["body"], "keepalive": True}
        assert request["status"] == 200
    for post in posts:
        assert post["path"] == "/clickstream"
        assert post["headers"]["content-type"] == "application/json"
        assert post["headers"]["origin"] == journey.origin
        assert isinstance(json.loads(post["body"]), dict)  # one event, not a batch
    # Byte for byte what the page serialised (the server may see them in another order).
    assert sorted(p["body"].decode() for p in posts) == sorted(r["body"] for r in requests)
    preflights = [r for r in capture.requests if r["method"] == "OPTIONS"]
    assert preflights and all(p["headers"]["access-control-request-method"] == "POST" for p in preflights)
    assert not journey.exceptions


def test_keys_come_in_the_publishers_order(journey):
    for event in _events(journey):
        name = event["eventName"]
        base = list(BASE_KEYS)
        # Custom events spread {userId: undefined} over the base's null when nobody is signed in,
        # and JSON.stringify drops it; page_view and click keep "userId": null.
        if name not in ("page_view", "click") and event["userLoginState"] == "anonymous":
            base.remove("userId")
        assert list(event) == base + PAYLOAD_KEYS[name], event
        if "product" in event and name != "category_view":
            assert list(event["product"]) == PRODUCT_KEYS, event
        if name == "click":
            keys = list(event["element"])
            assert keys == [k for k in ELEMENT_KEYS if k in keys], event
            assert {"tag", "role", "dataset"} <= set(keys), event


def test_the_first_load_sends_page_view_before_the_home_view(journey):
    first, back = journey.first, journey.back
    assert first.names() == ["page_view", "home_view"]
    assert [e["isFirstVisit"] for e in _events(journey)] == [True] + [False] * (len(_events(journey)) - 1)
    assert {e["pageUrl"] for e in first.events} == {f"{journey.origin}/"}
    # Back signed in: page_view goes before auth has loaded (anonymous), home_view after it.
    page_view, home_view = back.events
    assert (page_view["eventName"], page_view["userId"], page_view["userLoginState"]) == (
        "page_view", None, "anonymous")
    assert (home_view["eventName"], home_view["userId"], home_view["userLoginState"]) == (
        "home_view", journey.buy.user_id, "logged_in")


def test_the_buy_journey_sends_the_sbw_sequence(journey):
    assert journey.buy.names() == BUY_SEQUENCE


def test_category_view_names_the_category_by_its_url_slug(journey):
    buy = journey.buy
    event = _one(buy.events, "category_view")
    # The category page hands CategoryTracker the slug as both id and name.
    assert event["product"] == {"category": buy.category_slug, "id": buy.category_slug}
    assert list(event["product"]) == ["category", "id"]
    assert buy.category_name == buy.category_slug and buy.category_title != buy.category_slug
    assert event["pageUrl"] == f"{journey.origin}/category/{buy.category_slug}"


def test_product_events_carry_the_storefront_product(journey):
    buy = journey.buy
    seen = [e for e in buy.events if "product" in e and e["eventName"] != "category_view"]
    assert {e["eventName"] for e in seen} == {"product_view", "add_to_cart_click", "wishlist_toggle",
                                              "remove_from_cart_click"}
    for event in seen:
        product = _product(journey, event["product"]["id"])
        assert event["product"] == {
            "id": product["_id"], "name": product["name"], "category": product["variant"],
            "brand": product["brandName"], "price": product["price"],
            "discountPrice": product["discount"],  # the discount percentage, not a price
            "urlPath": f"/product/{product['slug']['current']}",
        }
    # One discounted product, one not: 10 stays 10 and 0 stays 0 (not dropped as falsy).
    assert sorted(e["product"]["discountPrice"] for e in seen if e["eventName"] == "product_view") == [0, 10]
    assert [e["product"]["id"] for e in seen if e["eventName"] == "product_view"] == buy.viewed_products


def test_clicks_carry_the_clicked_element(journey):
    buy = journey.buy
    first, second = (_product(journey, pid) for pid in buy.viewed_products)
    slug = buy.category_slug
    elements = [e["element"] for e in buy.events if e["eventName"] == "click"]
    assert elements == [
        {"tag": "a", "id": f"category-link-{slug}", "role": None, "text": buy.category_title,
         "dataset": {"category": slug}},
        {"tag": "a", "id": f"product-link-{first['slug']['current']}", "role": None, "text": first["name"],
         "dataset": {"productId": first["_id"]}},
        {"tag": "button", "id": "qty-plus", "role": None, "text": "+",
         "dataset": {"action": "increase", "productId": first["_id"]}},
        {"tag": "a", "id": f"related-{second['slug']['current']}", "role": None, "text": second["name"],
         "dataset": {"productId": second["_id"]}},
        {"tag": "div", "id": "ask-question", "role": "button", "text": "Ask a question",
         "dataset": {"action": "ask-question"}},
        {"tag": "a", "id": "header-cart", "role": None, "text": "Giỏ hàng", "dataset": {"nav": "cart"}},
        {"tag": "a", "role": None, "text": "Sign in", "dataset": {"nav": "sign-in"}},  # no id: no key
        {"tag": "button", "id": "sign-in-submit", "role": None, "text": "Sign in", "dataset": {}},
        {"tag": "a", "id": "header-cart", "role": None, "text": "Giỏ hàng", "dataset": {"nav": "cart"}},
    ]
    # A click is reported on the page it happened on, before the next page's events.
    clicks = [e for e in buy.events if e["eventName"] == "click"]
    assert clicks[0]["pageUrl"] == f"{journey.origin}/"
    assert clicks[1]["pageUrl"] == f"{journey.origin}/category/{slug}"


def test_the_wishlist_heart_reports_on_then_off(journey):
    buy = journey.buy
    toggles = [e for e in buy.events if e["eventName"] == "wishlist_toggle"]
    assert [t["element"] for t in toggles] == [{"dataset": {"toggledOn": "true"}}, {"dataset": {"toggledOn": "false"}}]
    assert {t["product"]["id"] for t in toggles} == {buy.viewed_products[1]}


def test_checkout_reports_the_cart_total(journey, capture):
    buy = journey.buy
    first_id = buy.viewed_products[0]
    assert buy.products == {first_id: 2}  # the second product went with the trash icon
    expected = sum(Decimal(_product(journey, pid)["price"]) * qty for pid, qty in buy.products.items())
    assert buy.order_total == expected
    start, complete = _one(buy.events, "checkout_start"), _one(buy.events, "checkout_complete")
    assert start["element"] == {"dataset": {"cartId": "", "total": str(expected), "itemCount": "1"}}
    assert complete["element"] == {"dataset": {"orderId": "", "orderNumber": "", "total": str(expected)}}
    assert re.fullmatch(r"\d+", complete["element"]["dataset"]["total"])
    assert Decimal(complete["element"]["dataset"]["total"]) == buy.order_total
    arrival = {json.loads(p["body"])["eventId"]: p["at"] for p in capture.posts()}
    assert arrival[complete["eventId"]] - arrival[start["eventId"]] >= 1.4  # the simulated payment


def test_signing_in_puts_the_user_on_later_events(journey):
    buy = journey.buy
    assert UUID.fullmatch(buy.user_id)
    signed_in = next(i for i, e in enumerate(buy.events) if e["userLoginState"] == "logged_in")
    # The first signed-in event is the page_view the auth change causes on /sign-in.
    assert buy.events[signed_in]["eventName"] == "page_view"
    assert buy.events[signed_in]["pageUrl"] == f"{journey.origin}/sign-in"
    for event in buy.events[:signed_in]:
        assert event["userLoginState"] == "anonymous"
        assert event.get("userId", "absent") == (None if event["eventName"] in ("page_view", "click") else "absent")
    for event in buy.events[signed_in:]:
        assert (event["userId"], event["userLoginState"]) == (buy.user_id, "logged_in"), event


def test_one_client_one_session_unique_event_ids(journey):
    events = _events(journey)
    assert {v.client_id for v in journey.visits} == {events[0]["clientId"]}
    # One tab, well within 30 idle minutes: the session survives the full page loads.
    assert set().union(*(v.session_ids for v in journey.visits)) == {events[0]["sessionId"]}
    assert UUID.fullmatch(events[0]["clientId"]) and UUID.fullmatch(events[0]["sessionId"])
    assert len({e["eventId"] for e in events}) == len(events)
    assert all(UUID.fullmatch(e["eventId"]) for e in events)
    assert all(e["pageUrl"].startswith(f"{journey.origin}/") for e in events)
    assert all(e["referrer"] is None for e in events)  # typed-in visits, client-side navigation


def test_without_an_endpoint_nothing_is_sent(journey):
    assert journey.dry_sent == []
    assert any("dry-run" in line for line in journey.dry_console)
