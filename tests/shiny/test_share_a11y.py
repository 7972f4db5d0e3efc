"""Sharing, export and accessibility of the dashboards in headless Chromium (issue 18, items 8
and 9): axe-core on every tab with data (and inside every chart's Data section); tab semantics,
headings and landmarks; the keyboard reaching the full-screen control, the Data sections and
the CSV downloads; every CSV holding the rows its table shows; a shared link reopening the same
view."""

from __future__ import annotations

import csv
import fcntl
import html
import io
import json
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.shiny.cdp import Browser
from tests.shiny.dashboard import TABS, choose_dates, open_app, show_tab, unexpected_errors, wait_tab

pytestmark = [pytest.mark.postgres, pytest.mark.browser, pytest.mark.slow]

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core, installed from the npm registry at the version package-lock.json pins."""
    # Several test runs may install at once.
    with open(Path(tempfile.gettempdir()) / "clickstream-axe-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_JS.exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=AXE_DIR, check=True,
                           capture_output=True, text=True, timeout=300)
    return AXE_JS.read_text()


_AXE_RUN = """
axe.run(%s, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\n/g, ' '))})))
"""

# Open every chart's Data section in the active tab and wait until its table is drawn.
_OPEN_DATA = """
(() => {
  const pane = document.querySelector('.tab-pane.active');
  const sections = [...pane.querySelectorAll('details.dw-data')];
  sections.forEach(d => { d.open = true; });
  return sections.length;
})()
"""
_DATA_DRAWN = """
(() => {
  const pane = document.querySelector('.tab-pane.active');
  return [...pane.querySelectorAll('details.dw-data')].every(d => {
    const out = d.querySelector('.datatables.html-widget-output');
    return out && !out.classList.contains('recalculating') && out.querySelector('table.dataTable tbody tr');
  }) && !document.documentElement.classList.contains('shiny-busy');
})()
"""


def open_data_sections(browser) -> int:
    n = browser.evaluate(_OPEN_DATA)
    browser.wait_for(_DATA_DRAWN, 60)
    return n


def test_axe_finds_no_serious_or_critical_violation_on_any_tab(demo_app, browser, axe_source):
    open_app(browser, demo_app["url"])
    browser.evaluate(axe_source + ";true")
    serious, others = {}, {}
    for tab in TABS:
        if tab != "overview":
            show_tab(browser, tab)
        # The tab as it opens, then with every chart's data table shown.
        for when in ("drawn", "data"):
            if when == "data":
                assert open_data_sections(browser) > 0, tab
            for v in browser.evaluate(_AXE_RUN % "document"):
                bucket = serious if v["impact"] in ("serious", "critical") else others
                bucket.setdefault(f"{tab} ({when}): {v['id']} [{v['impact']}]", v["nodes"])
    print("axe moderate/minor:", json.dumps(others, indent=1))
    assert not serious, json.dumps(serious, indent=1)
    assert not unexpected_errors(browser.exceptions)


_SEMANTICS = """
(() => {
  const list = document.querySelector('[role=tablist]');
  const tabs = [...list.querySelectorAll('[role=tab]')];
  return {
    lang: document.documentElement.lang,
    h1: [...document.querySelectorAll('h1')].map(h => h.textContent.trim()),
    h2: [...document.querySelectorAll('.tab-pane > .container-fluid > h2')].map(h => h.textContent.trim()),
    main: document.querySelectorAll('main, [role=main]').length,
    header_nav: !!document.querySelector('header nav'),
    filters_region: !!document.querySelector('section[aria-label=Filters] #filters-dates'),
    tabs: tabs.map(a => {
      const panel = document.getElementById(a.getAttribute('aria-controls'));
      return {value: a.dataset.value, selected: a.getAttribute('aria-selected'), tabindex: a.getAttribute('tabindex'),
              panel_role: panel && panel.getAttribute('role'),
              labelled_by_tab: panel && panel.getAttribute('aria-labelledby') === a.id,
              panel_active: panel && panel.classList.contains('active')};
    }),
  };
})()
"""


def key(browser, name: str, code: int, text: str | None = None) -> None:
    """A real key press (down and up) sent to the focused element."""
    params = {"key": name, "code": name if len(name) > 1 else f"Key{name.upper()}", "windowsVirtualKeyCode": code}
    browser.call("Input.dispatchKeyEvent", type="keyDown", **params, **({"text": text} if text else {}))
    browser.call("Input.dispatchKeyEvent", type="keyUp", **params)


def test_tabs_headings_and_landmarks(demo_app, browser):
    open_app(browser, demo_app["url"])
    s = browser.evaluate(_SEMANTICS)
    assert s["lang"] == "en"
    assert s["h1"] == ["Clickstream"]
    titles = ["Overview", "Funnel", "Revenue", "Checkout", "Custom funnel", "Products", "User journeys", "Clicks",
              "Retention", "Customers", "Site search", "Trends", "Data health"]
    assert s["h2"] == titles  # one per tab, in the tabs' order
    assert s["main"] == 1 and s["header_nav"] and s["filters_region"]
    assert [t["value"] for t in s["tabs"]][:2] == ["overview", "funnel"]
    for t in s["tabs"]:
        on = t["value"] == "overview"
        assert t == {**t, "selected": "true" if on else "false", "tabindex": "0" if on else "-1",
                     "panel_role": "tabpanel", "labelled_by_tab": True, "panel_active": on}, t
    # Clicking a tab moves aria-selected; the arrow keys move between tabs.
    show_tab(browser, "funnel")
    s = browser.evaluate(_SEMANTICS)
    assert [t["value"] for t in s["tabs"] if t["selected"] == "true"] == ["funnel"]
    browser.evaluate("document.querySelector('[role=tab][data-value=funnel]').focus()")
    key(browser, "ArrowRight", 39)
    wait_tab(browser, "revenue")
    s = browser.evaluate(_SEMANTICS)
    assert [t["value"] for t in s["tabs"] if t["selected"] == "true"] == ["revenue"]
    assert browser.evaluate("document.activeElement.dataset.value") == "revenue"


_FOCUSED = """
(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'body';
  if (el.classList.contains('bslib-full-screen-enter')) return 'expand:' + el.getAttribute('aria-label');
  if (el.classList.contains('shiny-download-link')) return 'csv:' + el.id;
  if (el.tagName === 'SUMMARY') return 'data:' + el.closest('.card').querySelector('.dw-card-title').textContent;
  if (el.closest('#filters-dates')) return 'date';
  if (el.getAttribute('role') === 'combobox') return 'select:' + el.getAttribute('aria-labelledby');
  if (el.getAttribute('role') === 'tab') return 'tab:' + el.dataset.value;
  return el.tagName.toLowerCase() + ':' + (el.id || el.className);
})()
"""


def tab_until(browser, prefix: str, limit: int = 60) -> list[str]:
    """Press Tab until the focused element's description starts with `prefix`; the path taken."""
    seen = []
    for _ in range(limit):
        key(browser, "Tab", 9)
        seen.append(browser.evaluate(_FOCUSED))
        if seen[-1].startswith(prefix):
            return seen
    raise AssertionError(f"the Tab key never reached {prefix!r}: {seen}")


