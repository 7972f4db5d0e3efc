"""The derive phase: sessions, visitors and aggregates for what the load phase touched.

Each table's rows are defined by its model in sql/dw/models/; this module decides which
slices to recompute (session groups, hours, days, cohort weeks) and in which transaction, so
the result is a function of the set of events loaded, not of how they were split into runs.

Six kinds of transaction, each clearing the pending work it consumed as it commits, so an
interrupted derive is simply finished by the next run:

- sessions (``etl_pending_groups``): sessions; hands the sessions it removed and inserted on
  to ``etl_pending_visitor_sessions``, and the days whose sessions changed on to
  ``etl_pending_session_days``;
- visitors (``etl_pending_visitor_sessions``): visitors, first-visit flags, new customers and
  retention; hands the days whose conversions those sessions can touch on to
  ``etl_pending_attribution_days``, and the days whose first-visit flags changed on to
  ``etl_pending_session_days``;
- attribution (``etl_pending_attribution_days``): revenue credited to touchpoints;
- activity (``etl_pending_hours``): hourly activity and daily product engagement, from events
  alone;
- days (``etl_pending_session_days``): funnel, landing and exit pages, site search;
- transitions (``etl_pending_transition_days``): page transitions and their rollup;

the last two from the days' sessions alone.

PostgreSQL runs each statement on one core. For large runs a second connection computes half
of the session rows, then the activity, visitors, attribution and days steps, while the first computes the
other half, applies them and goes on to the transitions. The session shares meet in an
UNLOGGED work table, which the applying transaction empties.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clickstream_common import contract

from .settings import DEFAULT_ATTRIBUTION_LOOKBACK_DAYS
from .transaction import transaction

# The rows of every derived table are defined once, in sql/dw/models/ (dw_*_rows functions);
# what follows is which slices to recompute and in which transaction. Keys go to the
# functions as bound arrays: the planner then inlines the function with the array as a
# constant, and knows how many groups, hours or days it is looking up.

_GROUPS_SETUP = """
CREATE TEMP TABLE d_groups ON COMMIT DROP AS SELECT session_group FROM etl_pending_groups;
ANALYZE d_groups;
"""
# This connection's share (:part of :parts) of the pending session groups.
_GROUP_SHARE = "SELECT session_group FROM d_groups WHERE abs(hashtext(session_group) % :parts) = :part"
_SESSION_ROWS = ("INSERT INTO etl_work_sessions"
                 " SELECT * FROM dw_work_session_rows(CAST(:groups AS text[]), CAST(:stages AS text[]),"
                 " CAST(:checkout_steps AS text[]))")

_SESSION_CHANGES_SETUP = """
CREATE TEMP TABLE d_old_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, person_key, derive_signature, is_first_visit FROM clickstream_sessions WHERE false;
CREATE TEMP TABLE d_new_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, person_key, derive_signature, is_first_visit FROM clickstream_sessions WHERE false;
"""

# A statement of its own: deleting and re-inserting the same key in sibling CTEs of one
# statement may hit the unique index before the delete, since their order is unspecified.
_DELETE_SESSIONS = """
WITH old AS (
  DELETE FROM clickstream_sessions s USING d_groups g WHERE s.session_group = g.session_group
  RETURNING s.session_key, s.session_date, s.person_key, s.derive_signature, s.is_first_visit
)
INSERT INTO d_old_sessions SELECT * FROM old
"""

_REPLACE_SESSIONS = """
WITH new AS (
  INSERT INTO clickstream_sessions SELECT * FROM dw_session_rows(CAST(:run_id AS bigint), CAST(:stages AS text[]))
  RETURNING session_key, session_date, person_key, derive_signature, is_first_visit
)
INSERT INTO d_new_sessions SELECT * FROM new
"""

# A session derived again keeps its first-visit flag until the visitors step sets it: the
# funnel counted it with that flag, and the visitors step hands on the days whose flags it
# changes.
_KEEP_FIRST_VISITS = """
UPDATE clickstream_sessions s SET is_first_visit = true
FROM d_old_sessions o WHERE o.is_first_visit AND s.session_key = o.session_key
"""

_HAND_TO_VISITORS = """
INSERT INTO etl_pending_visitor_sessions
SELECT session_key, person_key, session_date, false FROM d_old_sessions
UNION ALL
SELECT session_key, person_key, session_date, true FROM d_new_sessions
"""

_VISITOR_SESSIONS_SETUP = """
CREATE TEMP TABLE d_old_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, person_key FROM etl_pending_visitor_sessions WHERE NOT is_new;
CREATE TEMP TABLE d_new_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, person_key FROM etl_pending_visitor_sessions WHERE is_new;
"""

_VISITORS_SETUP = """
CREATE TEMP TABLE d_persons ON COMMIT DROP AS
  SELECT person_key FROM d_old_sessions UNION SELECT person_key FROM d_new_sessions;
