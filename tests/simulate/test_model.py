"""The plan: deterministic, valid under the contract, and shaped like real shop traffic."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from clickstream_common import contract
from etl import normalize

from tests.simulate.conftest import END, config
from toolkit.simulate.model import SESSION_TIMEOUT, Planner
from toolkit.simulate.profiles import EXPECTED_CHANNEL
from toolkit.simulate.send import stamp

FUNNEL = ["view_item_list", "view_item", "add_to_cart", "begin_checkout", "purchase"]


def fingerprint(batches) -> str:
    return json.dumps([[round(b.send_at, 6), b.kind, b.user_agent, b.source_ip, b.skew_ms, b.events]
                       for b in batches], sort_keys=True)


def test_same_seed_same_traffic_other_seed_other_traffic():
    a = list(Planner(config(days=1.0)).batches())
    b = list(Planner(config(days=1.0)).batches())
    c = list(Planner(config(days=1.0, seed=12)).batches())
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_every_event_validates_against_the_contract(plan):
    _, batches = plan
    names = Counter()
    for batch in batches:
        for event in stamp(batch, batch.send_at):
            normalized = contract.validate(event)
            names[contract.canonical_event_name(normalized["event_name"])] += 1
            # The tracker's camelCase spelling, not the snake_case one.
            assert "eventName" in event and "clientTimestamp" in event and "sentAt" in event
            assert contract.is_uuid(event["eventId"])
    assert set(names) <= set(contract.canonical_events()), names
    assert {"page_view", "view_item_list", "view_item", "add_to_cart", "begin_checkout", "purchase", "login",
            "search", "click", "select_item", "view_cart"} <= set(names)


def test_batches_in_send_order_within_the_window_and_the_ingest_limits(plan):
    cfg, batches = plan
    assert [b.send_at for b in batches] == sorted(b.send_at for b in batches)
    for batch in batches:
        assert cfg.start_ts <= batch.send_at <= cfg.end_ts
        assert 1 <= len(batch.events) <= 500
        assert len(json.dumps({"events": batch.events})) < 1_048_576
        # One browser per request: the ingest stamps the request's user agent on every event.
        assert {e["clientId"] for e in batch.events} == {batch.client_id}
        created = max(e["clientTimestamp"] for e in batch.events) - batch.skew_ms
        assert created <= batch.send_at * 1000 + 1


def test_funnel_drops_off_stage_by_stage(sessions):
    humans = [s for s in sessions if not s.is_bot]
    reached = Counter()
    for s in humans:
        names = {e["eventName"] for _, e in s.events}
        reached.update(n for n in FUNNEL if n in names)
    counts = [reached[n] for n in FUNNEL[1:]]
    assert counts == sorted(counts, reverse=True), reached
    assert all(b < a for a, b in itertools.pairwise(counts)), reached
    n = len(humans)
    assert 0.6 < reached["view_item"] / n < 0.98
    assert 0.05 < reached["add_to_cart"] / n < 0.3
    assert 0.01 < reached["purchase"] / n < 0.1
    # Most list viewers are shown a list before a product; some land on a product page.
    assert 0.5 < reached["view_item_list"] / n < 1


def test_purchases_carry_order_details_matching_the_cart(sessions):
    purchases = [e for s in sessions for _, e in s.events if e["eventName"] == "purchase"]
    assert purchases
    ids = [p["transactionId"] for p in purchases]
    assert len(set(ids)) == len(ids)
    for p in purchases:
        assert p["currency"] == "EUR" and p["items"]
        items_total = round(sum(i["price"] * i["quantity"] for i in p["items"]), 2)
        assert p["shipping"] == (0.0 if items_total >= 100 else 4.99)
        assert p["value"] == pytest.approx(items_total + p["shipping"])
        assert p["userLoginState"] in ("logged_in", "guest")
    for s in sessions:
        names = [e["eventName"] for _, e in s.events]
        if "purchase" in names:
            assert "begin_checkout" in names[: names.index("purchase")]


def test_guests_log_in_mid_session_and_keep_their_client_id(sessions):
    logins = 0
    for s in sessions:
        events = [e for _, e in s.events]
        names = [e["eventName"] for e in events]
        if "login" not in names or events[0]["userId"] is not None:
            continue
        logins += 1
        at = names.index("login")
        assert all(e["userId"] is None and e["userLoginState"] != "logged_in" for e in events[:at])
        user = events[at]["userId"]
        assert user.startswith("u-") and events[at]["userLoginState"] == "logged_in"
        after = [e for e in events[at:] if e["eventName"] != "logout"]
        assert all(e["userId"] == user and e["userLoginState"] == "logged_in" for e in after)
        assert len({e["clientId"] for e in events}) == 1 and len({e["sessionId"] for e in events}) == 1
    assert logins >= 20


def test_visitors_return_over_days_and_on_other_devices(sessions):
    days_by_client = defaultdict(set)
    clients_by_user = defaultdict(set)
    first_visit = {}
    for s in sessions:
        for t, e in s.events:
            days_by_client[e["clientId"]].add(datetime.fromtimestamp(t, UTC).date())
            if e["userId"]:
                clients_by_user[e["userId"]].add(e["clientId"])
        first_visit.setdefault(s.client.id, []).append(s.events[0][1]["isFirstVisit"])
    assert sum(len(d) > 1 for d in days_by_client.values()) >= 30
    assert sum(len(c) > 1 for c in clients_by_user.values()) >= 3  # one account, several browsers
    for flags in first_visit.values():
        assert flags[0] is True and not any(flags[1:])
    returning = [s for s in sessions if s.returning]
    assert 0.15 < len(returning) / len(sessions) < 0.4


def test_sessions_have_realistic_timing(sessions):
    for s in sessions:
        times = [t for t, _ in s.events]
        assert times == sorted(times)
        assert all(b - a < SESSION_TIMEOUT for a, b in itertools.pairwise(times))
        if not s.is_bot and len(s.page_starts) > 1:
            assert times[-1] - times[0] >= 1.5  # people read a page before the next click


def test_channels_come_out_of_the_etl_as_planned(sessions):
    seen = Counter()
    for s in sessions:
        if s.is_bot:
            continue
        landing = s.events[0][1]
        host, _, utm, paid = normalize.page_parts(landing["pageUrl"])
        channel = normalize.channel_for(host, normalize.referrer_host(landing["referrer"]), utm[0], utm[1], paid)
        assert channel == EXPECTED_CHANNEL[s.channel], (s.channel, landing["pageUrl"], landing["referrer"])
        seen[channel] += 1
        query = parse_qs(urlsplit(landing["pageUrl"]).query)
        if channel == "paid_search":
            assert query["utm_medium"] == ["cpc"] and len(query["gclid"][0]) > 20
        # Pages after the landing one were reached inside the shop.
        for _, e in s.events:
            if e["pageUrl"] != landing["pageUrl"]:
                assert normalize.referrer_host(e["referrer"]) == host
    assert set(seen) == {"organic_search", "paid_search", "social", "email", "referral", "direct"}


def test_device_mix_and_bots_through_the_etl_user_agent_rules(plan):
    cfg, batches = plan
    by_client = {b.client_id: b.user_agent for b in batches}
    kinds = Counter(normalize.user_agent_parts(ua)[0] for ua in by_client.values())
    assert {"desktop", "mobile", "tablet", "bot"} <= set(kinds)
    bot_clients = {c for c, ua in by_client.items() if normalize.user_agent_parts(ua)[5]}
    bot_sessions = {e["sessionId"] for b in batches if b.client_id in bot_clients for e in b.events}
    all_sessions = {e["sessionId"] for b in batches for e in b.events}
    assert 0.5 * cfg.bot_share < len(bot_sessions) / len(all_sessions) < 2 * cfg.bot_share
    bot_events = [e for b in batches if b.client_id in bot_clients for e in b.events]
    assert not any(e["eventName"] in ("add_to_cart", "purchase") for e in bot_events)


def test_duplicates_resend_the_same_event_ids_and_late_batches_are_late(plan):
    _, batches = plan
    first_sent = {}
    duplicates = late = 0
    for b in batches:
        ids = tuple(e["eventId"] for e in b.events)
        if b.kind == "duplicate":
            duplicates += 1
            assert ids in first_sent and first_sent[ids] < b.send_at
        else:
            assert ids not in first_sent
            first_sent[ids] = b.send_at
        if b.kind == "late":
            late += 1
            created = max(e["clientTimestamp"] for e in b.events) - b.skew_ms
            assert b.send_at * 1000 - created > 60_000
    assert duplicates > 10 and late > 10


def test_skewed_clocks_are_undone_by_the_etl_correction(plan):
    """received - (sent - created) gives back the planned time whatever the client's clock."""
    _, batches = plan
    skews = {b.client_id: b.skew_ms for b in batches}
    assert sum(abs(s) > 60_000 for s in skews.values()) > 20
    for b in batches[::7]:
        received = datetime.fromtimestamp(b.send_at + 0.05, UTC)
        for e in stamp(b, b.send_at):
            created = contract.parse_timestamp(e["clientTimestamp"])
            sent = contract.parse_timestamp(e["sentAt"])
            when = normalize.event_time(received, created, sent)
            true = datetime.fromtimestamp((e["clientTimestamp"] - b.skew_ms) / 1000, UTC)
            assert abs(when - true) <= timedelta(milliseconds=51)


