"""The derive phase: sessions, visitors and aggregates for what the load phase touched.

Everything here is recomputed from stored events for the touched slices only (session
groups, hours, days, cohort weeks), so the result is a function of the set of events loaded,
not of how they were split into runs.

Five kinds of transaction, each clearing the pending work it consumed as it commits, so an
interrupted derive is simply finished by the next run:

- sessions (``etl_pending_groups``): sessions; hands the sessions it removed and inserted on
  to ``etl_pending_visitor_sessions``, and the days whose sessions changed on to
  ``etl_pending_session_days``;
- visitors (``etl_pending_visitor_sessions``): visitors, first-visit flags and retention;
- activity (``etl_pending_hours``): hourly activity and daily product engagement, from events
  alone;
- days (``etl_pending_session_days``): funnel, landing and exit pages;
- transitions (``etl_pending_transition_days``): page transitions and their rollup;

the last two from the days' sessions alone.

PostgreSQL runs each statement on one core. For large runs a second connection computes half
of the session rows, then the activity, visitors and days steps, while the first computes the
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

from .transaction import transaction

INACTIVITY = "30 minutes"
SESSION_CAP_SECONDS = 86400
# Page events are those with a page_role, which the event's tracker dialect gives
# (clickstream_common/dialects/). Each is a page view of its own, except an impression whose
# page event before it in the session is a view of the same page: our tracker sends page_view,
# then view_item on a product page (search results: page_view, search, view_item_list), and
# the SBW storefront page_view then home_view, one page view each. Trackers that name pages by
# what they show (the seed's product_view, cart_view) send the impression alone.

_GROUPS_SETUP = """
CREATE TEMP TABLE d_groups ON COMMIT DROP AS SELECT session_group FROM etl_pending_groups;
-- Counted now, so that a run touching a few thousand groups looks their events up by index.
ANALYZE d_groups;
"""

_SESSION_CHANGES_SETUP = """
CREATE TEMP TABLE d_old_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, person_key, derive_signature FROM clickstream_sessions WHERE false;
CREATE TEMP TABLE d_new_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, person_key, derive_signature FROM clickstream_sessions WHERE false;
"""

# Events of the touched groups, each with the session it belongs to. Without a client session
# id a run of activity ends after 30 minutes of silence; any run is cut every 24 h from its
# first event. Both steps are running windows over one order (group, time, id), so the events
# are sorted once; a session is a (group, run start, 24 h count) and starts at the event where
# the run starts or the count moves on.
_SEGMENTS = f"""
WITH ev AS (
  -- Only the columns sessions are built from.
  SELECT e.session_group, e.event_timestamp, e.event_id, e.session_id, e.client_id, e.user_id, e.login_state,
    e.event_type, e.page_path, e.channel, e.referrer_host, e.utm_source, e.utm_medium, e.utm_campaign,
    e.device_type, e.browser_family, e.os_family, e.is_bot, e.product_category, e.value, e.page_role,
    lag(e.event_timestamp) OVER (PARTITION BY e.session_group ORDER BY e.event_timestamp, e.event_id) AS prev_ts
  FROM clickstream_events e JOIN d_groups g USING (session_group)
  WHERE abs(hashtext(g.session_group) % :parts) = :part
), runs AS (
  SELECT ev.*, max(CASE WHEN new_run THEN event_timestamp END) OVER w AS run_start
  FROM (SELECT ev.*, prev_ts IS NULL OR (left(session_group, 2) <> 's:'
                                         AND event_timestamp - prev_ts > interval '{INACTIVITY}') AS new_run
        FROM ev) ev
  -- A running value over unique (time, id): a ROWS frame, which need not look for peers.
  WINDOW w AS (PARTITION BY session_group ORDER BY event_timestamp, event_id ROWS UNBOUNDED PRECEDING)
), sessions AS (
  SELECT runs.*,
    -- date_part, not extract: double precision rather than numeric arithmetic, per event
    floor(date_part('epoch', event_timestamp - run_start) / {SESSION_CAP_SECONDS})::int AS cap_no,
    new_run OR floor(date_part('epoch', event_timestamp - run_start) / {SESSION_CAP_SECONDS})
               <> floor(date_part('epoch', prev_ts - run_start) / {SESSION_CAP_SECONDS}) AS opens
  FROM runs
)
-- Each page event beside the one before it in its session. Already in group order, so this is
-- an incremental sort within each group, and the sessions' GROUP BY then reads its input in
-- order instead of sorting it again (the same PostgreSQL CPU in bench/bench_etl.py).
SELECT sessions.*, lag(page_role) OVER p AS prev_page_role, lag(page_path) OVER p AS prev_page_path
FROM sessions
WINDOW p AS (PARTITION BY session_group, run_start, cap_no, page_role IS NOT NULL
             ORDER BY event_timestamp, event_id)