CREATE TEMP TABLE d_old_visitors ON COMMIT DROP AS
  SELECT v.person_key, v.cohort_week, v.first_channel, v.first_device_type, v.is_bot
  FROM clickstream_visitors v JOIN d_persons USING (person_key);
-- Visitors who only gained sessions, all after their first one (the usual returning
-- visitor): their row is updated from the new sessions alone, which gives what
-- dw_visitor_rows would, and no session of theirs changes its first-visit flag. Everyone
-- else is recomputed from all of their sessions.
-- The days of their first purchase before this step, for the new-customer rows.
CREATE TEMP TABLE d_customer_days ON COMMIT DROP AS
  SELECT DISTINCT (v.first_purchase_at AT TIME ZONE 'UTC')::date AS day
  FROM clickstream_visitors v JOIN d_persons USING (person_key) WHERE v.first_purchase_at IS NOT NULL;
CREATE TEMP TABLE d_added ON COMMIT DROP AS
  SELECT n.person_key, min(s.session_start) AS first_start, max(s.session_end) AS last_end,
         count(*) AS sessions, sum(s.purchases) AS orders, count(*) FILTER (WHERE s.purchases > 0) AS purchase_sessions,
         sum(s.revenue) AS revenue,
         min(dw_session_first_purchase_at(s.session_group, s.session_start, s.session_end))
           FILTER (WHERE s.purchases > 0) AS first_purchase_at
  FROM d_new_sessions n JOIN clickstream_sessions s USING (session_key)
  GROUP BY n.person_key;
DELETE FROM d_added a
WHERE EXISTS (SELECT 1 FROM d_old_sessions o WHERE o.person_key = a.person_key)
   OR NOT EXISTS (SELECT 1 FROM clickstream_visitors v
                  WHERE v.person_key = a.person_key AND v.first_seen_at < a.first_start);
CREATE TEMP TABLE d_recompute ON COMMIT DROP AS
  SELECT person_key FROM d_persons EXCEPT SELECT person_key FROM d_added;
-- Temporary tables are never auto-analyzed; without a row count the planner hashes all
-- sessions instead of looking up the touched persons' sessions by index.
ANALYZE d_persons, d_added, d_recompute, d_old_sessions, d_new_sessions;
UPDATE clickstream_visitors v
SET last_seen_at = greatest(v.last_seen_at, a.last_end), sessions = v.sessions + a.sessions, etl_run_id = :run_id,
    first_purchase_at = least(v.first_purchase_at, a.first_purchase_at), orders = v.orders + a.orders,
    purchase_sessions = v.purchase_sessions + a.purchase_sessions, revenue = v.revenue + a.revenue
FROM d_added a WHERE v.person_key = a.person_key;
DELETE FROM clickstream_visitors v USING d_recompute p WHERE v.person_key = p.person_key
"""
_RECOMPUTED_PERSONS = "SELECT person_key FROM d_recompute"
_VISITORS = """
INSERT INTO clickstream_visitors SELECT * FROM dw_visitor_rows(CAST(:persons AS text[]), CAST(:run_id AS bigint));
CREATE TEMP TABLE d_new_visitors ON COMMIT DROP AS
  SELECT v.person_key, v.cohort_week, v.first_channel, v.first_device_type, v.is_bot
  FROM clickstream_visitors v JOIN d_persons USING (person_key);