def test_live_window_follows_the_rate_and_stops_at_its_end():
    cfg = config(days=0.0, live_seconds=600.0, live_sessions_per_second=0.5)
    batches = list(Planner(cfg).batches())
    starts: dict[str, int] = {}
    for b in batches:
        for e in b.events:
            created = e["clientTimestamp"] - b.skew_ms
            starts[e["sessionId"]] = min(created, starts.get(e["sessionId"], created))
    assert 200 < len(starts) < 400
    assert all(END.timestamp() * 1000 <= t < cfg.end_ts * 1000 for t in starts.values())
    assert max(b.send_at for b in batches) <= cfg.end_ts


def test_history_has_a_daily_rhythm():
    cfg = config(days=7.0, sessions_per_day=300.0)
    hours = Counter()
    for s in Planner(cfg).sessions():
        hours[datetime.fromtimestamp(s.events[0][0], UTC).hour] += 1
    assert sum(hours[h] for h in range(18, 22)) > 3 * sum(hours[h] for h in range(2, 6))


def test_session_batching_sends_one_request_per_visit():
    cfg = config(days=0.5, batching="session", duplicate_share=0.0, late_share=0.0)
    batches = list(Planner(cfg).batches())
    assert len({e["sessionId"] for b in batches for e in b.events}) == len(batches)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError):
        config(bot_share=1.5)
    with pytest.raises(ValueError):
        config(end=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValueError):
        config(batching="hourly")


def test_sessions_lists_exactly_the_visits_the_batches_send():
    cfg = config(days=0.5)
    planned = {e["eventId"] for s in Planner(cfg).sessions() for _, e in s.events}
    for batching in ("page", "session"):
        sent = {e["eventId"] for b in Planner(config(days=0.5, batching=batching)).batches() for e in b.events}
        assert sent == planned
