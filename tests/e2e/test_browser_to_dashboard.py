"""End to end in a real browser: headless Chromium shops in the demo storefront (listing,
product, add to cart, cart, checkout, order) with real clicks and typing; the tracker sends the
events cross-origin to the ingest Lambda behind the local adapter, which stores them in S3
(moto_server); the ETL (scripts/invoke_etl.py --local) loads them into a scratch warehouse;
the Shiny app, logged in as the read-only reader, shows the purchase on its funnel tab."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.shiny.app import running_app
from tests.shiny.dashboard import open_app, tab_state, unexpected_errors
from tests.shiny.demo import app_environment
from tests.support.pg import dict_rows

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]

FUNNEL = ("view_item", "add_to_cart", "begin_checkout", "purchase")


def _rows(platform, sql: str, **params) -> list[dict]:
    conn = platform.warehouse.admin()
    try:
        return dict_rows(conn, sql, **params)
    finally:
        conn.close()


def test_the_shopper_saw_one_session_and_an_order(journey):
    visit = journey.visit
    assert len(visit.session_ids) == 1, visit.session_ids  # one visit, well inside 30 minutes
    assert visit.transaction_id.startswith("T-")
    assert visit.order_total == visit.cart_total + visit.shipping
    assert visit.shipping > 0  # the cheapest product twice: shipping is charged
    stats = visit.tracker_stats
    assert stats.get("rejected") == 0 and stats.get("dropped") == 0, stats


def test_the_tracker_delivered_every_event_through_the_ingest(journey, browser):
    raw = journey.raw
    assert {r["clientId"] for r in raw} == {journey.visit.client_id}
    assert len({r["eventId"] for r in raw}) == len(raw)
    for record in raw:
        meta = record["_ingest"]
        # The browser's own request, as API Gateway would describe it.
        assert meta["user_agent"] == browser.user_agent
        assert meta["source_ip"].startswith("127.0.0.")
        assert record["sentAt"] >= record["clientTimestamp"]


def test_the_etl_loaded_the_visit(journey):
    etl = journey.etl
    assert etl["status"] == "succeeded", etl
    assert etl["events_loaded"] == len(journey.raw), etl
    assert etl["events_rejected"] == 0, etl


def test_the_warehouse_has_the_funnel_events_of_the_browser(journey, platform):
    (session_id,) = journey.visit.session_ids
    events = _rows(platform, "SELECT event_type, client_id, session_id, is_bot, device_type, browser_family,"
                   " page_path FROM clickstream_events WHERE client_id = :c", c=journey.visit.client_id)
    types = [e["event_type"] for e in events]
    for step in FUNNEL:
        assert types.count(step) == 1, (step, types)
    assert {(e["client_id"], e["session_id"]) for e in events} == {(journey.visit.client_id, session_id)}
    assert {(e["is_bot"], e["device_type"], e["browser_family"]) for e in events} == {(False, "desktop", "Chrome")}
    # /index.html, /product.html, ... as the ETL's default page path rule spells them
    assert {e["page_path"] for e in events} >= {"/", "/product", "/cart", "/checkout"}


def test_the_session_reached_purchase_with_the_page_total_as_revenue(journey, platform):
    (session_id,) = journey.visit.session_ids
    (session,) = _rows(platform, "SELECT * FROM clickstream_sessions WHERE client_id = :c", c=journey.visit.client_id)
    assert session["session_key"] == session["session_id"] == session_id
    assert (session["funnel_stage"], session["funnel_stage_name"]) == (4, "purchase")
    assert session["reached_purchase"] and session["purchases"] == 1
    # The order total the checkout page showed: the cart total plus shipping.
    assert session["revenue"] == journey.visit.order_total
    assert (session["is_bot"], session["login_state"], session["landing_page"]) == (False, "guest", "/")


def test_the_purchase_carries_the_transaction_id_shown_on_the_page(journey, platform):
    visit = journey.visit
    (purchase,) = _rows(platform, "SELECT transaction_id, value, currency, session_id, product_id FROM"
                        " clickstream_events WHERE event_type = 'purchase'")
    assert purchase["transaction_id"] == visit.transaction_id
    assert purchase["value"] == visit.order_total
    assert purchase["currency"] == "EUR"
    assert purchase["session_id"] in visit.session_ids
    (added,) = _rows(platform, "SELECT product_id, quantity, value FROM clickstream_events"
                     " WHERE event_type = 'add_to_cart'")
    assert (added["product_id"], added["quantity"]) == (visit.product_id, visit.quantity)
    assert Decimal(added["value"]) == visit.cart_total


def test_the_funnel_tab_counts_the_purchase(journey, platform, browser):
    log = platform.work / "shiny.log"
    exceptions_before = len(browser.exceptions)
    with running_app(app_environment(platform.warehouse.reader), log) as url:
        open_app(browser, url, tab="funnel", timeout=60)
        steps = browser.evaluate("""(() => {
          const rows = [...document.querySelectorAll('#funnel-steps table.dataTable tbody tr')];
          return Object.fromEntries(rows.map(r => [...r.cells].map(c => c.textContent.trim()))
                                        .map(cells => [cells[0], cells[1]]));
        })()""")
        state = tab_state(browser)
        browser.screenshot(platform.work / "funnel.png")  # kept with the logs, for a look after a failure
    # the steps by their display names (shiny/R/calc.R DISPLAY_NAMES), one session each
    assert steps == {step: "1" for step in ("Product view", "Add to cart", "Begin checkout", "Purchase")}, steps
    assert not state["errors"], state["errors"]
    funnel_chart = next(p for p in state["plots"] if p["id"] == "funnel-funnel")
    assert not funnel_chart["empty"] and "bar" in funnel_chart["types"], funnel_chart
    assert not unexpected_errors(browser.exceptions[exceptions_before:])
    assert "Traceback" not in log.read_text()