-- The funnel counts first visits: the days of sessions whose flag changed are its to recompute
-- (the days step runs after this one).
WITH flipped AS (
  UPDATE clickstream_sessions s SET is_first_visit = (s.session_key = f.first_key)
  FROM (SELECT DISTINCT ON (x.person_key) x.person_key, x.session_key AS first_key
        FROM clickstream_sessions x JOIN d_recompute USING (person_key)
        ORDER BY x.person_key, x.session_start, x.session_key) f
  WHERE s.person_key = f.person_key AND s.is_first_visit IS DISTINCT FROM (s.session_key = f.first_key)
  RETURNING s.session_date
)
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM flipped ON CONFLICT DO NOTHING;
INSERT INTO d_customer_days
SELECT DISTINCT (v.first_purchase_at AT TIME ZONE 'UTC')::date
FROM clickstream_visitors v JOIN d_persons USING (person_key) WHERE v.first_purchase_at IS NOT NULL
EXCEPT SELECT day FROM d_customer_days
"""
# The new-customer rows of the days on which a touched visitor's first purchase was, or is now.
_CUSTOMER_DAYS = "SELECT array_agg(day) FROM d_customer_days"
_CUSTOMERS = """
DELETE FROM agg_daily_new_customers WHERE first_purchase_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_new_customers SELECT * FROM dw_new_customer_rows(CAST(:days AS date[]))
"""

# Retention cells (cohort week x activity week) that can have changed: returning visitors
# touch the cells of their new sessions' weeks, not their whole cohort's history. A visitor
# whose cohort key (week, first channel, device, bot flag) changed, appeared or vanished
# moves all of their cells, under the old and the new key.
_RETENTION_CELLS = """
CREATE TEMP TABLE d_moved ON COMMIT DROP AS
  SELECT person_key FROM (SELECT * FROM d_old_visitors EXCEPT SELECT * FROM d_new_visitors) gone
  UNION
  SELECT person_key FROM (SELECT * FROM d_new_visitors EXCEPT SELECT * FROM d_old_visitors) came;
CREATE TEMP TABLE d_cells ON COMMIT DROP AS
WITH touched AS (
  SELECT person_key, session_date FROM d_old_sessions
  UNION
  SELECT person_key, session_date FROM d_new_sessions
  UNION
  SELECT s.person_key, s.session_date FROM clickstream_sessions s JOIN d_moved USING (person_key)
), cohorts AS (
  SELECT person_key, cohort_week FROM d_old_visitors
  UNION
  SELECT person_key, cohort_week FROM d_new_visitors
)
SELECT DISTINCT c.cohort_week, date_trunc('week', t.session_date)::date AS activity_week
FROM touched t JOIN cohorts c USING (person_key);
ANALYZE d_cells;
DELETE FROM agg_weekly_retention r USING d_cells c
WHERE r.cohort_week = c.cohort_week AND r.week_offset = (c.activity_week - c.cohort_week) / 7
"""
_RETENTION_WEEKS = ("SELECT array_agg(DISTINCT cohort_week), array_agg(DISTINCT activity_week) FROM d_cells")
# The changed cells, then the size of the touched cohorts' other cells.
_RETENTION = """
INSERT INTO agg_weekly_retention (cohort_week, week_offset, channel, device_type, is_bot, cohort_size, active_visitors)
SELECT r.* FROM dw_weekly_retention_rows(CAST(:cohort_weeks AS date[]), CAST(:activity_weeks AS date[])) r
JOIN d_cells c ON c.cohort_week = r.cohort_week AND (c.activity_week - c.cohort_week) / 7 = r.week_offset;
UPDATE agg_weekly_retention r SET cohort_size = z.cohort_size
FROM dw_retention_cohort_sizes(CAST(:cohort_weeks AS date[])) z
WHERE (r.cohort_week, r.channel, r.device_type, r.is_bot) = (z.cohort_week, z.channel, z.device_type, z.is_bot)
  AND r.cohort_size IS DISTINCT FROM z.cohort_size
