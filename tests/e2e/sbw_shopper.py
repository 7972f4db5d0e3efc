"""A shopper in the SBW Cloudworks storefront stand-in (tests/e2e/sbw_store/), in headless
Chromium with real mouse clicks (tests/e2e/shopper.py's ShopperBrowser). The page's helpers
(window.SbwShop) are only read: for the catalog, the identities and what the tracker sent.

Every step waits until the events it causes have been sent, so a visit's event list is
deterministic; a visit ends once every tracker request has been answered."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.e2e.shopper import ShopperBrowser


@dataclass
class SbwVisit:
    """What one visit did and what the page's tracker sent during it."""

    client_id: str = ""
    session_ids: set[str] = field(default_factory=set)
    user_id: str | None = None  # the signed-in Cognito sub at the end of the visit, if any
    order_total: Decimal = Decimal(0)  # "Tổng tiền" on the cart page when checking out
    products: dict[str, int] = field(default_factory=dict)  # bought: product id -> quantity
    viewed_products: list[str] = field(default_factory=list)  # product ids, in viewing order
    category_slug: str = ""
    category_name: str = ""  # what category_view sent as the name (the storefront sends the slug)
    category_title: str = ""  # the category's display name in the catalog
    events: list[dict[str, Any]] = field(default_factory=list)  # the payloads, in sending order
    requests: list[dict[str, Any]] = field(default_factory=list)  # SbwShop.sent: {url, body, init, status}

    def names(self) -> list[str]:
        return [e["eventName"] for e in self.events]


def vnd(text: str) -> Decimal:
    """"2.580.000 ₫" (vi-VN currency format) -> Decimal("2580000")."""
    cleaned = text.replace("\xa0", " ").strip()
    if not re.fullmatch(r"-?\d{1,3}(\.\d{3})* ₫", cleaned):
        raise ValueError(f"not a vi-VN VND amount: {text!r}")
    return Decimal(cleaned.removesuffix(" ₫").replace(".", ""))


def open_sbw_page(browser: ShopperBrowser, url: str, timeout: float = 20.0) -> None:
    """A full page load of `url`, waiting until the shop has drawn it and auth has loaded."""
    browser.navigate(url)
    browser.wait_until(
        f"location.href === {json.dumps(url)} && window.SbwShop !== undefined && SbwShop.ready()"
        " && SbwShop.authLoaded()", f"the SBW shop at {url} to load", timeout)


def _sent_count(browser: ShopperBrowser) -> int:
    return browser.evaluate("SbwShop.sent.length")


def _wait_sent(browser: ShopperBrowser, start: int, names: list[str], timeout: float = 10.0) -> list[dict]:
    """Wait until the events sent since index `start` include `names` in that order."""
    return browser.wait_until(
        f"""(() => {{
          const want = {json.dumps(names)};
          const got = SbwShop.events().slice({start});
          let i = 0;
          for (const e of got) if (i < want.length && e.eventName === want[i]) i++;
          return i === want.length ? got : null;
        }})()""",
        f"the tracker to send {names}", timeout)


def _step(browser: ShopperBrowser, selector: str, names: list[str], timeout: float = 10.0) -> list[dict]:
    """Click `selector` and wait for the events it causes; returns the events sent since."""
    start = _sent_count(browser)
    browser.click(selector)
    return _wait_sent(browser, start, names, timeout)


def _wait_route(browser: ShopperBrowser, route: str) -> None:
    browser.wait_until(f"SbwShop.route() === {json.dumps(route)}", f"the shop to show its {route} page", 10)


def _settle(browser: ShopperBrowser) -> None:
    # Bounded in the page too, so one slow request cannot hold the poll past its timeout.
    browser.wait_until(
        "Promise.race([SbwShop.settled().then(() => SbwShop.pending() === 0"
        " && SbwShop.sent.every(r => r.status !== 'pending')),"
        " new Promise(r => setTimeout(() => r(false), 1000))])",
        "every tracker request to be answered", 20)


def _finish(browser: ShopperBrowser, visit: SbwVisit) -> SbwVisit:
    """Record what the page sent, then leave it (to about:blank) once nothing is in flight."""
    _settle(browser)
    state = browser.evaluate("({sent: SbwShop.sent, userId: SbwShop.userId()})")
    visit.requests = state["sent"]
    visit.events = [json.loads(r["body"]) for r in visit.requests]
    visit.user_id = state["userId"]
    clients = {e["clientId"] for e in visit.events}
    if len(clients) != 1:
        raise AssertionError(f"the visit's events carry {len(clients)} client ids: {clients}")
    visit.client_id = clients.pop()
    visit.session_ids = {e["sessionId"] for e in visit.events}
    visit.viewed_products = [e["product"]["id"] for e in visit.events if e["eventName"] == "product_view"]
    browser.navigate("about:blank")
    browser.wait_until("location.href === 'about:blank'", "the shop page to be left", 10)
    return visit


