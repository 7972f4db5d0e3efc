"""The Customers and Site search tabs in headless Chromium on the demo warehouse: their charts
and tables are drawn and their figures match the warehouse; full-page screenshots
(docs/img/dashboard-customers.png and dashboard-search.png come from SHINY_SCREENSHOT_DIR=docs/img)."""

from __future__ import annotations

import pytest

from tests.shiny.cdp import ink_stats
from tests.shiny.dashboard import open_app, show_tab, tab_state, unexpected_errors
from tests.shiny.test_revenue_checkout import assert_drawn, first_row, page_screenshot

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]

_ACTIVE_TEXT = "document.querySelector('.tab-pane.active').innerText"
# The app's default range on the demo data: the last 28 complete days, bots excluded.
_RANGE = "BETWEEN current_date - 28 AND current_date - 1 AND NOT is_bot"
# The first row of each table (DT draws a scrolling table's header as a table of its own).
_FIRST_CELLS = """[...document.querySelectorAll('.tab-pane.active table.dataTable')]
  .filter(t => t.querySelector('tbody tr td'))
  .map(t => [...t.querySelectorAll('tbody tr:first-child td')].map(td => td.textContent.trim()))"""


def test_customers_tab_draws_and_matches_the_warehouse(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"])
    show_tab(browser, "customers")
    state = tab_state(browser)
    assert_drawn(state, "customers", plots=2, tables=2)
    sessions, new, purchases, new_purchases = first_row(
        demo_app, "SELECT sum(sessions), sum(new_sessions), sum(purchase_sessions), sum(new_purchase_sessions)"
                  f" FROM agg_daily_funnel WHERE session_date {_RANGE}")
    customers, repeat = first_row(demo_app, "SELECT sum(customers), sum(repeat_customers) FROM agg_daily_new_customers"
                                            f" WHERE first_purchase_date {_RANGE}")
    assert 0 < new < sessions and 0 < repeat < customers
    kpis = state["kpis"]
    assert kpis["new_share"] == f"{100 * new / sessions:.1f}%", kpis
    assert kpis["conversion_new"] == f"{100 * new_purchases / new:.1f}%", kpis
    assert kpis["conversion_returning"] == f"{100 * (purchases - new_purchases) / (sessions - new):.1f}%", kpis
    assert kpis["repeat_rate"] == f"{100 * repeat / customers:.1f}%", kpis
    assert kpis["median_time"] in {"under 5 min", "5\u201315 min", "15\u201360 min", "1\u20136 h", "6\u201324 h",
                                   "1\u20133 days", "3\u20137 days", "7\u201314 days", "14\u201330 days",
                                   "30\u201390 days", "90 days or more"}, kpis
    segments, times = browser.evaluate(_FIRST_CELLS)
    assert segments[:2] == ["New (first visit)", f"{new:,}"], segments
    assert times[0] == "under 5 min", times
    text = browser.evaluate(_ACTIVE_TEXT)
    assert "login state and product" in text and "sessions with a purchase / sessions of the row" in text
    stats = ink_stats(page_screenshot(browser, screenshot_dir / "dashboard-customers.png"))
    assert stats["ink"] > 0.03 and stats["colours"] > 20, stats
    assert not unexpected_errors(browser.exceptions)


def test_search_tab_draws_and_matches_the_warehouse(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"], tab="search")
    state = tab_state(browser)
    assert_drawn(state, "search", plots=1, tables=2)
    searches, search_sessions, bought = first_row(
        demo_app, f"SELECT sum(searches), sum(search_sessions), sum(purchase_sessions) FROM agg_daily_search"
                  f" WHERE session_date {_RANGE}")
    (sessions,) = first_row(demo_app, f"SELECT sum(sessions) FROM agg_daily_funnel WHERE session_date {_RANGE}")
    top_term, top_searches = first_row(demo_app, "SELECT search_term, sum(searches) FROM agg_daily_search_terms"
                                                 f" WHERE session_date {_RANGE} GROUP BY 1 ORDER BY 2 DESC, sum(sessions)"
                                                 " DESC, 1 LIMIT 1")
    assert 0 < bought < search_sessions < sessions
    kpis = state["kpis"]
    assert kpis["searches"] == f"{searches:,}", kpis
    assert kpis["search_share"] == f"{100 * search_sessions / sessions:.1f}%", kpis
    assert kpis["per_session"] == f"{searches / search_sessions:.2f}", kpis
    assert kpis["conversion"] == f"{100 * bought / search_sessions:.1f}%", kpis
    terms, no_view = browser.evaluate(_FIRST_CELLS)
    assert terms[:2] == [top_term, f"{top_searches:,}"], terms
    assert no_view[0] and int(no_view[2].replace(",", "")) > 0, no_view
    bars = browser.evaluate("document.getElementById('search-terms_chart').data[0].x.slice()")
    assert len(bars) == 10 and max(bars) == top_searches
    stats = ink_stats(page_screenshot(browser, screenshot_dir / "dashboard-search.png"))
    assert stats["ink"] > 0.03 and stats["colours"] > 20, stats
    assert not unexpected_errors(browser.exceptions)


def test_customers_and_search_show_empty_states(empty_app, browser):
    for tab in ("customers", "search"):
        open_app(browser, empty_app["url"], tab=tab)
        state = tab_state(browser)
        assert not state["errors"] and state["plots"] and all(p["empty"] for p in state["plots"]), (tab, state)
    assert not unexpected_errors(browser.exceptions)