"""

# Days whose sessions really changed, for the day-level aggregates. The signature digests what
# the funnel and the page aggregates read of a session, its visitor aside: a session re-derived
# only because identity stitching gave it a user keeps it. Such a session has a new visitor
# (person_key), which only the daily funnel counts: its day is the funnel's to recompute, and
# its page transitions stay as they are.
_SESSION_DAYS = """
WITH old AS (SELECT session_key, session_date, person_key, derive_signature FROM d_old_sessions),
     new AS (SELECT session_key, session_date, person_key, derive_signature FROM d_new_sessions),
     funnel_days AS (
  SELECT session_date FROM (SELECT * FROM old EXCEPT SELECT * FROM new) gone
  UNION
  SELECT session_date FROM (SELECT * FROM new EXCEPT SELECT * FROM old) came
), transition_days AS (
  SELECT session_date FROM (SELECT session_key, session_date, derive_signature FROM old
                            EXCEPT SELECT session_key, session_date, derive_signature FROM new) gone
  UNION
  SELECT session_date FROM (SELECT session_key, session_date, derive_signature FROM new
                            EXCEPT SELECT session_key, session_date, derive_signature FROM old) came
), for_transitions AS (
  INSERT INTO etl_pending_transition_days SELECT session_date FROM transition_days ON CONFLICT DO NOTHING
)
INSERT INTO etl_pending_session_days SELECT session_date FROM funnel_days ON CONFLICT DO NOTHING
"""

# Conversions whose touchpoints can have changed: those of the changed sessions' visitors in
# the lookback after each changed session, and the changed sessions' own days (a conversion
# that vanished or moved to another visitor).
_ATTRIBUTION_DAYS = """
INSERT INTO etl_pending_attribution_days
WITH touched AS (
  SELECT person_key, session_date FROM d_old_sessions
  UNION
  SELECT person_key, session_date FROM d_new_sessions
)
SELECT session_date FROM touched
UNION
SELECT c.session_date
FROM touched t JOIN clickstream_sessions c
  ON c.person_key = t.person_key AND c.session_date >= t.session_date
 AND c.session_date <= t.session_date + CAST(:lookback_days AS integer)
WHERE c.purchases > 0
ON CONFLICT DO NOTHING
"""

_ATTRIBUTION = """
DELETE FROM agg_daily_attribution WHERE conversion_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_attribution
SELECT * FROM dw_attribution_rows(CAST(:days AS date[]), CAST(:lookback_days AS integer));
DELETE FROM etl_pending_attribution_days WHERE conversion_date = ANY (CAST(:days AS date[]))
"""

SESSION_DAYS = "etl_pending_session_days"
TRANSITION_DAYS = "etl_pending_transition_days"

# Each day-level table: cleared for the days, then refilled from its model.
_FUNNEL = """
DELETE FROM agg_daily_funnel WHERE session_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_funnel SELECT * FROM dw_funnel_rows(CAST(:days AS date[]))
"""
_ENTRY_EXIT = """
DELETE FROM agg_daily_entry_exit_pages WHERE session_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_entry_exit_pages SELECT * FROM dw_entry_exit_page_rows(CAST(:days AS date[]))
"""
# Searches and what followed them, from the days' sessions and their search events.
_SEARCH = """
DELETE FROM agg_daily_search WHERE session_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_search SELECT * FROM dw_search_rows(CAST(:days AS date[]));
DELETE FROM agg_daily_search_terms WHERE session_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_search_terms SELECT * FROM dw_search_term_rows(CAST(:days AS date[]))
"""
_TRANSITIONS = """
DELETE FROM agg_page_transitions WHERE session_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_page_transitions SELECT * FROM dw_page_transition_rows(CAST(:days AS date[]));
DELETE FROM agg_daily_page_transitions_rollup WHERE session_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_page_transitions_rollup SELECT * FROM dw_page_transition_rollup_rows(CAST(:days AS date[]))
"""

_ACTIVITY_SETUP = """
CREATE TEMP TABLE d_hours ON COMMIT DROP AS SELECT activity_hour FROM etl_pending_hours;
ANALYZE d_hours;
CREATE TEMP TABLE d_event_days ON COMMIT DROP AS
  SELECT DISTINCT (activity_hour AT TIME ZONE 'UTC')::date AS activity_date FROM d_hours;