def bounce_on_home(browser: ShopperBrowser, origin: str) -> SbwVisit:
    """Open the home page, stay until its page_view and home_view are sent, leave."""
    visit = SbwVisit()
    open_sbw_page(browser, f"{origin}/")
    _wait_sent(browser, 0, ["page_view", "home_view"])
    return _finish(browser, visit)


def _pick(catalog: dict) -> tuple[dict, dict, dict]:
    """The first category with two products in stock; the first of them with a discount if any."""
    for category in catalog["categories"]:
        listed = [p for p in catalog["products"] if category["title"] in p["categories"] and p["stock"] > 1]
        if len(listed) >= 2:
            first = next((p for p in listed if p["discount"] > 0), listed[0])
            second = next(p for p in listed if p is not first)
            return category, first, second
    raise AssertionError("the SBW catalog has no category with two products in stock")


def buy_in_sbw_store(browser: ShopperBrowser, origin: str) -> SbwVisit:
    """Home -> a category -> a product, added twice -> a related product, added -> wishlist on
    and off -> "Ask a question" -> cart (which asks to sign in) -> sign in (back on home) ->
    cart -> remove the second product with its trash icon -> checkout, until checkout_complete
    has been sent and answered."""
    visit = SbwVisit()
    open_sbw_page(browser, f"{origin}/")
    _wait_sent(browser, 0, ["page_view", "home_view"])
    category, first, second = _pick(browser.evaluate("SbwShop.catalog()"))
    visit.category_slug, visit.category_title = category["slug"], category["title"]

    sent = _step(browser, f"#category-link-{category['slug']}", ["click", "category_view"])
    visit.category_name = next(e for e in sent if e["eventName"] == "category_view")["product"]["category"]
    _wait_route(browser, "category")

    _step(browser, f"#product-link-{first['slug']['current']}", ["click", "product_view"])
    _wait_route(browser, "product")
    _step(browser, "#add-to-cart", ["add_to_cart_click"])
    # A second unit through the quantity buttons, which send only the generic click.
    _step(browser, "#qty-plus", ["click"])
    browser.wait_until("document.getElementById('qty-count').textContent === '2'", "two units in the cart")

    _step(browser, f"#related-{second['slug']['current']}", ["click", "product_view"])
    browser.wait_until(f"document.getElementById('product').dataset.id === {json.dumps(second['_id'])}",
                       "the second product's page")
    _step(browser, "#add-to-cart", ["add_to_cart_click"])
    _step(browser, "#wishlist-toggle", ["wishlist_toggle"])
    browser.wait_until("document.getElementById('wishlist-toggle').dataset.active === 'true'", "the heart to fill")
    _step(browser, "#wishlist-toggle", ["wishlist_toggle"])
    browser.wait_until("document.getElementById('wishlist-toggle').dataset.active === 'false'", "the heart to empty")
    _step(browser, "#ask-question", ["click"])

    # Signed out, the cart page only offers to sign in.
    _step(browser, "#header-cart", ["click", "page_view"])
    _wait_route(browser, "cart")
    _step(browser, '#no-access a[data-nav="sign-in"]', ["click", "page_view"])
    _wait_route(browser, "sign-in")
    # Signing in: page_view for /sign-in as the auth context changes, then home_view on home.
    _step(browser, "#sign-in-submit", ["click", "page_view", "home_view"])
    _wait_route(browser, "home")

    _step(browser, "#header-cart", ["click", "page_view"])
    browser.wait_until("document.getElementById('cart') !== null", "the cart's lines")
    _step(browser, f'svg.cart-remove[data-id="{second["_id"]}"]', ["remove_from_cart_click"])
    browser.wait_until(f"!document.querySelector('.cart-line[data-id=\"{second['_id']}\"]')",
                       "the removed line to go")
    visit.order_total = vnd(browser.text("#cart-total"))
    visit.products = {item["id"]: item["quantity"] for item in browser.evaluate("SbwShop.cartItems()")}

    # checkout_complete follows checkout_start after the storefront's simulated 1.5 s payment.
    _step(browser, "#checkout", ["checkout_start", "checkout_complete"], timeout=15)
    browser.wait_until("document.getElementById('checkout-success') !== null", "the payment confirmation")
    return _finish(browser, visit)
