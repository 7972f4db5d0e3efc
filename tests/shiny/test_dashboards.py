"""The dashboards in headless Chromium: every tab of the running app (R -e shiny::runApp)
against a demo-loaded warehouse draws its charts, and against an empty warehouse shows empty
states; screenshots are checked to be drawn, not blank."""

from __future__ import annotations

import re

import pytest

from tests.shiny.cdp import ink_stats
from tests.shiny.dashboard import TABS, open_app, show_tab, tab_state, unexpected_errors, wait_tab

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


def first_row(demo_app, sql: str) -> list:
    """The first row of a query on the demo warehouse, as the tests' admin login sees it."""
    conn = demo_app["server"].connect(demo_app["database"])
    try:
        return conn.run(sql)[0]
    finally:
        conn.close()


def test_overview_numbers_match_the_warehouse_and_bots_are_excluded(demo_app, browser):
    open_app(browser, demo_app["url"])
    humans, everyone = first_row(demo_app, "SELECT count(*) FILTER (WHERE NOT is_bot), count(*)"
                                           " FROM clickstream_sessions"
                                           " WHERE session_date BETWEEN current_date - 28 AND current_date - 1")
    assert everyone > humans > 0
    kpis = tab_state(browser)["kpis"]
    assert kpis["sessions"].replace(",", "") == str(humans)
    browser.evaluate("document.querySelector('#filters-include_bots').click()")
    browser.wait_for(f"""(() => {{ const v = document.querySelector('.kpi-sessions .kpi-value');
                         return v && v.textContent.replace(/,/g, '').trim() === '{everyone}'; }})()""")


_TABLE_ROWS = """[...document.querySelectorAll('.tab-pane.active table.dataTable tbody tr')]
                  .map(r => [...r.cells].map(c => c.textContent.trim()))"""


def test_default_range_is_the_last_28_complete_days_with_data(demo_app, browser):
    # The demo data ends yesterday (UTC): the default range is the 28 days ending then.
    open_app(browser, demo_app["url"])
    first, last = first_row(demo_app, "SELECT (current_date - 28)::text, (current_date - 1)::text")
    caption = browser.evaluate("document.querySelector('.dw-range-caption').textContent.trim()")
    assert caption == f"Last 28 complete days with data: {first} \u2013 {last}", caption
    dates = browser.evaluate("[...document.querySelectorAll('#filters-dates input')].map(i => i.value)")
    assert dates == [first, last], dates


def test_rate_changes_are_in_percentage_points_with_an_arrow(demo_app, browser):
    open_app(browser, demo_app["url"])
    # The Overview's KPIs: other tabs (Revenue, Checkout) have value boxes without a change.
    changes = browser.evaluate("""Object.fromEntries([...document.querySelectorAll('.kpi')]
        .filter(k => k.querySelector('.kpi-change')).map(k => [
        [...k.classList].find(c => c.startsWith('kpi-')).slice(4),
        [k.querySelector('.kpi-change').textContent.trim(),
         getComputedStyle(k.querySelector('.kpi-change')).color]]))""")
    for metric in ("conversion_rate", "bounce_rate"):
        text, _ = changes[metric]
        assert re.fullmatch(r"[\u25b2\u25bc\u25ac] [+\u2212\u00b1]\d+\.\d pp vs previous period", text), (metric, text)
    for metric in ("sessions", "users", "revenue"):
        text, _ = changes[metric]
        assert re.fullmatch(r"[\u25b2\u25bc\u25ac] [+\u2212\u00b1]\d+\.\d% vs previous period", text), (metric, text)
    # The colours the browser draws are the ones whose contrast the R tests check.
    assert {colour for _, colour in changes.values()} <= {"rgb(20, 108, 67)", "rgb(176, 42, 55)", "rgb(73, 80, 87)"}
    box = browser.evaluate("document.querySelector('.kpi-conversion_rate').textContent")
    assert "Conversion per session" in box, box