"""

# The session's page paths in time order; its landing and exit pages are the first and last.
# (Written three times, computed once: PostgreSQL shares identical aggregate calls.)
_PAGE_PATHS = "array_agg(page_path ORDER BY event_timestamp, event_id) FILTER (WHERE page_path IS NOT NULL)"

_FUNNEL_CASE = " ".join(
    f"WHEN event_type = '{name}' THEN {index}" for index, name in enumerate(contract.funnel_stages(), start=1)
)
_NEW_PAGE = ("page_role IS NOT NULL AND (page_role = 'view'"
             " OR prev_page_role IS DISTINCT FROM 'view' OR prev_page_path IS DISTINCT FROM page_path)")

# A statement of its own: deleting and re-inserting the same key in sibling CTEs of one
# statement may hit the unique index before the delete, since their order is unspecified.
_DELETE_SESSIONS = """
WITH old AS (
  DELETE FROM clickstream_sessions s USING d_groups g WHERE s.session_group = g.session_group
  RETURNING s.session_key, s.session_date, s.person_key, s.derive_signature
)
INSERT INTO d_old_sessions SELECT * FROM old
"""

# This connection's share (:part of :parts, by session group) of the touched groups' session
# rows, in the work table.
_SESSION_ROWS = f"""
INSERT INTO etl_work_sessions
  SELECT
    CASE WHEN left(session_group, 2) = 's:'
         THEN CASE WHEN max(cap_no) = 0 THEN max(session_id) ELSE max(session_id) || '#' || max(cap_no) END
         ELSE left(session_group, 2) || md5(session_group || '|' || max(event_id::text) FILTER (WHERE opens))
    END AS session_key,
    session_group,
    max(session_id) AS session_id,
    max(client_id) FILTER (WHERE opens) AS first_client_id,
    max(client_id) AS any_client_id,
    max(user_id) FILTER (WHERE opens) AS first_user_id,
    min(user_id) AS any_user_id,
    CASE WHEN bool_or(login_state = 'logged_in') THEN 'logged_in'
         WHEN bool_or(login_state = 'guest') THEN 'guest' ELSE 'anonymous' END AS login_state,
    min(event_timestamp) AS session_start, max(event_timestamp) AS session_end,
    count(*) AS event_count,
    count(*) FILTER (WHERE {_NEW_PAGE}) AS page_view_count,
    ({_PAGE_PATHS})[1] AS landing_page,
    ({_PAGE_PATHS})[cardinality({_PAGE_PATHS})] AS exit_page,
    max(channel) FILTER (WHERE opens) AS channel,
    max(referrer_host) FILTER (WHERE opens) AS referrer_host,
    max(utm_source) FILTER (WHERE opens) AS utm_source,
    max(utm_medium) FILTER (WHERE opens) AS utm_medium,
    max(utm_campaign) FILTER (WHERE opens) AS utm_campaign,
    max(device_type) FILTER (WHERE opens) AS device_type,
    max(browser_family) FILTER (WHERE opens) AS browser_family,
    max(os_family) FILTER (WHERE opens) AS os_family,
    bool_or(is_bot) AS is_bot,
    (array_agg(product_category ORDER BY event_timestamp, event_id)
       FILTER (WHERE product_category IS NOT NULL))[1] AS product_category,
    coalesce(max(CASE {_FUNNEL_CASE} END), 0) AS funnel_stage,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    coalesce(sum(value) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
    {_PAGE_PATHS} AS page_paths,
    count(*) FILTER (WHERE page_role IS NOT NULL) AS page_event_count,
    max(event_timestamp) FILTER (WHERE event_type = 'add_to_cart') AS last_add_to_cart_at,
    max(event_timestamp) FILTER (WHERE event_type = 'purchase') AS last_purchase_at
  FROM ({_SEGMENTS}) events GROUP BY session_group, run_start, cap_no
"""

# A session has a cart when it added to it, and abandoned it when no purchase came after its
# last add_to_cart.
_HAS_CART = "a.last_add_to_cart_at IS NOT NULL"
_CART_ABANDONED = ("a.last_add_to_cart_at IS NOT NULL"
                   " AND (a.last_purchase_at IS NULL OR a.last_purchase_at < a.last_add_to_cart_at)")

_REPLACE_SESSIONS = f"""
WITH new AS (
  INSERT INTO clickstream_sessions
  SELECT a.session_key, a.session_group, a.session_id, coalesce(a.first_client_id, a.any_client_id),
    coalesce(m.user_id, a.first_user_id, a.any_user_id),
    CASE WHEN coalesce(m.user_id, a.first_user_id, a.any_user_id) IS NOT NULL
           THEN 'u:' || coalesce(m.user_id, a.first_user_id, a.any_user_id)
         WHEN coalesce(a.first_client_id, a.any_client_id) IS NOT NULL
           THEN 'c:' || coalesce(a.first_client_id, a.any_client_id)
         ELSE a.session_group END,
    a.login_state, a.session_start, a.session_end, (a.session_start AT TIME ZONE 'UTC')::date,
    floor(extract(epoch FROM a.session_end - a.session_start))::int, a.event_count, a.page_view_count,
    a.landing_page, a.exit_page, a.channel, a.referrer_host, a.utm_source, a.utm_medium, a.utm_campaign,
    a.device_type, a.browser_family, a.os_family, a.is_bot, a.product_category,
    a.page_view_count <= 1 AND a.event_count = a.page_event_count,
    extract(epoch FROM a.session_end - a.session_start) >= 10 OR a.page_view_count >= 2 OR a.funnel_stage >= 1,
    a.funnel_stage, (ARRAY[{", ".join(f"'{n}'" for n in contract.funnel_stages())}])[nullif(a.funnel_stage, 0)],
    a.funnel_stage >= 1, a.funnel_stage >= 2, a.funnel_stage >= 3, a.funnel_stage >= 4,
    a.purchases, a.revenue, false, :run_id,
    md5(concat_ws('|', a.session_start, a.session_end, a.event_count, a.page_view_count, a.landing_page,
                  a.exit_page, a.channel, a.device_type, a.login_state, a.is_bot, a.product_category,
                  a.funnel_stage, a.purchases, a.revenue, a.page_paths, a.page_event_count,
                  {_HAS_CART}, {_CART_ABANDONED})),
    a.page_paths, {_HAS_CART}, {_CART_ABANDONED}
  FROM etl_work_sessions a
  LEFT JOIN clickstream_identity_map m ON m.client_id = coalesce(a.first_client_id, a.any_client_id)
  RETURNING session_key, session_date, person_key, derive_signature
)
INSERT INTO d_new_sessions SELECT * FROM new
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

_VISITORS = """
CREATE TEMP TABLE d_persons ON COMMIT DROP AS
  SELECT person_key FROM d_old_sessions UNION SELECT person_key FROM d_new_sessions;
CREATE TEMP TABLE d_old_visitors ON COMMIT DROP AS
  SELECT v.person_key, v.cohort_week, v.first_channel, v.first_device_type, v.is_bot
  FROM clickstream_visitors v JOIN d_persons USING (person_key);
-- Visitors who only gained sessions, all after their first one (the usual returning
-- visitor): their row is updated from the new sessions alone, and no session of theirs
-- changes its first-visit flag. Everyone else is recomputed from all of their sessions.
CREATE TEMP TABLE d_added ON COMMIT DROP AS
  SELECT n.person_key, min(s.session_start) AS first_start, max(s.session_end) AS last_end,
         count(*) AS sessions
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
SET last_seen_at = greatest(v.last_seen_at, a.last_end), sessions = v.sessions + a.sessions, etl_run_id = :run_id
FROM d_added a WHERE v.person_key = a.person_key;
DELETE FROM clickstream_visitors v USING d_recompute p WHERE v.person_key = p.person_key;
INSERT INTO clickstream_visitors
SELECT DISTINCT ON (s.person_key) s.person_key,
  s.session_start,
  max(s.session_end) OVER (PARTITION BY s.person_key),
  date_trunc('week', s.session_start AT TIME ZONE 'UTC')::date,
  s.channel, s.device_type, s.is_bot,
  count(*) OVER (PARTITION BY s.person_key),
  :run_id
FROM clickstream_sessions s JOIN d_recompute USING (person_key)
ORDER BY s.person_key, s.session_start, s.session_key;
CREATE TEMP TABLE d_new_visitors ON COMMIT DROP AS
  SELECT v.person_key, v.cohort_week, v.first_channel, v.first_device_type, v.is_bot
  FROM clickstream_visitors v JOIN d_persons USING (person_key);
UPDATE clickstream_sessions s SET is_first_visit = (s.session_key = f.first_key)
FROM (SELECT DISTINCT ON (x.person_key) x.person_key, x.session_key AS first_key
      FROM clickstream_sessions x JOIN d_recompute USING (person_key)
      ORDER BY x.person_key, x.session_start, x.session_key) f
WHERE s.person_key = f.person_key AND s.is_first_visit IS DISTINCT FROM (s.session_key = f.first_key);
"""

# Retention cells (cohort week x activity week) that can have changed, recomputed from the
# sessions of those activity weeks only: returning visitors touch the cells of their new
# sessions' weeks, not their whole cohort's history. A visitor whose cohort key (week, first
# channel, device, bot flag) changed, appeared or vanished moves all of their cells, under
# the old and the new key.
_RETENTION = """
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
WHERE r.cohort_week = c.cohort_week AND r.week_offset = (c.activity_week - c.cohort_week) / 7;
INSERT INTO agg_weekly_retention (cohort_week, week_offset, channel, device_type, is_bot, cohort_size, active_visitors)
WITH weeks AS (
  SELECT DISTINCT activity_week FROM d_cells
), active AS (
  SELECT v.cohort_week, w.activity_week, v.first_channel, v.first_device_type, v.is_bot,
         count(DISTINCT v.person_key) AS active_visitors
  FROM weeks w
  JOIN clickstream_sessions s ON s.session_date >= w.activity_week AND s.session_date < w.activity_week + 7
  JOIN clickstream_visitors v USING (person_key)
  GROUP BY 1, 2, 3, 4, 5
)
SELECT a.cohort_week, (a.activity_week - a.cohort_week) / 7, a.first_channel, a.first_device_type, a.is_bot,
       0, a.active_visitors
FROM active a JOIN d_cells c USING (cohort_week, activity_week);
WITH sizes AS (
  SELECT cohort_week, first_channel, first_device_type, is_bot, count(*) AS cohort_size
  FROM clickstream_visitors
  WHERE cohort_week IN (SELECT cohort_week FROM d_old_visitors UNION SELECT cohort_week FROM d_new_visitors)
  GROUP BY 1, 2, 3, 4
)
UPDATE agg_weekly_retention r SET cohort_size = z.cohort_size
FROM sizes z
WHERE (r.cohort_week, r.channel, r.device_type, r.is_bot)
    = (z.cohort_week, z.first_channel, z.first_device_type, z.is_bot)
  AND r.cohort_size IS DISTINCT FROM z.cohort_size;
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

SESSION_DAYS = "etl_pending_session_days"
TRANSITION_DAYS = "etl_pending_transition_days"


def _days_setup(pending: str) -> str:
    """d_session_days: those of ``:days`` still pending in ``pending`` (a table named here)."""
    return f"""
CREATE TEMP TABLE d_session_days ON COMMIT DROP AS
  SELECT session_date FROM {pending} WHERE session_date = ANY(CAST(:days AS date[]));
-- Temporary tables are never auto-analyzed: without a row count the planner guesses large
-- and scans whole tables instead of the few touched days.
ANALYZE d_session_days;
"""


# The sessions of those days, counted: for a new day the planner's estimate is the average
# day's, and it would scan far more than a few thousand sessions.
_DAY_SESSIONS = """
CREATE TEMP TABLE d_day_sessions ON COMMIT DROP AS
  SELECT session_key, session_date, device_type, channel, login_state, is_bot, page_paths
  FROM clickstream_sessions WHERE session_date IN (SELECT session_date FROM d_session_days);
ANALYZE d_day_sessions;
"""

_FUNNEL = """
DELETE FROM agg_daily_funnel WHERE session_date IN (SELECT session_date FROM d_session_days);
INSERT INTO agg_daily_funnel
SELECT session_date, channel, device_type, login_state, coalesce(product_category, '(none)'), is_bot,
  count(*), count(*) FILTER (WHERE reached_view_item), count(*) FILTER (WHERE reached_add_to_cart),
  count(*) FILTER (WHERE reached_begin_checkout), count(*) FILTER (WHERE reached_purchase),
  count(*) FILTER (WHERE is_engaged), count(*) FILTER (WHERE is_bounce), sum(revenue),
  hll_add_agg(hll_hash_text(person_key), 14, 5, -1, 1),
  count(*) FILTER (WHERE has_cart), count(*) FILTER (WHERE cart_abandoned)
FROM clickstream_sessions WHERE session_date IN (SELECT session_date FROM d_session_days)
GROUP BY 1, 2, 3, 4, 5, 6;
"""

_ENTRY_EXIT = """
DELETE FROM agg_daily_entry_exit_pages WHERE session_date IN (SELECT session_date FROM d_session_days);
INSERT INTO agg_daily_entry_exit_pages
SELECT * FROM dw_entry_exit_page_rows(ARRAY(SELECT session_date FROM d_session_days));
"""

# Page steps are a session's page paths with consecutive repeats (reloads) collapsed: a path
# that differs from the one before it starts a step, and that previous path is the step it
# comes from. Each session's transitions are counted first, so that the day's rows are two
# hash aggregates rather than a sort for count(DISTINCT session): a transition row's sessions
# is its number of sessions.
_TRANSITIONS = """
DELETE FROM agg_page_transitions WHERE session_date IN (SELECT session_date FROM d_session_days);
INSERT INTO agg_page_transitions
WITH steps AS (
  SELECT s.session_key, s.session_date, s.device_type, s.channel, s.login_state, s.is_bot,
         s.page_paths[p.i - 1] AS from_page, p.page_path AS to_page
  FROM d_day_sessions s CROSS JOIN LATERAL unnest(s.page_paths) WITH ORDINALITY AS p(page_path, i)
), session_pairs AS (
  SELECT session_key, session_date, device_type, channel, login_state, is_bot,
         coalesce(from_page, '(entrance)') AS from_page, to_page, count(*) AS transitions
  FROM steps WHERE from_page IS DISTINCT FROM to_page
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
  UNION ALL
  SELECT session_key, session_date, device_type, channel, login_state, is_bot,
         page_paths[cardinality(page_paths)], '(exit)', 1
  FROM d_day_sessions WHERE cardinality(page_paths) > 0
)
SELECT session_date, from_page, to_page, device_type, channel, login_state, is_bot, sum(transitions), count(*)
FROM session_pairs GROUP BY 1, 2, 3, 4, 5, 6, 7;
DELETE FROM agg_daily_page_transitions_rollup WHERE session_date IN (SELECT session_date FROM d_session_days);
INSERT INTO agg_daily_page_transitions_rollup
SELECT * FROM dw_page_transition_rollup_rows(ARRAY(SELECT session_date FROM d_session_days));
"""

_ACTIVITY_SETUP = """
CREATE TEMP TABLE d_hours ON COMMIT DROP AS SELECT activity_hour FROM etl_pending_hours;
ANALYZE d_hours;
CREATE TEMP TABLE d_event_days ON COMMIT DROP AS
  SELECT DISTINCT (activity_hour AT TIME ZONE 'UTC')::date AS activity_date FROM d_hours;
-- A purchase that names no product takes its products from the cart events of the 24 hours
-- before it (_CART_PURCHASES): a cart event in a pending hour makes the day of such a purchase
-- after it pending too, though that may be the next day. Found from the purchases, which a
-- partial index holds, not from the hours' events.
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
EXCEPT SELECT activity_date FROM d_event_days;
ANALYZE d_event_days;
"""

_HOURLY = """
DELETE FROM agg_hourly_activity WHERE activity_hour IN (SELECT activity_hour FROM d_hours);
INSERT INTO agg_hourly_activity
SELECT date_trunc('hour', e.event_timestamp), e.event_type, e.device_type, e.channel, e.login_state, e.is_bot,
  count(*), count(DISTINCT e.client_id), count(DISTINCT e.user_id), count(DISTINCT e.session_group)
FROM d_hours h JOIN clickstream_events e
  ON e.event_timestamp >= h.activity_hour AND e.event_timestamp < h.activity_hour + interval '1 hour'
GROUP BY 1, 2, 3, 4, 5, 6;
"""

_PRODUCTS = """
DELETE FROM agg_daily_product_engagement WHERE activity_date IN (SELECT activity_date FROM d_event_days);
INSERT INTO agg_daily_product_engagement
  (activity_date, product_id, product_category, product_brand, device_type, channel, login_state, is_bot,
   product_name, views, add_to_carts, checkouts, purchases, quantity_purchased, revenue)
SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date, e.product_id, coalesce(e.product_category, '(none)'),
  coalesce(e.product_brand, '(none)'), e.device_type, e.channel, e.login_state, e.is_bot,
  (array_agg(e.product_name ORDER BY e.event_timestamp DESC, e.event_id) FILTER (WHERE e.product_name IS NOT NULL))[1],
  count(*) FILTER (WHERE e.event_type = 'view_item'),
  count(*) FILTER (WHERE e.event_type = 'add_to_cart'),
  count(*) FILTER (WHERE e.event_type = 'begin_checkout'),
  count(*) FILTER (WHERE e.event_type = 'purchase'),
  coalesce(sum(coalesce(e.quantity, 1)) FILTER (WHERE e.event_type = 'purchase'), 0),
  coalesce(sum(coalesce(e.value, coalesce(e.product_discount_price, e.product_price) * coalesce(e.quantity, 1)))
           FILTER (WHERE e.event_type = 'purchase'), 0)
FROM d_event_days d JOIN clickstream_events e
  ON e.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
 AND e.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
WHERE e.product_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
"""

# Purchases that name no product (no product, no items: the SBW storefront's checkout_complete)
# bought what was in the cart: the add_to_cart events of the purchase's session group since the
# group's previous purchase (within 24 h, a session's longest), less its remove_from_cart
# events; a removal without a quantity takes the product out of the cart. The purchase's value
# is shared among those products by their cart amounts (by quantity when no price was sent),
# so that the products' revenue adds up to the purchase's; without a value, each product's
# cart amount is its revenue.
_CART_PURCHASES = """
INSERT INTO agg_daily_product_engagement AS a
  (activity_date, product_id, product_category, product_brand, device_type, channel, login_state, is_bot,
   product_name, views, add_to_carts, checkouts, purchases, quantity_purchased, revenue)
WITH purchases AS (
  SELECT p.event_id, p.event_timestamp, p.session_group, p.value, p.device_type, p.channel, p.login_state,
         p.is_bot, (p.event_timestamp AT TIME ZONE 'UTC')::date AS activity_date,
         (SELECT max(q.event_timestamp) FROM clickstream_events q
          WHERE q.session_group = p.session_group AND q.event_type = 'purchase'
            AND q.event_timestamp >= p.event_timestamp - interval '24 hours' AND q.event_timestamp <= p.event_timestamp
            AND (q.event_timestamp, q.event_id) < (p.event_timestamp, p.event_id)) AS previous_at
  FROM d_event_days d JOIN clickstream_events p
    ON p.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
   AND p.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
  WHERE p.event_type = 'purchase' AND p.product_id IS NULL
), cart AS (
  -- The purchase's own columns travel with its cart events: no join back to the purchases,
  -- whose count the planner cannot know.
  SELECT p.event_id AS purchase_id, p.activity_date, p.value, p.device_type, p.channel, p.login_state, p.is_bot,
         c.*,
         max(c.event_timestamp) FILTER (WHERE c.event_type = 'remove_from_cart' AND c.quantity IS NULL)
           OVER (PARTITION BY p.event_id, c.product_id) AS emptied_at
  FROM purchases p CROSS JOIN LATERAL (
    -- OFFSET 0 keeps this an index probe per purchase (its group's last 24 hours): as a plain
    -- join the planner may hash every event of the days instead
    SELECT c.product_id, c.event_type, c.quantity, c.event_timestamp, c.event_id, c.product_name,
           c.product_category, c.product_brand, coalesce(c.product_discount_price, c.product_price) AS unit_price
    FROM clickstream_events c
    WHERE c.session_group = p.session_group
      AND c.event_timestamp >= greatest(p.event_timestamp - interval '24 hours', p.previous_at)
      AND c.event_timestamp <= p.event_timestamp
      AND (c.event_timestamp, c.event_id) < (p.event_timestamp, p.event_id)
      AND c.event_type IN ('add_to_cart', 'remove_from_cart') AND c.product_id IS NOT NULL
      AND (p.previous_at IS NULL OR c.event_timestamp > p.previous_at)
    OFFSET 0) c
), lines AS (
  SELECT purchase_id, activity_date, value, device_type, channel, login_state, is_bot, product_id,
    sum(CASE WHEN event_type = 'add_to_cart' THEN coalesce(quantity, 1) ELSE -coalesce(quantity, 0) END)
      FILTER (WHERE emptied_at IS NULL OR event_timestamp > emptied_at) AS quantity,
    (array_agg(unit_price ORDER BY event_timestamp DESC, event_id)
       FILTER (WHERE event_type = 'add_to_cart' AND unit_price IS NOT NULL))[1] AS unit_price,
    (array_agg(product_name ORDER BY event_timestamp DESC, event_id) FILTER (WHERE product_name IS NOT NULL))[1]
      AS product_name,
    (array_agg(product_category ORDER BY event_timestamp DESC, event_id)
       FILTER (WHERE event_type = 'add_to_cart'))[1] AS product_category,
    (array_agg(product_brand ORDER BY event_timestamp DESC, event_id)
       FILTER (WHERE event_type = 'add_to_cart'))[1] AS product_brand
  FROM cart GROUP BY purchase_id, activity_date, value, device_type, channel, login_state, is_bot, product_id
), bought AS (
  SELECT l.*, l.quantity * coalesce(l.unit_price, 0) AS amount,
         sum(l.quantity * coalesce(l.unit_price, 0)) OVER (PARTITION BY l.purchase_id) AS cart_amount,
         sum(l.quantity) OVER (PARTITION BY l.purchase_id) AS cart_quantity
  FROM lines l WHERE l.quantity > 0
)
SELECT activity_date, product_id, coalesce(product_category, '(none)'), coalesce(product_brand, '(none)'),
  device_type, channel, login_state, is_bot, max(product_name), 0, 0, 0, count(*), sum(quantity),
  sum(CASE WHEN value IS NULL THEN amount
           WHEN cart_amount > 0 THEN value * amount / cart_amount
           ELSE value * quantity / cart_quantity END)
FROM bought
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ON CONFLICT (activity_date, product_id, product_category, product_brand, device_type, channel, login_state, is_bot)
DO UPDATE SET purchases = a.purchases + excluded.purchases,
  quantity_purchased = a.quantity_purchased + excluded.quantity_purchased,
  revenue = a.revenue + excluded.revenue, product_name = coalesce(a.product_name, excluded.product_name)
"""

# Clicks per page and element, and their rollup (sql/dw/0031 defines both). A partial index
# holds the click events, so days without any cost nothing.
_ELEMENT_CLICKS = """
DELETE FROM agg_daily_element_clicks WHERE activity_date IN (SELECT activity_date FROM d_event_days);
INSERT INTO agg_daily_element_clicks
SELECT * FROM dw_element_click_rows(ARRAY(SELECT activity_date FROM d_event_days));
DELETE FROM agg_daily_element_clicks_rollup WHERE activity_date IN (SELECT activity_date FROM d_event_days);
INSERT INTO agg_daily_element_clicks_rollup
SELECT * FROM dw_element_click_rollup_rows(ARRAY(SELECT activity_date FROM d_event_days));
"""

_CLEAR_WORK = "DELETE FROM etl_work_sessions"
# All of it: the sessions step, the only writer, has committed before the visitors step starts.
_CLEAR_VISITOR_SESSIONS = "DELETE FROM etl_pending_visitor_sessions"
_CLEAR_GROUPS = "DELETE FROM etl_pending_groups p USING d_groups g WHERE p.session_group = g.session_group"
_CLEAR_HOURS = "DELETE FROM etl_pending_hours p USING d_hours h WHERE p.activity_hour = h.activity_hour"
_CLEAR_DAYS = "DELETE FROM {pending} p USING d_session_days d WHERE p.session_date = d.session_date"


@dataclass(slots=True)
class DeriveResult:
    groups: int = 0
    sessions_touched: int = 0
    hours: int = 0


def derive(connection: Any, run_id: int, fault: Any = None,
           helper: Callable[[], Any] | None = None) -> DeriveResult:
    """Recompute sessions, visitors and aggregates for the pending work.

    ``helper`` opens a second connection. Given one, it computes half of the session rows
    (by session group), then the activity aggregates, the visitors and the days' funnel and
    pages, while this connection computes the other half of the session rows, applies them and
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
                derive_visitors(connection, run_id)
                derive_days(connection)
                derive_transition_days(connection)
                derive_activity(connection, result)
            else:
                # These read the sessions just committed, and none reads what another writes.
                visitors = pool.submit(derive_visitors, second, run_id)
                days = pool.submit(derive_days, second)
                derive_transition_days(connection)
                assert activity is not None
                for step in (activity, visitors, days):
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
        connection.run(_SESSION_ROWS, parts=2 if other_share else 1, part=0)
        if other_share is not None:
            other_share.result()
        if not result.groups:
            return
        connection.run(_SESSION_CHANGES_SETUP)
        connection.run(_DELETE_SESSIONS)
        connection.run(_REPLACE_SESSIONS, run_id=run_id)
        connection.run("DELETE FROM etl_work_sessions")
        result.sessions_touched = connection.run(
            "SELECT count(*) FROM (SELECT session_key FROM d_old_sessions"
            " UNION SELECT session_key FROM d_new_sessions) t")[0][0]
        if fault is not None:
            fault("derive", "sessions")
        connection.run(_HAND_TO_VISITORS)
        connection.run(_SESSION_DAYS)
        connection.run(_CLEAR_GROUPS)


def derive_visitors(connection: Any, run_id: int) -> None:
    """Visitors, first-visit flags and retention of the sessions the sessions step changed, in
    one transaction."""
    with _transaction(connection):
        connection.run(_VISITOR_SESSIONS_SETUP)
        if connection.run("SELECT EXISTS (SELECT FROM d_old_sessions) OR EXISTS (SELECT FROM d_new_sessions)")[0][0]:
            _run_statements(connection, _VISITORS, run_id=run_id)
            connection.run(_RETENTION)
            connection.run(_CLEAR_VISITOR_SESSIONS)


def _session_rows(connection: Any, part: int, parts: int) -> None:
    """One share of the pending groups' session rows, committed to the work table."""
    with _transaction(connection):
        connection.run(_GROUPS_SETUP)
        connection.run(_SESSION_ROWS, parts=parts, part=part)


def derive_activity(connection: Any, result: DeriveResult) -> None:
    """Hourly activity and daily product engagement of the pending hours, in one transaction."""
    with _transaction(connection):
        _run_statements(connection, _ACTIVITY_SETUP)
        result.hours = connection.run("SELECT count(*) FROM d_hours")[0][0]
        if result.hours:
            connection.run(_HOURLY)
            connection.run(_PRODUCTS)
            connection.run(_CART_PURCHASES)
            _run_statements(connection, _ELEMENT_CLICKS)
            connection.run(_CLEAR_HOURS)


def pending_days(connection: Any, pending: str) -> list[Any]:
    """The days pending in ``pending``: one of the two tables named above, never input."""
    if pending not in (SESSION_DAYS, TRANSITION_DAYS):
        raise ValueError(f"not a pending days table: {pending!r}")
    return [row[0] for row in connection.run(f"SELECT session_date FROM {pending} ORDER BY 1")]


def derive_days(connection: Any) -> None:
    """Funnel and landing and exit pages of the pending days, in one transaction."""
    _derive_pending_days(connection, SESSION_DAYS, (_FUNNEL, _ENTRY_EXIT))


def derive_transition_days(connection: Any) -> None:
    """Page transitions and their rollup of the pending days, in one transaction."""
    _derive_pending_days(connection, TRANSITION_DAYS, (_DAY_SESSIONS, _TRANSITIONS))


def _derive_pending_days(connection: Any, pending: str, scripts: tuple[str, ...]) -> None:
    days = pending_days(connection, pending)
    if not days:
        return
    with _transaction(connection):
        _run_statements(connection, _days_setup(pending), days=days)
        for script in scripts:
            _run_statements(connection, script)
        connection.run(_CLEAR_DAYS.format(pending=pending))


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