-- A purchase that names no product takes its products from the cart events of the 24 hours
-- before it (dw_product_engagement_rows): a cart event in a pending hour makes the day of such
-- a purchase after it pending too, though that may be the next day. Found from the purchases,
-- which a partial index holds, not from the hours' events.
INSERT INTO d_event_days
SELECT DISTINCT (p.event_timestamp AT TIME ZONE 'UTC')::date
FROM clickstream_events p
WHERE p.event_type = 'purchase' AND p.product_id IS NULL
  AND p.event_timestamp >= (SELECT min(activity_hour) FROM d_hours)
  AND p.event_timestamp < (SELECT max(activity_hour) FROM d_hours) + interval '25 hours'
  AND EXISTS (SELECT FROM clickstream_events c JOIN d_hours h
                ON c.event_timestamp >= h.activity_hour AND c.event_timestamp < h.activity_hour + interval '1 hour'
              WHERE c.session_group = p.session_group AND c.event_type IN ('add_to_cart', 'remove_from_cart')
                AND c.event_timestamp >= p.event_timestamp - interval '24 hours'
                AND c.event_timestamp < p.event_timestamp)
EXCEPT SELECT activity_date FROM d_event_days
"""
_ACTIVITY_KEYS = ("SELECT (SELECT array_agg(activity_hour) FROM d_hours),"
                  " (SELECT array_agg(activity_date) FROM d_event_days)")

_HOURLY = """
DELETE FROM agg_hourly_activity WHERE activity_hour = ANY (CAST(:hours AS timestamptz[]));
INSERT INTO agg_hourly_activity SELECT * FROM dw_hourly_activity_rows(CAST(:hours AS timestamptz[]))
"""
_PRODUCTS = """
DELETE FROM agg_daily_product_engagement WHERE activity_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_product_engagement
  (activity_date, product_id, product_category, product_brand, device_type, channel, login_state, is_bot,
   product_name, views, add_to_carts, checkouts, purchases, quantity_purchased, revenue)