def test_the_current_day_is_drawn_as_partial(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"])
    (start, today) = first_row(demo_app, "SELECT (current_date - 13)::text, current_date::text")
    # Pick the dates through the input's own binding, as the date picker does.
    browser.evaluate(f"""(() => {{ const el = document.getElementById('filters-dates');
        const binding = Shiny.inputBindings.bindingNames['shiny.dateRangeInput'].binding;
        binding.setValue(el, {{start: '{start}', end: '{today}'}});
        $(el).find('input').trigger('change'); }})()""")
    browser.wait_for("""(() => { const gd = document.querySelector('#overview-trend_sessions .js-plotly-plot')
                                    || document.querySelector('#overview-trend_sessions');
                         return gd && gd.data && gd.data.some(t => /partial/.test(t.name || '')); })()""", timeout=30)
    wait_tab(browser, "overview")
    for chart in ("trend_sessions", "trend_purchases"):
        traces = browser.evaluate(f"""(() => {{ const o = document.querySelector('#overview-{chart}');
            const gd = o.classList.contains('js-plotly-plot') ? o : o.querySelector('.js-plotly-plot');
            return gd.data.map(t => ({{name: t.name, dash: (t.line || {{}}).dash || 'solid', n: (t.x || []).length,
                                       last: (t.x || []).slice(-1)[0], legend: t.showlegend !== false}})); }})()""")
        solid = [t for t in traces if t["dash"] == "solid"]
        partial = [t for t in traces if "partial" in t["name"]]
        assert len(solid) == 1 and len(partial) == 1, traces
        assert partial[0]["dash"] == "dash" and partial[0]["legend"], partial
        assert partial[0]["last"].startswith(today), partial  # the partial bucket is today's
        assert not any(str(t["last"]).startswith(today) for t in solid), solid
    caption = browser.evaluate("document.querySelector('.dw-range-caption').textContent")
    assert "Today (UTC) is not complete" in caption, caption
    browser.screenshot(screenshot_dir / "dashboard-overview-partial-day.png")
    assert not unexpected_errors(browser.exceptions)


def test_rates_from_few_views_are_greyed_with_their_count(demo_app, browser):
    open_app(browser, demo_app["url"], tab="products")
    # The least viewed products are on the table's last page.
    browser.evaluate("$('.tab-pane.active table.dataTable').DataTable().page('last').draw('page')")
    flagged = browser.wait_for("""(() => { const c = [...document.querySelectorAll('.tab-pane.active td .low-n')];
                                   return c.length && c.map(e => [e.textContent, getComputedStyle(e).color]); })()""")
    for text, colour in flagged:
        assert re.fullmatch(r"\d+\.\d% \(\d+ views?\)", text), text
        assert colour == "rgb(92, 99, 106)", colour
        assert int(re.search(r"\((\d+) view", text).group(1)) < 30, text


def test_clicks_tab_lists_the_most_clicked_elements_per_page(demo_app, browser, screenshot_dir):
    open_app(browser, demo_app["url"], tab="clicks")
    (top_clicks,) = first_row(demo_app, "SELECT sum(clicks) FROM agg_daily_element_clicks"
                                        " WHERE activity_date BETWEEN current_date - 28 AND current_date - 1"
                                        " AND NOT is_bot"
                                        " GROUP BY page_path, element_tag, element_id, element_text"
                                        " ORDER BY 1 DESC LIMIT 1")
    (cart_clicks,) = first_row(demo_app, "SELECT sum(clicks) FROM agg_daily_element_clicks"
                                         " WHERE activity_date BETWEEN current_date - 28 AND current_date - 1"
                                         " AND NOT is_bot AND page_path = '/cart'")
    state = tab_state(browser)
    assert not state["errors"], state["errors"]
    assert state["tables"] == [20]
    (chart,) = state["plots"]
    assert not chart["empty"] and chart["types"] == ["bar"] and chart["points"] == 10, chart
    rows = browser.evaluate(_TABLE_ROWS)
    assert [r[0] for r in rows] == [str(n) for n in range(1, 21)]
    assert rows[0][4].replace(",", "") == str(top_clicks)
    assert all(r[2] and r[5].endswith("%") for r in rows), rows
    # The page selector: pages by clicks after "All pages"; one page shows only its elements,
    # whose shares add up to at most the whole page.
    options = browser.evaluate("Object.values($('#clicks-page')[0].selectize.options).map(o => o.label)")
    assert options[0] == "All pages" and f"/cart ({cart_clicks:,} clicks)" in options, options
    browser.evaluate("$('#clicks-page')[0].selectize.setValue('page:/cart')")
    browser.wait_for(f"""(() => {{ const rows = {_TABLE_ROWS};
                         return rows.length > 0 && rows.every(r => r[1] === '/cart'); }})()""", timeout=30)
    rows = browser.evaluate(_TABLE_ROWS)
    assert rows[0][2] == "Proceed to checkout", rows[0]
    assert sum(float(r[5].rstrip("%")) for r in rows) <= 100 + 0.05 * len(rows)  # each share rounded to 0.1
    browser.screenshot(screenshot_dir / "dashboard-clicks-page.png")
    assert not unexpected_errors(browser.exceptions)


def test_funnel_shows_cart_abandonment(demo_app, browser):
    open_app(browser, demo_app["url"], tab="funnel")
    carts, abandoned = first_row(demo_app, "SELECT count(*) FILTER (WHERE has_cart), count(*) FILTER"
                                           " (WHERE cart_abandoned) FROM clickstream_sessions"
                                           " WHERE session_date BETWEEN current_date - 28 AND current_date - 1"
                                           " AND NOT is_bot")
    assert carts > abandoned > 0
    text = browser.evaluate("document.querySelector('.tab-pane.active .cart-abandonment').textContent.trim()")
    assert text == (f"Cart abandonment: {100 * abandoned / carts:.1f}% ({abandoned:,} of {carts:,} sessions"
                    " with a cart)"), text


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
        if tab == "funnel":
            assert "no session had a cart" in browser.evaluate(
                "document.querySelector('.tab-pane.active .cart-abandonment').textContent")
        browser.screenshot(screenshot_dir / f"empty-{tab}.png")
        assert ink_stats(small_capture(browser))["ink"] > 0.01, tab
    assert not unexpected_errors(browser.exceptions)
    assert "Traceback" not in empty_app["log"].read_text()
