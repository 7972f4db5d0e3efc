-- etl_work_sessions: the sessions of some session groups, from their events, before identity
-- stitching (sessions/clickstream_sessions.sql takes them on from the work table).
--
-- Without a client session id a run of activity ends after 30 minutes of silence; any run is
-- cut every 24 h from its first event. Both steps are running windows over one order (group,
-- time, id), so the events are sorted once; a session is a (group, run start, 24 h count) and
-- starts at the event where the run starts or the count moves on. ``stages`` are the contract's
-- funnel stages in order (x-funnel-stages): a session's funnel_stage is the furthest it
-- reached, 0 for none. ``checkout_steps`` are the contract's checkout steps (x-checkout-steps):
-- its checkout_step is the number of leading steps it sent. Its cart value is what it added
-- to the cart less what it removed (the event's value, else unit price times quantity).
-- Its event codes are positions in clickstream_event_types, whose codes run 1, 2, 3, ...
-- requires: events/page_views
DROP FUNCTION IF EXISTS dw_work_session_rows(text[], text[]);
CREATE OR REPLACE FUNCTION dw_work_session_rows(groups text[], stages text[], checkout_steps text[])
RETURNS SETOF etl_work_sessions
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH ev AS (
  -- Only the columns sessions are built from.
  SELECT e.session_group, e.event_timestamp, e.event_id, e.session_id, e.client_id, e.user_id, e.login_state,
    e.event_type, e.page_path, e.channel, e.referrer_host, e.utm_source, e.utm_medium, e.utm_campaign,
    e.device_type, e.browser_family, e.os_family, e.is_bot, e.product_category, e.value, e.page_role,
    CASE WHEN e.event_type IN ('add_to_cart', 'remove_from_cart')
         THEN coalesce(e.value, coalesce(e.product_discount_price, e.product_price) * coalesce(e.quantity, 1)) END
      AS cart_amount,
    lag(e.event_timestamp) OVER (PARTITION BY e.session_group ORDER BY e.event_timestamp, e.event_id) AS prev_ts
  FROM unnest(groups) AS g(session_group) JOIN clickstream_events e USING (session_group)
), runs AS (
  SELECT ev.*, max(CASE WHEN new_run THEN event_timestamp END) OVER w AS run_start
  FROM (SELECT ev.*, prev_ts IS NULL OR (left(session_group, 2) <> 's:'
                                         AND event_timestamp - prev_ts > interval '30 minutes') AS new_run
        FROM ev) ev
  -- A running value over unique (time, id): a ROWS frame, which need not look for peers.
  WINDOW w AS (PARTITION BY session_group ORDER BY event_timestamp, event_id ROWS UNBOUNDED PRECEDING)
), capped AS (
  SELECT runs.*,
    -- date_part, not extract: double precision rather than numeric arithmetic, per event
    floor(date_part('epoch', event_timestamp - run_start) / 86400)::int AS cap_no,
    new_run OR floor(date_part('epoch', event_timestamp - run_start) / 86400)
               <> floor(date_part('epoch', prev_ts - run_start) / 86400) AS opens
  FROM runs
), events AS (
  -- Each page event beside the one before it in its session. Already in group order, so this
  -- is an incremental sort within each group, and the GROUP BY below reads its input in order
  -- instead of sorting it again.
  SELECT capped.*, lag(page_role) OVER p AS prev_page_role, lag(page_path) OVER p AS prev_page_path
  FROM capped
  WINDOW p AS (PARTITION BY session_group, run_start, cap_no, page_role IS NOT NULL
               ORDER BY event_timestamp, event_id)
)
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
  count(*) FILTER (WHERE dw_is_page_view(page_role, page_path, prev_page_role, prev_page_path)) AS page_view_count,
  -- The session's page paths in time order; its landing and exit pages are the first and
  -- last. (Written three times, computed once: PostgreSQL shares identical aggregate calls.)
  (array_agg(page_path ORDER BY event_timestamp, event_id) FILTER (WHERE page_path IS NOT NULL))[1] AS landing_page,
  (array_agg(page_path ORDER BY event_timestamp, event_id) FILTER (WHERE page_path IS NOT NULL))[
    cardinality(array_agg(page_path ORDER BY event_timestamp, event_id) FILTER (WHERE page_path IS NOT NULL))]
    AS exit_page,
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
  coalesce(max(array_position(stages, event_type)), 0) AS funnel_stage,
  count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
  coalesce(sum(value) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
  array_agg(page_path ORDER BY event_timestamp, event_id) FILTER (WHERE page_path IS NOT NULL) AS page_paths,
  count(*) FILTER (WHERE page_role IS NOT NULL) AS page_event_count,
  max(event_timestamp) FILTER (WHERE event_type = 'add_to_cart') AS last_add_to_cart_at,
  max(event_timestamp) FILTER (WHERE event_type = 'purchase') AS last_purchase_at,
  (SELECT coalesce(max(k), 0) FROM generate_subscripts(checkout_steps, 1) AS k
   WHERE checkout_steps[1:k] <@ array_agg(event_type) FILTER (WHERE event_type = ANY (checkout_steps))) AS checkout_step,
  count(*) FILTER (WHERE event_type = 'remove_from_cart') AS cart_removals,
  coalesce(sum(cart_amount) FILTER (WHERE event_type = 'add_to_cart'), 0)
    - coalesce(sum(cart_amount) FILTER (WHERE event_type = 'remove_from_cart'), 0) AS cart_value,
  -- The event sequence for custom funnels (sql/dw/history/0038): the first 200 events' type
  -- codes (0: a custom event) and whole seconds since the session's first event.
  (array_agg(coalesce(array_position(ARRAY(SELECT t.event_type FROM clickstream_event_types t ORDER BY t.code), event_type),
                      0)::smallint ORDER BY event_timestamp, event_id))[1:200]
    AS event_codes,
  (SELECT array_agg(floor(t.at - date_part('epoch', min(event_timestamp)))::int ORDER BY t.n)
   FROM unnest((array_agg(date_part('epoch', event_timestamp) ORDER BY event_timestamp, event_id))[1:200])
        WITH ORDINALITY AS t(at, n))
    AS event_offsets
FROM events GROUP BY session_group, run_start, cap_no
$$;

GRANT EXECUTE ON FUNCTION dw_work_session_rows(text[], text[], text[]) TO clickstream_etl_writer;
