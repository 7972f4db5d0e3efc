"""The Revenue and Checkout tabs in headless Chromium on the demo warehouse: their charts and
tables are drawn, their figures match the warehouse, switching the attribution model or the
segment redraws them; full-page screenshots (docs/img/dashboard-revenue.png and
dashboard-checkout.png come from SHINY_SCREENSHOT_DIR=docs/img)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.shiny.cdp import ink_stats
from tests.shiny.dashboard import open_app, show_tab, tab_state, unexpected_errors, wait_tab

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]

_ACTIVE_TEXT = "document.querySelector('.tab-pane.active').innerText"


def first_row(demo_app, sql: str) -> list:
    conn = demo_app["server"].connect(demo_app["database"])
    try:
        return conn.run(sql)[0]
    finally:
        conn.close()


def page_screenshot(browser, path: Path, max_height: int = 4200) -> bytes:
    """The whole page (up to max_height pixels), not only the 1400x900 viewport."""
    height = browser.evaluate("document.documentElement.scrollHeight")
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1400, "height": min(height, max_height), "scale": 1})
    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    return data


def assert_drawn(state: dict, tab: str, plots: int, tables: int) -> None:
    assert not state["errors"], (tab, state["errors"])
    assert len(state["plots"]) == plots, (tab, state["plots"])
    for plot in state["plots"]:
        assert not plot["empty"], (tab, plot)
        assert plot["height"] > 100, (tab, plot)
        assert plot["points"] > 0, (tab, plot)
    assert len(state["tables"]) == tables and all(n > 0 for n in state["tables"]), (tab, state["tables"])


def test_revenue_tab_draws_and_matches_the_warehouse(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"], tab="revenue")
    state = tab_state(browser)
    assert_drawn(state, "revenue", plots=5, tables=2)
    revenue, orders = first_row(demo_app, "SELECT (SELECT sum(revenue) FROM agg_daily_funnel"
                                          " WHERE session_date BETWEEN current_date - 28 AND current_date - 1"
                                          " AND NOT is_bot),"
                                          " (SELECT sum(orders) FROM agg_daily_attribution WHERE model = 'last_touch'"
                                          " AND conversion_date BETWEEN current_date - 28 AND current_date - 1"
                                          " AND NOT is_bot)")
    assert orders > 0
    assert state["kpis"]["revenue"] == f"EUR {revenue:,.2f}", state["kpis"]
    assert state["kpis"]["orders"] == f"{orders:,.0f}", state["kpis"]
    assert state["kpis"]["aov"] == f"EUR {revenue / orders:,.2f}", state["kpis"]
    text = browser.evaluate(_ACTIVE_TEXT)
    assert "Last touch: all of a conversion's credit goes to its last touchpoint" in text
    assert "within 30 days" in text and "sessions with a purchase / sessions of the channel" in text
    # One table at a time: the campaigns on demand (their session counts are queried then).
    browser.evaluate("document.querySelector('input[name=\"revenue-table_view\"][value=\"campaign\"]').click()")
    browser.wait_for(f"({_ACTIVE_TEXT}).includes('spring_sale')", timeout=30)
    wait_tab(browser, "revenue")
    assert "newsletter" in browser.evaluate(_ACTIVE_TEXT)
    page_screenshot(browser, screenshot_dir / "dashboard-revenue.png")
    # Another model: the text and the credit change, the total stays.
    before = browser.evaluate("document.getElementById('revenue-attribution_chart').data[0].y.slice()")
    browser.evaluate("$('#revenue-model')[0].selectize.setValue('position_based')")
    browser.wait_for(f"({_ACTIVE_TEXT}).includes('Position-based (40/20/40): 40%')", timeout=30)
    wait_tab(browser, "revenue")
    after = browser.evaluate("document.getElementById('revenue-attribution_chart').data[0].y.slice()")
    assert sorted(before) != sorted(after)
    assert sum(after) == pytest.approx(sum(before), rel=1e-6)
    assert not unexpected_errors(browser.exceptions)


def test_checkout_tab_draws_steps_and_carts(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"])
    show_tab(browser, "checkout")
    state = tab_state(browser)
    assert_drawn(state, "checkout", plots=2, tables=2)
    carts, abandoned = first_row(demo_app, "SELECT sum(cart_sessions), sum(abandoned_cart_sessions)"
                                           " FROM agg_daily_funnel"
                                           " WHERE session_date BETWEEN current_date - 28 AND current_date - 1"
                                           " AND NOT is_bot")
    assert carts > abandoned > 0
    assert state["kpis"]["cart_abandonment"] == f"{100 * abandoned / carts:.1f}%", state["kpis"]
    text = browser.evaluate(_ACTIVE_TEXT)
    assert "Add shipping info" in text and "Add payment info" in text and "not tracked" not in text
    page_screenshot(browser, screenshot_dir / "dashboard-checkout.png")
    stats = ink_stats(page_screenshot(browser, screenshot_dir / "dashboard-checkout.png"))
    assert stats["ink"] > 0.03 and stats["colours"] > 20, stats
    browser.evaluate("$('#checkout-segment')[0].selectize.setValue('device_type')")
    browser.wait_for("""[...document.querySelectorAll('.tab-pane.active table.dataTable thead th')]
                        .some(th => th.textContent.trim() === 'Device')""", timeout=30)
    assert not unexpected_errors(browser.exceptions)


def test_revenue_and_checkout_show_empty_states(empty_app, browser):
    open_app(browser, empty_app["url"], tab="revenue")
    state = tab_state(browser)
    assert not state["errors"] and state["plots"] and all(p["empty"] for p in state["plots"]), state
    show_tab(browser, "checkout")
    state = tab_state(browser)
    assert not state["errors"] and state["plots"] and all(p["empty"] for p in state["plots"]), state
    assert not unexpected_errors(browser.exceptions)
