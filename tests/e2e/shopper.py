"""A shopper in headless Chromium: real mouse clicks and typing through the DevTools protocol
(Input.*) on the storefront's own buttons, links and fields. The shop's code is only read
(the tracker's ids and queue), never called to do the shopping."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.shiny.cdp import Browser, CdpError, chromium_path


def desktop_user_agent() -> str:
    """The user agent of this Chromium when it is not headless (Linux desktop, reduced version)."""
    binary = chromium_path()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout if binary else ""
    found = re.search(r"(\d+)\.\d+\.\d+\.\d+", version)
    major = found.group(1) if found else "120"
    return f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"


class ShopperBrowser(Browser):
    """tests/shiny's Browser, also keeping the page's console and log messages: a refused CORS
    request or a tracker warning ("clickstream http 403") only ever shows up there.

    It introduces itself as desktop Chrome: the ETL rightly counts "HeadlessChrome" as a bot
    and the dashboards leave bots out. The flag, not Emulation.setUserAgentOverride, because
    the override does not reach sendBeacon requests (the tracker's pagehide flush).
    """

    def __init__(self) -> None:
        self.console: list[str] = []
        wanted = desktop_user_agent()
        super().__init__(extra_flags=(f"--user-agent={wanted}",))
        self.call("Log.enable")
        self.user_agent = self.evaluate("navigator.userAgent")
        if self.user_agent != wanted:
            raise CdpError(f"chromium ignored --user-agent: it says {self.user_agent!r}")

    def _on_message(self, message: dict) -> None:
        method = message.get("method")
        if method == "Runtime.consoleAPICalled":
            params = message["params"]
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"console.{params.get('type')}: {text}")
        elif method == "Log.entryAdded":
            entry = message["params"]["entry"]
            self.console.append(f"log.{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}".strip())

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def diagnostics(self) -> str:
        try:
            where = self.evaluate("location.href")
        except CdpError as exc:
            where = f"(unknown: {exc})"
        lines = self.console[-20:] + [f"exception: {e}" for e in self.exceptions[-5:]]
        return f"page {where}; recent console/log:\n  " + "\n  ".join(lines or ["(nothing)"])

    def wait_until(self, expression: str, what: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
        """Poll `expression` until truthy, across navigations (a page being replaced cannot answer)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression, timeout=max(1.0, min(10.0, deadline - time.monotonic())))
            except CdpError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; {self.diagnostics()}")
            time.sleep(interval)

    def click(self, selector: str, timeout: float = 10.0) -> None:
        """Scroll `selector` into view and click its middle with the mouse, as a person would."""
        point = self.wait_until(
            f"""(() => {{
              const el = document.querySelector({json.dumps(selector)});
              if (!el || el.disabled) return null;
              el.scrollIntoView({{block: 'center', inline: 'center'}});
              const r = el.getBoundingClientRect();
              if (!r.width || !r.height) return null;
              const x = r.left + r.width / 2, y = r.top + r.height / 2;
              const hit = document.elementFromPoint(x, y);
              return hit && (el === hit || el.contains(hit) || hit.contains(el)) ? {{x, y}} : null;
            }})()""",
            f"a visible, enabled {selector} to click", timeout)
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=point["x"], y=point["y"])
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=point["x"], y=point["y"], button="left", clickCount=1)

    def type_into(self, selector: str, text: str) -> None:
        self.click(selector)
        self.wait_until(f"document.activeElement === document.querySelector({json.dumps(selector)})",
                        f"{selector} to have the focus", 5)
        self.call("Input.insertText", text=text)

    def open_page(self, url: str, timeout: float = 20.0) -> None:
        self.navigate(url)
        self.wait_shop_page(url.split("?")[0].rsplit("/", 1)[-1] or "index.html", timeout)

    def wait_shop_page(self, page: str, timeout: float = 20.0) -> None:
        """Wait until `page` (e.g. "cart.html") has loaded its catalog and drawn itself (data-ready)."""
        self.wait_until(
            f"location.pathname.endsWith({json.dumps('/' + page)}) && document.readyState === 'complete'"
            " && document.body && document.body.getAttribute('data-ready') === 'true'",
            f"the shop's {page} to be drawn", timeout)

    def text(self, selector: str) -> str:
        return self.wait_until(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " return el && el.textContent.trim(); })()", f"text in {selector}", 10)


def euros(text: str) -> Decimal:
    """"€1,234.50" -> Decimal("1234.50")."""
    return Decimal(text.replace("€", "").replace(",", "").strip())


