"""What the browser tests and the benchmark do in the page: open a tab and wait until all its
charts are drawn, then read back what is on screen."""

from __future__ import annotations

import json
import time

# tab id -> the plotly trace types its charts draw when there is data
TABS: dict[str, set[str]] = {
    "overview": {"scatter"},
    "funnel": {"bar"},
    "products": {"bar"},
    "journeys": {"sankey"},
    "clicks": {"bar"},
    "retention": {"heatmap"},
    "trends": {"heatmap", "scatter"},
    "health": {"bar"},
    "revenue": {"scatter", "bar"},
    "checkout": {"bar"},
    "customers": {"scatter", "bar"},
    "search": {"bar"},
    "custom_funnel": {"bar"},
}

_READY = """
(() => {
  const pane = document.querySelector('.tab-pane.active');
  if (!pane || pane.getAttribute('data-value') !== %s) return false;
  if (document.documentElement.classList.contains('shiny-busy')) return false;
  const outputs = [...pane.querySelectorAll('.plotly.html-widget-output')];
  if (!outputs.length) return false;
  if (outputs.some(o => o.classList.contains('recalculating') || !o.querySelector('.main-svg'))) return false;
  // a chart's Data table is drawn only once its section is opened
  const tables = [...pane.querySelectorAll('.datatables.html-widget-output')]
    .filter(t => !t.closest('details.dw-data:not([open])'));
  const drawn = t => !t.classList.contains('recalculating') && t.querySelector('table.dataTable tbody tr');
  if (!tables.every(drawn)) return false;
  return true;
})()
"""

_STATE = """
(() => {
  const pane = document.querySelector('.tab-pane.active');
  const plots = [...pane.querySelectorAll('.plotly.html-widget-output')].map(o => {
    const gd = o.classList.contains('js-plotly-plot') ? o : o.querySelector('.js-plotly-plot');
    return {
      id: o.id,
      empty: o.classList.contains('empty-state') || !!(gd && gd.classList.contains('empty-state')),
      types: gd && gd.data ? gd.data.map(t => t.type || 'scatter') : [],
      points: gd && gd.data
        ? gd.data.reduce((n, t) => n + ((t.x || t.z || (t.link && t.link.value) || []).length || 0), 0) : 0,
      text: o.textContent.slice(0, 300),
      height: o.getBoundingClientRect().height,
    };
  });
  const tables = [...pane.querySelectorAll('table.dataTable tbody')].map(t => t.querySelectorAll('tr').length);
  const kpis = Object.fromEntries([...pane.querySelectorAll('.kpi')].map(k => [
    [...k.classList].find(c => c.startsWith('kpi-')).slice(4),
    (k.querySelector('.kpi-value') || k).textContent.trim()]));
  return {plots, tables, kpis, errors: [...document.querySelectorAll('.shiny-output-error')].map(e => e.textContent)};
})()
"""


# Page errors that come from the JavaScript Debian ships with r-cran-shiny/r-cran-plotly, not
# from the app: its 2014 bootstrap-datepicker auto-initialises after Shiny renamed the plugin;
# plotly's typedarray polyfill expects a Node-style GLOBAL; the R binding (4.10) reads a
# plotly.js 2.x field (_subplots.mapbox) after drawing with plotly.js 1.31. None of them stops
# a chart or an input from working (the tests check what is drawn).
KNOWN_PACKAGING_ERRORS = (
    "$(...).datepicker is not a function",
    "GLOBAL is not defined",
    "reading 'mapbox'",
)


def unexpected_errors(exceptions: list[str]) -> list[str]:
    return [e for e in exceptions if not any(k in e for k in KNOWN_PACKAGING_ERRORS)]


def open_app(browser, url: str, timeout: float = 60.0, tab: str = "overview") -> None:
    """Load the app on `tab` (?tab=) and wait until that tab is drawn."""
    browser.navigate(url if tab == "overview" else f"{url}?tab={tab}")
    browser.wait_for("!!(window.Shiny && Shiny.shinyapp && Shiny.shinyapp.isConnected())", timeout)
    wait_tab(browser, tab, timeout)


def wait_tab(browser, tab: str, timeout: float = 60.0) -> None:
    # Shiny marks the page busy only once the server starts working; a short settle interval
    # keeps "not busy yet" from passing for "done".
    browser.wait_for(_READY % json.dumps(tab), timeout)
    time.sleep(0.15)
    browser.wait_for(_READY % json.dumps(tab), timeout)


def show_tab(browser, tab: str, timeout: float = 60.0) -> float:
    """Click a tab and wait for its charts; return the seconds it took."""
    started = time.perf_counter()
    browser.evaluate(f"document.querySelector('a[data-value={json.dumps(tab)}]').click()")
    browser.wait_for(_READY % json.dumps(tab), timeout, interval=0.02)
    elapsed = time.perf_counter() - started
    wait_tab(browser, tab, timeout)
    return elapsed


def choose_dates(browser, start: str, end: str) -> None:
    """Pick a date range through the input's own binding, as the date picker does."""
    browser.evaluate(f"""(() => {{ const el = document.getElementById('filters-dates');
        const binding = Shiny.inputBindings.bindingNames['shiny.dateRangeInput'].binding;
        binding.setValue(el, {{start: '{start}', end: '{end}'}});
        $(el).find('input').trigger('change'); }})()""")


def tab_state(browser) -> dict:
    return browser.evaluate(_STATE)