def test_keyboard_reaches_filters_tabs_expand_data_and_csv(demo_app, browser):
    open_app(browser, demo_app["url"])
    browser.evaluate("document.activeElement && document.activeElement.blur(); window.focus()")
    path = tab_until(browser, "expand:")
    assert path[-1] == "expand:Expand: Sessions"
    assert path[-2] == "data:Sessions"  # the card's Data section, then its Expand control
    assert "date" in path and "tab:overview" in path
    assert {"select:filters-channel-label", "select:filters-device_type-label"} <= set(path)
    assert not [p for p in path if p.startswith("tab:") and p != "tab:overview"]  # one tab stop for the tab list
    # Enter opens the card full screen with focus on its Close control; Escape returns.
    key(browser, "Enter", 13, "\r")
    browser.wait_for("!!document.querySelector('.card.bslib-full-screen')")
    browser.wait_for("document.activeElement.classList.contains('bslib-full-screen-exit')")
    key(browser, "Escape", 27)
    browser.wait_for("!document.querySelector('.card.bslib-full-screen')")
    browser.wait_for("document.activeElement.classList.contains('bslib-full-screen-enter')")
    # The next chart's Data section opens with Enter, and its CSV download is next in the Tab order.
    assert tab_until(browser, "data:", limit=1) == ["data:Sessions with a purchase"]
    key(browser, "Enter", 13, "\r")
    browser.wait_for("document.activeElement.closest('details').open")
    assert tab_until(browser, "csv:", limit=1) == ["csv:overview-trend_purchases_csv"]
    assert not unexpected_errors(browser.exceptions)


