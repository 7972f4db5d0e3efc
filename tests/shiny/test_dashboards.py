"""The dashboards in headless Chromium: every tab of the running app (R -e shiny::runApp)
against a demo-loaded warehouse draws its charts, and against an empty warehouse shows empty
states; screenshots are checked to be drawn, not blank."""

from __future__ import annotations

import pytest

from tests.shiny.cdp import ink_stats
from tests.shiny.dashboard import TABS, open_app, show_tab, tab_state, unexpected_errors

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]


def small_capture(browser) -> bytes:
    import base64

    shot = browser.call("Page.captureScreenshot", format="png",
                        clip={"x": 0, "y": 0, "width": 1400, "height": 1600, "scale": 0.25})
    return base64.b64decode(shot["data"])


def test_every_tab_draws_its_charts_on_demo_data(demo_app, browser, screenshot_dir):
    assert demo_app["counts"]["clickstream_sessions"] == 60 * 150
    open_app(browser, demo_app["url"])
    for tab, trace_types in TABS.items():
        if tab != "overview":
            show_tab(browser, tab)
        state = tab_state(browser)
        assert not state["errors"], (tab, state["errors"])
        assert state["plots"], tab
        for plot in state["plots"]:
            assert not plot["empty"], (tab, plot)
            assert plot["height"] > 100, (tab, plot)
            assert set(plot["types"]) & trace_types, (tab, plot)
            assert plot["points"] > 0, (tab, plot)
        browser.screenshot(screenshot_dir / f"dashboard-{tab}.png")
        stats = ink_stats(small_capture(browser))
        assert stats["ink"] > 0.05, (tab, stats)  # a drawn page, not a white one
        assert stats["colours"] > 20, (tab, stats)
    assert not unexpected_errors(browser.exceptions)


def test_overview_numbers_match_the_warehouse_and_bots_are_excluded(demo_app, browser):
    open_app(browser, demo_app["url"])
    conn = demo_app["server"].connect(demo_app["database"])
    try:
        humans, everyone = conn.run(
            "SELECT count(*) FILTER (WHERE NOT is_bot), count(*) FROM clickstream_sessions"
            " WHERE session_date BETWEEN current_date - 27 AND current_date")[0]
    finally:
        conn.close()
    assert everyone > humans > 0
    kpis = tab_state(browser)["kpis"]
    assert kpis["sessions"].replace(",", "") == str(humans)
    browser.evaluate("document.querySelector('#filters-include_bots').click()")
    browser.wait_for(f"""(() => {{ const v = document.querySelector('.kpi-sessions .kpi-value');
                         return v && v.textContent.replace(/,/g, '').trim() === '{everyone}'; }})()""")


def test_tab_can_be_opened_from_the_url(demo_app, browser):
    browser.navigate(demo_app["url"] + "?tab=journeys")
    browser.wait_for("""(() => { const p = document.querySelector('.tab-pane.active');
                         return p && p.getAttribute('data-value') === 'journeys'
                                && !!p.querySelector('.main-svg'); })()""", timeout=60)


def test_empty_warehouse_shows_empty_states(empty_app, browser, screenshot_dir):
    open_app(browser, empty_app["url"])
    for tab in TABS:
        if tab != "overview":
            show_tab(browser, tab)
        state = tab_state(browser)
        assert not state["errors"], (tab, state["errors"])
        for plot in state["plots"]:
            assert plot["empty"], (tab, plot)
            assert "No " in plot["text"], (tab, plot)
        browser.screenshot(screenshot_dir / f"empty-{tab}.png")
        assert ink_stats(small_capture(browser))["ink"] > 0.01, tab
    assert not unexpected_errors(browser.exceptions)
    assert "Traceback" not in empty_app["log"].read_text()