SELECT * FROM dw_product_engagement_rows(CAST(:days AS date[]))
"""
# A partial index holds the click events, so days without any cost nothing.
_ELEMENT_CLICKS = """
DELETE FROM agg_daily_element_clicks WHERE activity_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_element_clicks SELECT * FROM dw_element_click_rows(CAST(:days AS date[]));
DELETE FROM agg_daily_element_clicks_rollup WHERE activity_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_element_clicks_rollup SELECT * FROM dw_element_click_rollup_rows(CAST(:days AS date[]))
"""
_PURCHASE_CURRENCIES = """
DELETE FROM agg_daily_purchase_currencies WHERE activity_date = ANY (CAST(:days AS date[]));
INSERT INTO agg_daily_purchase_currencies SELECT * FROM dw_purchase_currency_rows(CAST(:days AS date[]))
"""

_CLEAR_WORK = "DELETE FROM etl_work_sessions"
# All of it: the sessions step, the only writer, has committed before the visitors step starts.
_CLEAR_VISITOR_SESSIONS = "DELETE FROM etl_pending_visitor_sessions"
_CLEAR_GROUPS = "DELETE FROM etl_pending_groups p USING d_groups g WHERE p.session_group = g.session_group"
_CLEAR_HOURS = "DELETE FROM etl_pending_hours p USING d_hours h WHERE p.activity_hour = h.activity_hour"
_CLEAR_DAYS = "DELETE FROM {pending} WHERE session_date = ANY (CAST(:days AS date[]))"


@dataclass(slots=True)
class DeriveResult:
    groups: int = 0
    sessions_touched: int = 0
    hours: int = 0


def derive(connection: Any, run_id: int, fault: Any = None,
           helper: Callable[[], Any] | None = None,
           attribution_lookback_days: int = DEFAULT_ATTRIBUTION_LOOKBACK_DAYS) -> DeriveResult:
    """Recompute sessions, visitors and aggregates for the pending work.

    ``helper`` opens a second connection. Given one, it computes half of the session rows
    (by session group), then the activity aggregates, the visitors and their attribution, and
    the days' funnel and pages, while this connection computes the other half of the session rows, applies them and
    derives the days' page transitions.
    """
    result = DeriveResult()
    second = helper() if helper is not None else None
    try:
        # Rows an interrupted run may have left; nothing else writes these tables meanwhile.
        connection.run(_CLEAR_WORK)
        if second is not None:
            second.run("SET jit = off")
        with ThreadPoolExecutor(1, thread_name_prefix="etl-derive") as pool:
            rows = activity = None
            if second is not None:
                rows = pool.submit(_session_rows, second, 1, 2)
                activity = pool.submit(derive_activity, second, result)
            derive_sessions(connection, run_id, result, fault, rows)
            if fault is not None:
                fault("derive", "days")
            if second is None:
                derive_visitors(connection, run_id, attribution_lookback_days)
                derive_attribution(connection, attribution_lookback_days)
                derive_days(connection)
                derive_transition_days(connection)
                derive_activity(connection, result)
            else:
                # These read the sessions just committed; one thread runs them in this order, so
                # the days step reads the first-visit flags and pending days the visitors step left.
                visitors = pool.submit(derive_visitors, second, run_id, attribution_lookback_days)
                attribution = pool.submit(derive_attribution, second, attribution_lookback_days)
                days = pool.submit(derive_days, second)
                derive_transition_days(connection)
                assert activity is not None
                for step in (activity, visitors, attribution, days):
                    step.result()
    finally:
        if second is not None:
            with contextlib.suppress(Exception):
                second.close()
    return result


def derive_sessions(connection: Any, run_id: int, result: DeriveResult, fault: Any = None,
                    other_share: Future | None = None) -> None:
    """Sessions of the pending session groups, in one transaction; ``other_share`` is the
    second connection computing half of the session rows."""
    with _transaction(connection):
        connection.run(_GROUPS_SETUP)
        result.groups = connection.run("SELECT count(*) FROM d_groups")[0][0]
        _insert_session_rows(connection, part=0, parts=2 if other_share else 1)
        if other_share is not None:
            other_share.result()
        if not result.groups:
            return
        connection.run(_SESSION_CHANGES_SETUP)
        connection.run(_DELETE_SESSIONS)
        connection.run(_REPLACE_SESSIONS, run_id=run_id, stages=contract.funnel_stages())
        connection.run(_KEEP_FIRST_VISITS)
        connection.run(_CLEAR_WORK)
        result.sessions_touched = connection.run(
            "SELECT count(*) FROM (SELECT session_key FROM d_old_sessions"
            " UNION SELECT session_key FROM d_new_sessions) t")[0][0]
        if fault is not None:
            fault("derive", "sessions")
        connection.run(_HAND_TO_VISITORS)
        connection.run(_SESSION_DAYS)
        connection.run(_CLEAR_GROUPS)


def _insert_session_rows(connection: Any, part: int, parts: int) -> None:
    groups = [row[0] for row in connection.run(_GROUP_SHARE, part=part, parts=parts)]
    if groups:
        connection.run(_SESSION_ROWS, groups=groups, stages=contract.funnel_stages(),
                       checkout_steps=contract.checkout_steps())


def _session_rows(connection: Any, part: int, parts: int) -> None:
    """One share of the pending groups' session rows, committed to the work table."""
    with _transaction(connection):
        connection.run(_GROUPS_SETUP)
        _insert_session_rows(connection, part, parts)


