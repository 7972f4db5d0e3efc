"""Invariants of any plan, whatever the seed and the mix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickstream_common import contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.simulate.model import Planner, TrafficConfig
from toolkit.simulate.send import stamp

shares = st.floats(min_value=0.0, max_value=1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**63), bot=shares, ret=shares, dup=shares, late=shares, skew=shares,
       login=shares, live=st.floats(min_value=0, max_value=900), hours=st.floats(min_value=0, max_value=30),
       batching=st.sampled_from(["page", "session"]))
def test_any_plan_is_valid_ordered_and_inside_its_window(seed, bot, ret, dup, late, skew, login, live, hours,
                                                          batching):
    config = TrafficConfig(seed=seed, end=datetime(2026, 6, 1, 12, tzinfo=UTC), days=hours / 24,
                           sessions_per_day=60, live_seconds=live, live_sessions_per_second=0.05, bot_share=bot,
                           return_share=ret, duplicate_share=dup, late_share=late, skew_share=skew,
                           login_share=login, batching=batching)
    previous = None
    seen: dict[str, tuple] = {}
    for batch in Planner(config).batches():
        assert previous is None or previous <= batch.send_at
        previous = batch.send_at
        assert config.start_ts <= batch.send_at <= config.end_ts
        for event in stamp(batch, batch.send_at):
            contract.validate(event)
            created = event["clientTimestamp"] - batch.skew_ms
            # Never sent before it was created: the ETL's corrected time is never in the future.
            assert event["sentAt"] - event["clientTimestamp"] >= 0
            assert config.start_ts * 1000 <= created <= config.end_ts * 1000
            # An event id is only ever reused for the very same event (a duplicate send).
            key = (event["clientTimestamp"], event["eventName"], event["sessionId"])
            assert seen.setdefault(event["eventId"], key) == key


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31), offset=st.integers(min_value=0, max_value=10**6))
def test_the_plan_is_a_function_of_seed_and_anchor(seed, offset):
    end = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=offset)
    make = lambda: TrafficConfig(seed=seed, end=end, days=0.25, sessions_per_day=80)  # noqa: E731
    a = [(b.send_at, b.events) for b in Planner(make()).batches()]
    b = [(b.send_at, b.events) for b in Planner(make()).batches()]
    assert a == b
