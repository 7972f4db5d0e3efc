"""Real browsers on the platform exactly as `ansible-playbook site.yml` leaves it (the
`platform` fixture): the settings are the ones the playbook wrote (the ingest's origins and
dialects, the ETL's env file, the dashboards' login), not a stack the test configures itself.

- Chromium shops in the demo storefront the ingest adapter serves (same origin: the browser
  still sends Origin) and opens it as localhost too; the ETL run the way the local timer runs
  it (scripts/invoke_etl.py --local with the env file site.yml wrote) loads the sessions.
- The store owner then adds a store with the SBW Cloudworks storefront's tracker on an origin
  of its own, as the README says: site.yml again with CLICKSTREAM_EXTRA_ORIGINS and
  CLICKSTREAM_ORIGIN_DIALECTS (sbw_nextjs). Chromium shops in it (tests/e2e/sbw_store: one
  event per POST, its field names, its checkout amounts in element.dataset): revenue, the
  clicked elements, the category, the bounce, the cart's purchase and the Cognito identity
  arrive in the warehouse, and the dashboards show the revenue.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from types import SimpleNamespace

import boto3
import pg8000.native
import pytest

from tests.ansible.support import REPO
from tests.e2e.sbw_shopper import SbwVisit, bounce_on_home, buy_in_sbw_store
from tests.e2e.sbw_store_server import sbw_store
from tests.e2e.shopper import ShopperBrowser, buy_something
from tests.shiny.cdp import CdpError, chromium_path
from tests.shiny.dashboard import choose_dates, open_app, show_tab, tab_state, unexpected_errors, wait_tab
from tests.support.local import free_port
from tests.support.pg import dict_rows

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.browser]


@pytest.fixture(scope="module")
def site(platform):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/bootstrap.sh installs it)")
    if platform["runs"][-1].returncode != 0:
        pytest.skip("site.yml did not converge (test_converge.py says why)")
    state, ports = platform["state"], platform["ports"]
    env = dict(line.split("=", 1) for line in (state / "etl.env").read_text().splitlines() if "=" in line)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return SimpleNamespace(state=state, ports=ports, env=env, s3=s3, bucket=env["RAW_BUCKET_NAME"],
                           shop=f"http://127.0.0.1:{ports['ingest']}", converge_again=platform["converge_again"])


def run_etl(site) -> dict:
    """The ETL as the local timer runs it; a run of the timer itself may hold the lock."""
    for _ in range(20):
        done = subprocess.run([sys.executable, "scripts/invoke_etl.py", "--local", "--env-file",
                               str(site.state / "etl.env"), "--no-progress"],
                              cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        summary = json.loads(done.stdout) if done.stdout.strip() else {}
        if done.returncode == 0 and summary.get("status") == "succeeded":
            return summary
        if summary.get("status") != "skipped":
            raise AssertionError(f"the ETL exited with {done.returncode}: {done.stdout}\n{done.stderr[-3000:]}")
        time.sleep(3)
    raise AssertionError("the ETL was skipped 20 times: the warehouse lock is held")


def rows(site, sql: str, **params) -> list[dict]:
    """Query the warehouse as the ETL's login, with the password file site.yml wrote."""
    # verify-full with the deployment's CA, as the ETL does (the env file names the CA file).
    context = ssl.create_default_context(cafile=site.env["DW_PG_SSL_ROOT_CERT"])
    conn = pg8000.native.Connection(site.env["DW_PG_USER"], host=site.env["DW_PG_HOST"],
                                    port=int(site.env["DW_PG_PORT"]), database=site.env["DW_PG_DATABASE"],
                                    password=(site.state / "secrets" / "dw__etl_password").read_text().strip(),
                                    ssl_context=context)
    try:
        return dict_rows(conn, sql, **params)
    finally:
        conn.close()


