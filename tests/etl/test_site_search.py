"""Site search: searches, terms and what followed them per day, against figures worked out by
hand, through the real ETL on a real warehouse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from etl.pipeline import run

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import MONDAY, WINDOW, ev, sent
from tests.support.raw import put_records

pytestmark = pytest.mark.postgres

M = MONDAY  # Monday 2026-11-02 10:00 UTC


def at(minutes):
    return M + timedelta(minutes=minutes)


def search(minutes, client, term=None):
    return ev("search", at(minutes), "/search", clientId=client, **({"searchTerm": term} if term is not None else {}))


def story():
    return [
        # x: "red shoes" twice (spelt two ways), a product view between them, then "Boots",
        # then a purchase
        ev("page_view", at(0), "/", clientId="x"),
        search(1, "x", "  Red \t Shoes "),
        ev("product_view", at(2), "/p/sku-1", clientId="x"),
        search(3, "x", "red shoes"),
        search(4, "x", "Boots"),
        ev("checkout_complete", at(5), "/checkout/done", clientId="x", transactionId="T1", value=40, currency="EUR"),
        # y: "boots", then only a page
        search(60, "y", "boots"),
        ev("page_view", at(61), "/", clientId="y"),
        # z: a product view, then a search without a term
        ev("product_view", at(120), "/p/sku-2", clientId="z"),
        search(121, "z"),
        # w: no search
        ev("page_view", at(180), "/", clientId="w"),
        # v: a 150-character term, kept as its first 100
        search(240, "v", "X" * 150),
    ]


TERMS = ("SELECT search_term, sum(searches)::int, sum(sessions)::int, sum(view_sessions)::int,"
         " sum(purchase_sessions)::int FROM agg_daily_search_terms GROUP BY 1 ORDER BY 1")
TOTALS = ("SELECT session_date, channel, device_type, login_state, is_bot, search_sessions, searches, view_sessions,"
          " purchase_sessions FROM agg_daily_search ORDER BY 1, 2, 3, 4, 5")


def test_searches_terms_and_what_followed_by_hand(raw_s3, warehouse):
    received = at(245)
    put_records(raw_s3, BUCKET, sent(story(), received), received)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        terms, totals = conn.run(TERMS), conn.run(TOTALS)
        sessions = conn.run("SELECT sum(sessions)::int FROM agg_daily_funnel")[0][0]
    assert terms == [
        ["", 1, 1, 0, 0],               # z: its product view came before the search
        ["boots", 2, 2, 0, 1],          # x bought after it (its view came before); y did neither
        ["red shoes", 2, 1, 1, 1],      # x: one session, two searches
        ["x" * 100, 1, 1, 0, 0],
    ]
    # Sessions with a search: x, y, z, v of the 5; searches 3 + 1 + 1 + 1; x viewed a product
    # and bought after its first search.
    assert totals == [[M.date(), "direct", "desktop", "anonymous", False, 4, 6, 1, 1]]
    assert sessions == 5

    # A product view of y's arrives later: "boots" was followed by a view in y's session now.
    later = at(300)
    put_records(raw_s3, BUCKET, sent([ev("product_view", at(62), "/p/sku-3", clientId="y")], later), later)
    assert run(warehouse, WINDOW, s3=raw_s3).status == "succeeded"
    with connected(warehouse) as conn:
        terms, totals = conn.run(TERMS), conn.run(TOTALS)
    assert terms[1] == ["boots", 2, 2, 1, 1]
    assert totals == [[M.date(), "direct", "desktop", "anonymous", False, 4, 6, 2, 1]]