@dataclass
class Visit:
    """What the shopper saw: identities from the tracker, amounts and the order from the page."""

    client_id: str = ""
    session_ids: set[str] = field(default_factory=set)
    product_id: str = ""
    quantity: int = 0
    cart_total: Decimal = Decimal(0)
    order_total: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)
    transaction_id: str = ""
    tracker_stats: dict[str, int] = field(default_factory=dict)


def _identity(browser: ShopperBrowser, visit: Visit) -> None:
    ids = browser.evaluate("({client: Shop.tracker.clientId(), session: Shop.tracker.sessionId()})")
    if visit.client_id and ids["client"] != visit.client_id:
        raise AssertionError(f"the clientId changed between pages: {visit.client_id} -> {ids['client']}")
    visit.client_id = ids["client"]
    visit.session_ids.add(ids["session"])


def buy_something(browser: ShopperBrowser, shop_url: str, quantity: int = 2, screenshot_dir: Path | None = None
                  ) -> Visit:
    """Listing -> a product -> add to cart -> cart -> checkout -> place the order."""
    visit = Visit(quantity=quantity)
    browser.open_page(f"{shop_url}/index.html")
    _identity(browser, visit)

    # The cheapest product in stock on the listing: two of them stay under the free-shipping
    # threshold, so the order total (the purchase's value) differs from the cart total.
    visit.product_id = browser.wait_until(
        """fetch('catalog.json').then(r => r.json()).then(c => {
             const listed = new Set([...document.querySelectorAll('.product-card')].map(a => a.dataset.id));
             const price = p => p.discount_price ?? p.price;
             const cheapest = c.products.filter(p => p.stock > 0 && listed.has(p.id))
                                        .sort((a, b) => price(a) - price(b))[0];
             return cheapest ? cheapest.id : null; })""",
        "a product in stock on the listing")
    browser.click(f'.product-card[data-id="{visit.product_id}"]')
    browser.wait_shop_page("product.html")
    _identity(browser, visit)
    if browser.evaluate("new URLSearchParams(location.search).get('id')") != visit.product_id:
        raise AssertionError(f"the listing's card did not open product {visit.product_id}; {browser.diagnostics()}")

    # A <select> is drawn by the browser outside the page; choosing sets its value and says so.
    browser.evaluate(f"""(() => {{ const s = document.getElementById('quantity'); s.focus(); s.value = '{quantity}';
                         s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")
    browser.click("#add-to-cart")
    browser.wait_until(f"document.getElementById('cart-count').textContent.trim() === '{quantity}'",
                       "the header's cart count to show the added quantity")
    browser.click("#go-to-cart")
    browser.wait_shop_page("cart.html")
    _identity(browser, visit)
    visit.cart_total = euros(browser.text("#cart-total"))

    browser.click("#checkout")
    browser.wait_shop_page("checkout.html")
    _identity(browser, visit)
    visit.order_total = euros(browser.text("#order-total"))
    summary = browser.text("#checkout-form p")  # "Items: €x · Shipping: €y · Total: €z"
    amounts = dict(re.findall(r"(Items|Shipping): (€[\d,.]+)", summary))
    if set(amounts) != {"Items", "Shipping"} or euros(amounts["Items"]) != visit.cart_total:
        raise AssertionError(f"checkout shows {summary!r}; the cart showed a total of {visit.cart_total}")
    visit.shipping = euros(amounts["Shipping"])
    browser.type_into("#name", "Ada Lovelace")
    browser.type_into("#email", "ada@example.org")
    browser.type_into("#address", "12 Analytical Row, London")
    browser.click("#place-order")
    visit.transaction_id = browser.text("#transaction-id")
    if screenshot_dir is not None:
        browser.screenshot(screenshot_dir / "order-placed.png")
    _identity(browser, visit)

    # purchase is sent at once; wait until the tracker's queue is empty and nothing is in flight.
    try:
        # Bounded in the page too: a tracker retrying with backoff is never idle.
        browser.wait_until("Promise.race([Shop.tracker.whenIdle().then(() => Shop.tracker.queueLength() === 0),"
                           " new Promise(r => setTimeout(() => r(false), 1000))])",
                           "the tracker to send the purchase (queue empty, nothing in flight)", 20)
    finally:
        with contextlib.suppress(CdpError):
            visit.tracker_stats = browser.evaluate("Shop.tracker.stats()", timeout=5) or {}
    # Leaving the page hands anything still queued to sendBeacon (pagehide).
    browser.navigate("about:blank")
    browser.wait_until("location.href === 'about:blank'", "the shop page to be left", 10)
    return visit