def raw_records(site, session_ids: set[str], names: set[str], timeout: float = 20.0) -> list[dict]:
    """The records the ingest stored for these sessions, once every one of `names` is there."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for page in site.s3.get_paginator("list_objects_v2").paginate(Bucket=site.bucket, Prefix="events/"):
            for item in page.get("Contents", []):
                body = site.s3.get_object(Bucket=site.bucket, Key=item["Key"])["Body"].read().decode()
                found += [r for r in map(json.loads, filter(str.strip, body.split("\n")))
                          if r.get("sessionId") in session_ids]
        if names <= {r.get("eventName") for r in found} or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


# --- the demo storefront, served by the platform ----------------------------------------------

@pytest.fixture(scope="module")
def own_visit(site):
    with ShopperBrowser() as browser:
        visit = buy_something(browser, site.shop)
        browser.navigate(f"http://localhost:{site.ports['ingest']}/index.html")
        browser.wait_until("document.body && document.body.getAttribute('data-ready') === 'true'",
                           "the storefront on localhost")
        local_session = browser.evaluate("Shop.tracker.sessionId()")
        browser.wait_until("Shop.tracker.whenIdle().then(() => Shop.tracker.queueLength() === 0)",
                           "the tracker to send the localhost page view")
        stats = browser.evaluate("Shop.tracker.stats()")
        console = list(browser.console)
    raw = raw_records(site, visit.session_ids | {local_session}, {"purchase", "page_view"})
    return SimpleNamespace(visit=visit, local_session=local_session, stats=stats, console=console, raw=raw,
                           etl=run_etl(site))


def test_the_storefront_s_own_events_are_accepted(own_visit):
    # Before: every POST from the page was refused with 403 origin_not_allowed.
    assert own_visit.stats.get("rejected") == 0 and own_visit.stats.get("dropped") == 0, own_visit.stats
    assert not [line for line in own_visit.console if "403" in line], own_visit.console
    assert {r["_ingest"]["dialect"] for r in own_visit.raw} == {"clickstream"}
    assert own_visit.etl["events_rejected"] == 0, own_visit.etl


def test_the_shopper_s_session_is_in_the_warehouse_after_the_next_etl_run(site, own_visit):
    visit = own_visit.visit
    (session,) = rows(site, "SELECT session_id, funnel_stage_name, revenue, is_bot, landing_page"
                      " FROM clickstream_sessions WHERE client_id = :c AND session_id = ANY(:s)",
                      c=visit.client_id, s=list(visit.session_ids))
    assert (session["funnel_stage_name"], session["revenue"], session["is_bot"]) == (
        "purchase", visit.order_total, False)
    assert session["landing_page"] == "/"  # /index.html, by the ETL's page path rule


def test_the_storefront_on_localhost_is_the_same_storefront(site, own_visit):
    found = rows(site, "SELECT count(*) AS events, min(page_url) AS url FROM clickstream_events"
                       " WHERE session_id = :s AND event_type = 'page_view'", s=own_visit.local_session)
    assert found[0]["events"] >= 1 and found[0]["url"].startswith("http://localhost:"), found


# --- a store with the SBW storefront's tracker, on an origin of its own -----------------------

@pytest.fixture(scope="module")
def sbw(site, own_visit):
    store_port = free_port()
    origin = f"http://127.0.0.1:{store_port}"
    # Before the owner names the store, the platform refuses its browser's events.
    refused = urllib.request.Request(f"{site.shop}/clickstream", method="POST", data=b"{}",
                                     headers={"Origin": origin, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(refused, timeout=10)
    assert caught.value.code == 403
    again = site.converge_again(CLICKSTREAM_EXTRA_ORIGINS=origin, CLICKSTREAM_ORIGIN_DIALECTS=f"{origin}=sbw_nextjs")
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-2000:]
    endpoint = f"{site.shop}/clickstream"  # cross-origin: the store and the API are apart
    with sbw_store(store_port, endpoint) as served:
        assert served == origin
        with ShopperBrowser() as browser:
            bought = buy_in_sbw_store(browser, origin)
        with ShopperBrowser() as browser:  # a new visitor, who lands on the home page and leaves
            bounced = bounce_on_home(browser, origin)
    failed = [r for v in (bought, bounced) for r in v.requests if r.get("status") != 200]
    assert not failed, failed
    sessions = bought.session_ids | bounced.session_ids
    raw = raw_records(site, sessions, {"checkout_complete", "home_view"})
    return SimpleNamespace(bought=bought, bounced=bounced, raw=raw, etl=run_etl(site))


def _events(site, visit: SbwVisit) -> list[dict]:
    return rows(site, "SELECT * FROM clickstream_events WHERE client_id = :c ORDER BY event_timestamp, event_id",
                c=visit.client_id)


def test_every_sbw_event_is_loaded_in_its_dialect(site, sbw):
    sent = len(sbw.bought.events) + len(sbw.bounced.events)
    assert len(sbw.raw) == sent
    assert {r["_ingest"]["dialect"] for r in sbw.raw} == {"sbw_nextjs"}  # named by the inventory, per origin
    events = _events(site, sbw.bought) + _events(site, sbw.bounced)
    assert len(events) == sent
    assert {e["dialect"] for e in events} == {"sbw_nextjs"}
    assert not rows(site, "SELECT * FROM etl_rejected_events WHERE raw_line LIKE :c", c=f"%{sbw.bought.client_id}%")


def test_the_checkout_carries_its_revenue(site, sbw):
    visit = sbw.bought
    (purchase,) = [e for e in _events(site, visit) if e["event_type"] == "purchase"]
    # checkout_complete sends the total only as element.dataset.total, a string.
    assert (purchase["event_name"], purchase["value"], purchase["currency"]) == (
        "checkout_complete", visit.order_total, "VND")
    assert purchase["transaction_id"] is None  # the storefront sends orderId and orderNumber empty
    (session,) = rows(site, "SELECT * FROM clickstream_sessions WHERE client_id = :c AND reached_purchase",
                      c=visit.client_id)
    assert (session["revenue"], session["purchases"], session["funnel_stage_name"]) == (
        visit.order_total, 1, "purchase")
    (begin,) = [e for e in _events(site, visit) if e["event_type"] == "begin_checkout"]
    assert begin["value"] == visit.order_total


def test_the_cart_gives_the_purchased_products(site, sbw):
    visit = sbw.bought
    engagement = {r["product_id"]: r for r in rows(
        site, "SELECT product_id, sum(purchases) AS purchases, sum(quantity_purchased) AS quantity,"
              " sum(revenue) AS revenue, sum(add_to_carts) AS adds FROM agg_daily_product_engagement"
              " WHERE product_id = ANY(:p) GROUP BY product_id", p=visit.viewed_products)}
    (bought,) = visit.products  # the second product was taken out of the cart with its trash icon
    removed = next(p for p in visit.viewed_products if p != bought)
    # One add_to_cart_click for the product (its quantity buttons send only a click): the cart
    # holds it once, and it is the whole order's revenue.
    assert (engagement[bought]["purchases"], engagement[bought]["quantity"], engagement[bought]["revenue"]) == (
        1, 1, visit.order_total)
    assert (engagement[removed]["purchases"], engagement[removed]["adds"]) == (0, 1)


def test_clicked_elements_are_kept(site, sbw):
    events = _events(site, sbw.bought)
    sent_clicks = [e for e in sbw.bought.events if e["eventName"] == "click"]
    clicks = [e for e in events if e["event_type"] == "click"]
    assert len(clicks) == len(sent_clicks)
    by_text = {(c["element_tag"], c["element_text"]) for c in clicks}
    for sent in sent_clicks:
        element = sent.get("element") or {}
        if element.get("tag"):
            assert (element["tag"], element.get("text")) in by_text, element
    # The two toggles may carry the same millisecond, and then no order is stored between them.
    wishlist = sorted(((e["event_type"], e["element_dataset"]) for e in events if e["event_name"] == "wishlist_toggle"),
                      key=lambda pair: pair[0])
    assert wishlist == [("add_to_wishlist", {"toggledOn": "true"}), ("remove_from_wishlist", {"toggledOn": "false"})]
    (checkout,) = [e for e in events if e["event_name"] == "checkout_start"]
    assert checkout["element_dataset"]["itemCount"] == "1"
    per_page = rows(site, "SELECT page_path, sum(clicks) AS clicks FROM agg_daily_element_clicks GROUP BY page_path")
    assert sum(r["clicks"] for r in per_page) >= len(clicks)


def test_a_category_view_is_a_list_not_a_product(site, sbw):
    visit = sbw.bought
    (view,) = [e for e in _events(site, visit) if e["event_name"] == "category_view"]
    assert (view["event_type"], view["product_id"], view["item_list_id"]) == (
        "view_item_list", None, visit.category_slug)
    assert not rows(site, "SELECT 1 FROM agg_daily_product_engagement WHERE product_id = :p", p=visit.category_slug)


def test_a_home_landing_that_leaves_is_a_bounce(site, sbw):
    assert sbw.bounced.names() == ["page_view", "home_view"]  # one page load, two events
    (session,) = rows(site, "SELECT page_view_count, is_bounce, is_engaged FROM clickstream_sessions"
                            " WHERE client_id = :c", c=sbw.bounced.client_id)
    assert (session["page_view_count"], session["is_bounce"]) == (1, True)


def test_product_prices_are_prices(site, sbw):
    views = [e for e in _events(site, sbw.bought) if e["event_type"] == "view_item"]
    sent = {e["product"]["id"]: e["product"] for e in sbw.bought.events if e["eventName"] == "product_view"}
    for view in views:
        product = sent[view["product_id"]]
        if product.get("discountPrice"):  # a percentage: the price paid is price, the list price above it
            assert view["product_discount_price"] == Decimal(product["price"])
            listed = Decimal(product["price"]) * 100 / (100 - Decimal(product["discountPrice"]))
            assert view["product_price"] == listed.quantize(Decimal(1))
        else:
            assert (view["product_price"], view["product_discount_price"]) == (Decimal(product["price"]), None)
    assert any(sent[v["product_id"]].get("discountPrice") for v in views)


def test_the_signed_in_shopper_is_a_cognito_user(site, sbw):
    visit = sbw.bought
    events = _events(site, visit)
    signed_in = [e for e in events if e["user_id"] is not None]
    assert signed_in and {(e["user_id"], e["identity_source"]) for e in signed_in} == {(visit.user_id, "cognito")}
    assert all(e["identity_source"] is None for e in events if e["user_id"] is None)
    (mapped,) = rows(site, "SELECT user_id FROM clickstream_identity_map WHERE client_id = :c", c=visit.client_id)
    assert mapped["user_id"] == visit.user_id
    sessions = rows(site, "SELECT user_id, login_state FROM clickstream_sessions WHERE client_id = :c",
                    c=visit.client_id)
    assert {(s["user_id"], s["login_state"]) for s in sessions} == {(visit.user_id, "logged_in")}


def _money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.]", "", text))


def test_the_dashboards_show_the_checkout_s_revenue(site, sbw, own_visit):
    """The platform's own Shiny app, as its read-only login sees the warehouse. Its cache is
    checked every 60 seconds, so the figures may take that long to follow the ETL run."""
    expected = rows(site, "SELECT sum(revenue) AS revenue FROM agg_daily_funnel WHERE NOT is_bot"
                          " AND session_date > current_date - 28")[0]["revenue"]
    start, today = [str(d) for d in rows(site, "SELECT current_date - 27 AS s, current_date AS t")[0].values()]
    assert expected >= sbw.bought.order_total + own_visit.visit.order_total
    url = f"http://127.0.0.1:{site.ports['shiny']}/"
    with ShopperBrowser() as browser:
        deadline = time.monotonic() + 150
        while True:
            open_app(browser, url, timeout=90)
            # Today is not complete, so the default range leaves it out: the shopper picks it,
            # as a store owner checking a purchase just made would.
            choose_dates(browser, start, today)
            time.sleep(1)
            wait_tab(browser, "overview", timeout=90)
            shown = tab_state(browser)["kpis"].get("revenue", "")
            if shown and _money(shown) == expected.quantize(Decimal("0.01")):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the Overview shows revenue {shown!r}, the warehouse holds {expected}")
            time.sleep(10)
        show_tab(browser, "funnel", timeout=90)
        funnel = tab_state(browser)
        revenue_text = browser.evaluate(
            "(() => { const el = document.querySelector('#funnel-revenue'); return el && el.textContent; })()")
        try:
            exceptions = unexpected_errors(browser.exceptions)
        except CdpError:
            exceptions = []
    assert not funnel["errors"], funnel["errors"]
    shown_on_funnel = re.match(r"Revenue: ([\d,.]+) from", revenue_text or "")
    assert shown_on_funnel and _money(shown_on_funnel.group(1)) == expected.quantize(Decimal("0.01")), revenue_text
    assert not exceptions, exceptions