# Every download link in the active tab with the rows of the table in its card (or Data section).
_CSV_AND_TABLES = """
(async () => {
  const pane = document.querySelector('.tab-pane.active');
  const out = [];
  // (the comparison's CSV, hidden while it is off, is checked by its own test)
  for (const a of [...pane.querySelectorAll('a.shiny-download-link')].filter(a => a.offsetParent)) {
    const box = a.closest('details.dw-data') || a.closest('.card');
    const widget = box.querySelector('.datatables.html-widget-output');
    const table = $(widget).find('table.dataTable').DataTable();
    const rows = table.rows().data().toArray();
    const headers = table.columns().header().toArray().map(h => h.textContent);
    const href = a.getAttribute('href');
    const text = href && href !== '#' ? await (await fetch(href)).text() : null;
    out.push({id: a.id, headers, rows, csv: text});
  }
  return out;
})()
"""


def same_value(shown, written: str) -> bool:
    if shown is None:
        return written in ("", "NA")
    if isinstance(shown, (int, float)) and not isinstance(shown, bool):
        return written != "" and abs(float(written) - shown) <= 1e-9 * max(1.0, abs(shown))
    return html.unescape(str(shown)) == written  # DT holds text HTML-escaped; the CSV holds it as it is


def test_every_csv_holds_the_rows_its_table_shows(demo_app, browser):
    open_app(browser, demo_app["url"])
    checked = {}
    for tab in TABS:
        if tab != "overview":
            show_tab(browser, tab)
        open_data_sections(browser)
        browser.wait_for("[...document.querySelectorAll('.tab-pane.active a.shiny-download-link')]"
                         ".filter(a => a.offsetParent).every(a => (a.getAttribute('href') || '#') !== '#')", 30)
        for item in browser.evaluate(_CSV_AND_TABLES):
            assert item["csv"] is not None, (tab, item["id"])
            written = list(csv.reader(io.StringIO(item["csv"])))
            header, body = written[0], written[1:]
            # The table's visible columns come first; hidden ones (.n counts for greyed rates) are not written.
            shown_headers = [h for h in item["headers"] if not h.startswith(".")]
            assert header == shown_headers, (tab, item["id"], header, shown_headers)
            assert len(body) == len(item["rows"]), (tab, item["id"])
            for shown, row in zip(item["rows"], body, strict=True):
                assert all(same_value(v, w) for v, w in zip(shown[:len(header)], row, strict=True)), \
                    (tab, item["id"], shown, row)
            checked[item["id"]] = len(body)
    # Every chart's Data section and every table has its CSV, and they hold rows.
    assert len(checked) >= 30, checked
    assert {"overview-trend_sessions_csv", "funnel-breakdown_table_csv", "revenue-table_csv",
            "checkout-segment_table_csv", "trends-heatmap_csv"} <= set(checked)
    assert checked["trends-heatmap_csv"] == 7
    assert all(n > 0 for i, n in checked.items() if not i.startswith("health-")), checked


_VIEW = """
(() => ({
  tab: document.querySelector('[role=tab][aria-selected=true]').dataset.value,
  dates: [...document.querySelectorAll('#filters-dates input')].map(i => i.value),
  channel: $('#filters-channel').val(),
  device: $('#filters-device_type').val(),
  breakdown: $('#funnel-breakdown').val(),
  conversion: document.querySelector('#funnel-conversion').textContent.trim(),
  first_segment: [...document.querySelectorAll('#funnel-breakdown_table tbody tr:first-child td')]
    .map(td => td.textContent).join('|'),
}))()
"""


