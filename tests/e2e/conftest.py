from __future__ import annotations

import shutil
import time
from collections import Counter
from types import SimpleNamespace

import boto3
import pytest

from tests.e2e import stack
from tests.e2e.shopper import ShopperBrowser, buy_something
from tests.shiny.cdp import chromium_path
from tests.support.local import free_port

# What the pages send on the way to an order (js/shop.js and the page scripts).
SENT_ON_THE_WAY = {"page_view", "view_item_list", "view_item", "add_to_cart", "view_cart", "begin_checkout",
                   "add_shipping_info", "purchase"}


def _require_tools() -> None:
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/bootstrap.sh installs it)")
    if shutil.which("R") is None:
        pytest.skip("R is not installed (scripts/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def platform(pg_server, tmp_path_factory):
    """moto S3, the ingest adapter, the storefront on its own origin, a scratch warehouse."""
    _require_tools()
    work = tmp_path_factory.mktemp("e2e")
    shop_port = free_port()
    shop_origin = f"http://127.0.0.1:{shop_port}"
    with (stack.moto_s3(work / "moto.log") as s3_url,
          stack.ingest(s3_url, shop_origin, work / "ingest.log") as endpoint,
          stack.storefront(shop_port, endpoint) as shop_url,
          stack.warehouse(pg_server, work) as wh):
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name=stack.REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        yield SimpleNamespace(work=work, s3_url=s3_url, s3=s3, endpoint=endpoint, shop_url=shop_url, warehouse=wh)


@pytest.fixture(scope="module")
def browser(platform):
    with ShopperBrowser() as b:
        yield b


def _wait_for_raw_zone(platform, browser, visit, timeout: float = 20.0) -> list[dict]:
    """The visit's events as the ingest stored them, once every kind the pages send is there."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [r for r in stack.raw_events(platform.s3) if r.get("sessionId") in visit.session_ids]
        missing = SENT_ON_THE_WAY - {r.get("eventName") for r in mine}
        if not missing:
            return mine
        if time.monotonic() > deadline:
            invalid = stack.raw_events(platform.s3, "invalid/")
            raise TimeoutError(
                f"after {timeout:.0f} s the raw zone lacks {sorted(missing)} for session(s) {visit.session_ids}; "
                f"it has {dict(Counter(r.get('eventName') for r in mine))}; invalid/ holds {len(invalid)} "
                f"record(s) {[r.get('reason') for r in invalid[:5]]}; tracker stats {visit.tracker_stats}; "
                f"{browser.diagnostics()}\ningest log:\n{stack._tail(platform.work / 'ingest.log', 1500)}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def journey(platform, browser):
    """A purchase made in the browser, delivered to S3 by the tracker and loaded by the ETL."""
    visit = buy_something(browser, platform.shop_url, screenshot_dir=platform.work)
    raw = _wait_for_raw_zone(platform, browser, visit)
    summary = stack.run_etl(platform.warehouse, platform.s3_url, platform.work)
    return SimpleNamespace(visit=visit, raw=raw, etl=summary)
