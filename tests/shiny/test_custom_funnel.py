"""The Custom funnel tab in headless Chromium on the demo warehouse: the default funnel is
drawn and its first step matches the warehouse; picking other steps and the order redraws it
with the figures of a direct count over the sessions' sequences; a full-page screenshot
(docs/img/dashboard-custom_funnel.png comes from SHINY_SCREENSHOT_DIR=docs/img)."""

from __future__ import annotations

import json

import pytest

from tests.shiny.cdp import ink_stats
from tests.shiny.dashboard import open_app, tab_state, unexpected_errors, wait_tab
from tests.shiny.test_revenue_checkout import assert_drawn, first_row, page_screenshot

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]

_TABLE_ROWS = """[...document.querySelectorAll('.tab-pane.active table.dataTable tbody tr')]
                 .map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))"""
# Sessions of the demo's default range (the last 28 complete days: its data ends yesterday), no
# bots, with a product view (code 4); and of those, with a purchase (11) after the first view.
_VIEWERS = ("SELECT count(*) FROM clickstream_sessions WHERE session_date BETWEEN current_date - 28"
            " AND current_date - 1 AND NOT is_bot AND 4 = ANY (event_codes)")
_BUYERS = _VIEWERS.replace("4 = ANY (event_codes)",
                           "array_position(event_codes, 11,"
                           " coalesce(array_position(event_codes, 4), cardinality(event_codes)) + 1) IS NOT NULL")


def rows(browser) -> list[list[str]]:
    return browser.evaluate(_TABLE_ROWS)


def test_custom_funnel_tab_picks_steps_and_reads_the_figures(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"], tab="custom_funnel")
    state = tab_state(browser)
    assert_drawn(state, "custom_funnel", plots=1, tables=1)
    # The default funnel: product view -> add to cart -> begin checkout -> purchase.
    table = rows(browser)
    assert [r[1] for r in table] == ["Product view", "Add to cart", "Begin checkout", "Purchase"]
    (viewers,) = first_row(demo_app, _VIEWERS)
    assert viewers > 30
    assert table[0][2] == f"{viewers:,}"
    stats = ink_stats(page_screenshot(browser, screenshot_dir / "dashboard-custom_funnel.png"))
    assert stats["ink"] > 0.03 and stats["colours"] > 20, stats

    # Two steps: product view, then purchase (in this order: a purchase after the first view).
    steps = json.dumps(["view_item", "purchase"])
    browser.evaluate(f"$('#custom_funnel-steps')[0].selectize.setValue({steps})")
    browser.wait_for(f"({_TABLE_ROWS}).length === 2", timeout=30)
    wait_tab(browser, "custom_funnel")
    (buyers,) = first_row(demo_app, _BUYERS)
    assert 0 < buyers < viewers
    table = rows(browser)
    assert [r[:3] for r in table] == [["1", "Product view", f"{viewers:,}"], ["2", "Purchase", f"{buyers:,}"]]
    assert tab_state(browser)["kpis"]["conversion"] == f"{100 * buyers / viewers:.1f}%"
    text = browser.evaluate("document.querySelector('.tab-pane.active').innerText")
    assert "first event of its type after the step before" in text and "first 200 events" in text

    # Any order: the definition says so; a purchase needs a view before it either way here.
    browser.evaluate("document.querySelector('input[name=\"custom_funnel-order\"][value=\"any\"]').click()")
    browser.wait_for("document.querySelector('.tab-pane.active').innerText.includes('in any order')", timeout=30)
    wait_tab(browser, "custom_funnel")
    assert int(rows(browser)[1][2].replace(",", "")) >= buyers
    assert not unexpected_errors(browser.exceptions)