def test_a_shared_link_reopens_the_same_view(demo_app, browser):
    open_app(browser, demo_app["url"])
    show_tab(browser, "funnel")
    end = browser.evaluate("document.querySelectorAll('#filters-dates input')[1].value")
    start = (date.fromisoformat(end) - timedelta(days=13)).isoformat()
    choose_dates(browser, start, end)
    browser.evaluate("$('#filters-channel')[0].selectize.setValue(['organic_search', 'direct'])")
    browser.evaluate("$('#funnel-breakdown')[0].selectize.setValue('device_type')")
    browser.wait_for("location.search.includes('device_type') && location.search.includes('organic_search')", 30)
    wait_tab(browser, "funnel")
    before = browser.evaluate(_VIEW)
    url = browser.evaluate("location.href")
    assert "_inputs_" in url and "tab=" in url
    # "Copy link" puts exactly that address on the clipboard and says so.
    origin = browser.evaluate("location.origin")
    browser.call("Browser.grantPermissions", origin=origin,
                 permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
    browser.evaluate("document.getElementById('dw-share-status').textContent = ''")
    browser.evaluate("document.querySelector('.dw-copy-link').click()")
    assert browser.wait_for("document.getElementById('dw-share-status').textContent", 10) == "Link copied"
    assert browser.evaluate("navigator.clipboard.readText()") == url
    assert before["channel"] == ["organic_search", "direct"] and before["breakdown"] == "device_type"
    assert before["dates"] == [start, end]
    with Browser() as fresh:
        fresh.navigate(url)
        fresh.wait_for("!!(window.Shiny && Shiny.shinyapp && Shiny.shinyapp.isConnected())", 60)
        wait_tab(fresh, "funnel")
        after = fresh.evaluate(_VIEW)
        assert not unexpected_errors(fresh.exceptions)
    # A multiple choice comes back in the order of its choices: the same filter.
    assert {**after, "channel": sorted(after["channel"])} == {**before, "channel": sorted(before["channel"])}
    assert before["first_segment"]  # a figure, not an empty table
    # ?tab=<id> (links from runbooks) still opens a tab.
    open_app(browser, demo_app["url"], tab="trends")


def test_segment_comparison_on_the_funnel_matches_the_warehouse(demo_app, browser):
    open_app(browser, demo_app["url"], tab="funnel")
    # Off by default: nothing drawn or computed for it.
    assert browser.evaluate("document.getElementById('funnel-compare').checked") is False
    assert browser.evaluate("document.getElementById('funnel-compare_table').innerHTML.trim()") == ""
    start, end = browser.evaluate("[...document.querySelectorAll('#filters-dates input')].map(i => i.value)")
    browser.evaluate("$('#funnel-compare').prop('checked', true).trigger('change')")
    browser.wait_for("!!$('#funnel-a_channel')[0].selectize")
    browser.evaluate("$('#funnel-a_channel')[0].selectize.setValue(['direct'])")
    browser.evaluate("$('#funnel-b_device_type')[0].selectize.setValue(['mobile'])")
    browser.wait_for("(document.querySelector('#funnel-compare_table caption') || {}).textContent"
                     " === 'A: Channel: Direct. B: Device: Mobile. Change: B against A.'"
                     " && !document.documentElement.classList.contains('shiny-busy')", 30)
    rows = browser.evaluate("""[...document.querySelectorAll('#funnel-compare_table tbody tr')]
        .map(tr => [...tr.children].map(c => c.textContent.trim()))""")
    conn = demo_app["server"].connect(demo_app["database"])
    try:
        counts = conn.run(
            "SELECT count(*) FILTER (WHERE channel = 'direct'), count(*) FILTER (WHERE device_type = 'mobile'),"
            " count(*) FILTER (WHERE channel = 'direct' AND reached_purchase),"
            " count(*) FILTER (WHERE device_type = 'mobile' AND reached_purchase)"
            " FROM clickstream_sessions WHERE NOT is_bot"
            " AND session_date BETWEEN CAST(:s AS date) AND CAST(:e AS date)",
            s=start, e=end)[0]
    finally:
        conn.close()
    by_figure = {r[0]: r[1:] for r in rows}
    a_sessions, b_sessions, a_buy, b_buy = counts
    assert by_figure["Sessions"][:2] == [f"{a_sessions:,}", f"{b_sessions:,}"]
    assert by_figure["Sessions with purchase"][:2] == [f"{a_buy:,}", f"{b_buy:,}"]
    change = round(100 * (b_sessions - a_sessions) / a_sessions, 1)
    arrow = "▲ +" if change > 0 else "▼ −"
    assert by_figure["Sessions"][2] == f"{arrow}{abs(change):.1f}%"
    assert by_figure["Conversion per product-view session"][2].endswith(" pp")
    # The comparison's CSV holds the same figures, as numbers.
    href = browser.evaluate("document.getElementById('funnel-compare_table_csv').getAttribute('href')")
    text = browser.evaluate(f"fetch({json.dumps(href)}).then(r => r.text())")
    written = list(csv.DictReader(io.StringIO(text)))
    assert [r["Figure"] for r in written] == [r[0] for r in rows]
    assert float(written[0]["A"]) == a_sessions and float(written[0]["B"]) == b_sessions
    # The comparison is part of the view a link keeps.
    browser.wait_for("location.search.includes('funnel-compare=true') && location.search.includes('mobile')", 30)