def derive_visitors(connection: Any, run_id: int,
                    attribution_lookback_days: int = DEFAULT_ATTRIBUTION_LOOKBACK_DAYS) -> None:
    """Visitors, first-visit flags, new customers and retention of the sessions the sessions
    step changed, in one transaction; hands the days whose conversions these sessions touch to
    attribution, and the days whose first-visit flags changed to the days step."""
    with _transaction(connection):
        connection.run(_VISITOR_SESSIONS_SETUP)
        if not connection.run("SELECT EXISTS (SELECT FROM d_old_sessions)"
                              " OR EXISTS (SELECT FROM d_new_sessions)")[0][0]:
            return
        _run_statements(connection, _VISITORS_SETUP, run_id=run_id)
        persons = [row[0] for row in connection.run(_RECOMPUTED_PERSONS)]
        _run_statements(connection, _VISITORS, persons=persons, run_id=run_id)
        customer_days = connection.run(_CUSTOMER_DAYS)[0][0]
        if customer_days:
            _run_statements(connection, _CUSTOMERS, days=customer_days)
        _run_statements(connection, _RETENTION_CELLS)
        cohort_weeks, activity_weeks = connection.run(_RETENTION_WEEKS)[0]
        if cohort_weeks:
            _run_statements(connection, _RETENTION, cohort_weeks=cohort_weeks, activity_weeks=activity_weeks)
        connection.run(_ATTRIBUTION_DAYS, lookback_days=attribution_lookback_days)
        connection.run(_CLEAR_VISITOR_SESSIONS)


def derive_attribution(connection: Any, lookback_days: int = DEFAULT_ATTRIBUTION_LOOKBACK_DAYS) -> None:
    """Attribution of the pending conversion days, in one transaction. Reads the sessions and
    their visitors as committed; only this run writes them now (it holds the run lock)."""
    days = [row[0] for row in connection.run("SELECT conversion_date FROM etl_pending_attribution_days ORDER BY 1")]
    if days:
        with _transaction(connection):
            _run_statements(connection, _ATTRIBUTION, days=days, lookback_days=lookback_days)


def derive_activity(connection: Any, result: DeriveResult) -> None:
    """Hourly activity, daily product engagement, element clicks and purchase currencies of the
    pending hours, in one transaction."""
    with _transaction(connection):
        _run_statements(connection, _ACTIVITY_SETUP)
        hours, days = connection.run(_ACTIVITY_KEYS)[0]
        result.hours = len(hours or ())
        if result.hours:
            _run_statements(connection, _HOURLY, hours=hours)
            _run_statements(connection, _PRODUCTS, days=days)
            _run_statements(connection, _ELEMENT_CLICKS, days=days)
            _run_statements(connection, _PURCHASE_CURRENCIES, days=days)
            connection.run(_CLEAR_HOURS)


def pending_days(connection: Any, pending: str) -> list[Any]:
    """The days pending in ``pending``: one of the two tables named above, never input."""
    if pending not in (SESSION_DAYS, TRANSITION_DAYS):
        raise ValueError(f"not a pending days table: {pending!r}")
    return [row[0] for row in connection.run(f"SELECT session_date FROM {pending} ORDER BY 1")]


def derive_days(connection: Any) -> None:
    """Funnel, landing and exit pages and searches of the pending days, in one transaction."""
    _derive_pending_days(connection, SESSION_DAYS, (_FUNNEL, _ENTRY_EXIT, _SEARCH))


def derive_transition_days(connection: Any) -> None:
    """Page transitions and their rollup of the pending days, in one transaction."""
    _derive_pending_days(connection, TRANSITION_DAYS, (_TRANSITIONS,))


def _derive_pending_days(connection: Any, pending: str, scripts: tuple[str, ...]) -> None:
    # Only this run writes the pending tables now (it holds the run lock), so the days read
    # here are still pending in the transaction.
    days = pending_days(connection, pending)
    if not days:
        return
    with _transaction(connection):
        for script in scripts:
            _run_statements(connection, script, days=days)
        connection.run(_CLEAR_DAYS.format(pending=pending), days=days)


def _run_statements(connection: Any, script: str, **params: Any) -> None:
    """A script whose statements take parameters: one at a time (a parameterized statement
    cannot hold several)."""
    for statement in script.split(";\n"):
        if statement.strip():
            connection.run(statement, **{k: v for k, v in params.items() if f":{k}" in statement})


def _transaction(connection: Any) -> contextlib.AbstractContextManager[None]:
    # Window functions and hash aggregates over the touched events: keep them in memory.
    # Statements over a few touched days: JIT compilation costs more than it saves.
    return transaction(connection, work_mem="256MB", jit="off")
