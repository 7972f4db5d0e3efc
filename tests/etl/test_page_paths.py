"""The page path rule (lambdas/etl/page_paths.py): its properties, its setting, and a reprocess
that applies it to rows loaded before it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from etl.normalize import PAGE_PATH_BYTES, page_parts, parse_object
from etl.page_paths import DEFAULT_RULE, PagePathRule, PagePathRuleError, normalize_path
from etl.pipeline import run
from etl.settings import ConfigurationError, Settings
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.etl.conftest import BUCKET, connected
from tests.etl.test_scenarios import MONDAY, WINDOW, ev, sent
from tests.support.raw import MOBILE_UA, put_records, snapshot

SEGMENT = st.one_of(
    st.sampled_from(["", "index.html", "INDEX.HTM", "index.htm", "cart.html", "a.htm", ".html", "x.html.html",
                     "p", "Shop", "é", "index", "html"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#"), max_size=8))
PATHS = st.lists(SEGMENT, max_size=6).map(lambda segments: "/" + "/".join(segments))
RULES = st.builds(PagePathRule,
                  index_pages=st.lists(st.sampled_from(["index.html", "index.htm", "default.aspx", "home"]),
                                       max_size=3, unique=True).map(tuple),
                  strip_extensions=st.lists(st.sampled_from([".html", ".htm", ".php", ".aspx", ".x"]), max_size=3,
                                            unique=True).map(tuple),
                  trailing_slash=st.sampled_from(["fold", "keep"]), lowercase=st.booleans())


@pytest.mark.parametrize(("path", "expected"), [
    ("/", "/"), ("/index.html", "/"), ("/INDEX.HTML", "/"), ("/index.htm", "/"), ("/cart.html", "/cart"),
    ("/cart/", "/cart"), ("/cart", "/cart"), ("/help/index.html", "/help"), ("/help/", "/help"),
    ("/a/index.html/", "/a"), ("//", "/"), ("", "/"), ("/.html", "/.html"), ("/p/sku-1", "/p/sku-1"),
    ("/Shop/Cart.HTML", "/Shop/Cart"), ("/a.html.html", "/a"),
])
def test_the_default_rule(path, expected):
    assert normalize_path(path) == expected


def test_other_options():
    keep = PagePathRule(trailing_slash="keep")
    assert [keep.normalizer(p) for p in ("/", "/cart/", "/help/index.html", "/cart.html")] == [
        "/", "/cart/", "/help/", "/cart"]
    lower = PagePathRule(lowercase=True, strip_extensions=(".php",), index_pages=("default.aspx",))
    assert [lower.normalizer(p) for p in ("/Cart.PHP", "/Shop/Default.aspx", "/x.html")] == ["/cart", "/shop",
                                                                                            "/x.html"]
    off = PagePathRule.off()
    assert [off.normalizer(p) for p in ("/index.html", "/cart/", "/cart.html", "/A")] == [
        "/index.html", "/cart/", "/cart.html", "/A"]


@settings(max_examples=400, deadline=None)
@given(PATHS, RULES)
@example("/a/index.html/index.html", DEFAULT_RULE)
@example("/x.htm.html/", DEFAULT_RULE)
def test_the_rule_is_idempotent_never_empty_and_keeps_the_root(path, rule):
    once = rule.normalizer(path)
    assert rule.normalizer(once) == once
    assert once and once.startswith("/")
    assert rule.normalizer("/") == "/"
    assert len(once) <= max(len(path), 1) or rule.lowercase  # lower case may spell a letter longer


@settings(max_examples=300, deadline=None)
@given(PATHS, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="#"), max_size=20), RULES)
def test_the_query_never_enters_the_page_path(path, query, rule):
    url = f"https://shop.example.com{path}?{query}"
    _, page_path, _, _ = page_parts(url, rule.normalizer)
    assert "?" not in page_path
    assert page_path == capped_rule(rule, path)


def capped_rule(rule, path):
    from etl.normalize import capped

    return capped(rule.normalizer(path or "/"), PAGE_PATH_BYTES)


def test_utm_parameters_still_come_from_the_query():
    host, path, utm, paid = page_parts("https://www.shop.example.com/index.html?utm_source=news&utm_medium=email"
                                       "&gclid=1")
    assert (host, path, utm[:2], paid) == ("shop.example.com", "/", ("news", "email"), True)


def test_the_setting_is_checked_with_its_name():
    base = {"RAW_BUCKET_NAME": "b", "DW_PG_HOST": "h", "DW_PG_USER": "u", "DW_PG_DATABASE": "d"}
    assert Settings.from_env(base).page_path_rule == DEFAULT_RULE
    assert Settings.from_env({**base, "ETL_PAGE_PATH_RULES": PagePathRule.off().to_json()}).page_path_rule == (
        PagePathRule.off())
    assert Settings.from_env({**base, "ETL_PAGE_PATH_RULES": '{"lowercase": true}'}).page_path_rule == (
        PagePathRule(lowercase=True))
    for bad, words in [('{"trailing_slash": "drop"}', "trailing_slash"), ('{"index_page": []}', "index_page"),
                       ('{"strip_extensions": ["html"]}', "strip_extensions"), ("fold", "not JSON"),
                       ('{"index_pages": ["a/index.html"]}', "index_pages")]:
        with pytest.raises(ConfigurationError, match=f"ETL_PAGE_PATH_RULES: .*{words}"):
            Settings.from_env({**base, "ETL_PAGE_PATH_RULES": bad})
    for rule in (DEFAULT_RULE, PagePathRule.off(), PagePathRule(lowercase=True, index_pages=())):
        assert PagePathRule.from_json(rule.to_json()) == rule
    with pytest.raises(PagePathRuleError, match="trailing_slash"):
        PagePathRule(trailing_slash="yes")


def test_parsing_applies_the_rule_to_page_paths_only():
    from tests.support.raw import record

    event = ev("page_view", MONDAY, "/index.html?utm_source=x", clientId="c1",
               referrer="https://shop.example.com/cart.html")
    body = (json.dumps(record({**event, "sentAt": event["clientTimestamp"]}, MONDAY)) + "\n").encode()
    [row] = parse_object("events/k.ndjson", body, None, timedelta(days=7)).rows
    assert (row.page_path, row.page_url, row.referrer, row.utm_source) == (
        "/", "https://shop.example.com/index.html?utm_source=x", "https://shop.example.com/cart.html", "x")
    [row] = parse_object("events/k.ndjson", body, None, timedelta(days=7), page_path_rule=PagePathRule.off()).rows
    assert row.page_path == "/index.html"


PAGE_QUERIES = {
    "event_paths": "SELECT event_id, page_path FROM clickstream_events ORDER BY event_id",
    "session_paths": "SELECT session_key, page_paths, landing_page, exit_page, page_view_count"
                     " FROM clickstream_sessions ORDER BY session_key",
}


def _page_story():
    """Two visitors who reach the same pages by other spellings."""
    m = MONDAY
    a = {"clientId": "ca", "sessionId": "sa"}
    b = {"clientId": "cb", "sessionId": "sb"}
    first = [ev("page_view", m, "/index.html", **a), ev("page_view", m + timedelta(minutes=1), "/cart.html", **a),
             ev("page_view", m + timedelta(minutes=2), "/help/index.html?x=1", **a)]
    second = [ev("page_view", m, "/", **b), ev("page_view", m + timedelta(minutes=1), "/cart/", **b),
              ev("page_view", m + timedelta(minutes=2), "/help/", **b),
              ev("page_view", m + timedelta(minutes=3), "/", clientId="cc", sessionId="sc")]
    return first, second


def _all(conn):
    tables = {name: conn.run(query) for name, query in PAGE_QUERIES.items()}
    return {**snapshot(conn), **tables}


def test_reprocessing_with_the_rule_merges_the_spellings_and_loses_nothing(raw_s3, new_warehouse):
    first, second = _page_story()
    received = MONDAY + timedelta(minutes=5)
    put_records(raw_s3, BUCKET, sent(first, received), received)
    put_records(raw_s3, BUCKET, sent(second, received, user_agent=MOBILE_UA), received)
    before_rule = replace(new_warehouse(), page_path_rule=PagePathRule.off())
    assert run(before_rule, WINDOW, s3=raw_s3).events_loaded == 7
    with connected(before_rule) as conn:
        split = conn.run("SELECT page_role, page_path, sum(sessions) FROM agg_daily_entry_exit_pages"
                         " GROUP BY 1, 2 ORDER BY 1, 2")
        assert split == [["exit", "/", 1], ["exit", "/help/", 1], ["exit", "/help/index.html", 1],
                         ["landing", "/", 2], ["landing", "/index.html", 1]]
        assert conn.run("SELECT count(DISTINCT page_path) FROM clickstream_events") == [[6]]

    # The same objects read again with the default rule: the rows they loaded are replaced.
    with_rule = replace(before_rule, page_path_rule=DEFAULT_RULE)
    again = run(with_rule, replace(WINDOW, reprocess=True), s3=raw_s3)
    assert (again.objects_loaded, again.events_loaded, again.events_duplicate) == (2, 7, 0)
    with connected(with_rule) as conn:
        reprocessed = _all(conn)
        assert conn.run("SELECT page_path, count(*) FROM clickstream_events GROUP BY 1 ORDER BY 1") == [
            ["/", 3], ["/cart", 2], ["/help", 2]]
        assert conn.run("SELECT session_key, page_paths, landing_page, exit_page FROM clickstream_sessions"
                        " ORDER BY 1") == [["sa", ["/", "/cart", "/help"], "/", "/help"],
                                           ["sb", ["/", "/cart", "/help"], "/", "/help"],
                                           ["sc", ["/"], "/", "/"]]
        assert conn.run("SELECT page_role, page_path, sum(sessions) FROM agg_daily_entry_exit_pages"
                        " GROUP BY 1, 2 ORDER BY 1, 2") == [["exit", "/", 1], ["exit", "/help", 2],
                                                            ["landing", "/", 3]]
        assert conn.run("SELECT from_page, to_page, sum(transitions), sum(sessions) FROM agg_page_transitions"
                        " GROUP BY 1, 2 ORDER BY 1, 2") == [
            ["(entrance)", "/", 3, 3], ["/", "(exit)", 1, 1], ["/", "/cart", 2, 2], ["/cart", "/help", 2, 2],
            ["/help", "(exit)", 2, 2]]
        assert conn.run("SELECT from_page, to_page, transitions, sessions FROM agg_daily_page_transitions_rollup"
                        " WHERE from_page = '/' ORDER BY 2") == [["/", "(exit)", 1, 1], ["/", "/cart", 2, 2]]
    assert reprocessed["repeated_transition_keys"] == [[0]] and reprocessed["pending"] == [[0]]

    # Nothing lost or duplicated: the warehouse is what loading with the rule from the start gives.
    fresh = new_warehouse()
    assert run(fresh, WINDOW, s3=raw_s3).events_loaded == 7
    with connected(fresh) as conn:
        assert _all(conn) == reprocessed
