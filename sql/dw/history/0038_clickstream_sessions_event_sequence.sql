-- A compact event sequence per session, for the dashboards' custom funnels: the event types
-- of a session in event order (time, then event id) as codes, and each event's offset from
-- the session's start in whole seconds. A funnel over any steps is then read from sessions
-- alone, never from the events.
--
-- Codes are the positions of the contract's canonical event types (x-canonical-events) in the
-- order below; 0 stands for a custom event. The list only grows: a new canonical type is
-- appended by a later migration (tests/etl/test_custom_funnel.py checks it against the contract).
-- A session keeps its first 200 events (the codes and offsets of longer ones are cut there), so
-- that both fit in the covering index below.
CREATE TABLE clickstream_event_types (
  code       smallint PRIMARY KEY CHECK (code > 0),
  event_type text NOT NULL UNIQUE
);
INSERT INTO clickstream_event_types (code, event_type)
SELECT n, t FROM unnest(ARRAY[
  'page_view', 'view_item_list', 'select_item', 'view_item', 'add_to_cart', 'remove_from_cart', 'view_cart',
  'begin_checkout', 'add_shipping_info', 'add_payment_info', 'purchase', 'refund', 'add_to_wishlist',
  'remove_from_wishlist', 'search', 'click', 'login', 'logout', 'sign_up']) WITH ORDINALITY AS u(t, n);

ALTER TABLE etl_work_sessions
  ADD COLUMN event_codes   smallint[],
  ADD COLUMN event_offsets integer[];
ALTER TABLE clickstream_sessions
  ADD COLUMN event_codes   smallint[] NOT NULL DEFAULT '{}',
  ADD COLUMN event_offsets integer[] NOT NULL DEFAULT '{}';

-- The funnel reads the sessions of a date range through this index alone (an index-only scan),
-- not their wide rows.
CREATE INDEX clickstream_sessions_sequence_idx ON clickstream_sessions (session_date)
  INCLUDE (is_bot, login_state, device_type, channel, product_category, event_codes, event_offsets);

-- Sessions derived before are handed to the next ETL run, which derives them again.
INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM clickstream_sessions ON CONFLICT DO NOTHING;

-- The custom funnel of the dashboards: sessions (or visitors: the events of their sessions in
-- the range, in time order) that did steps[1], and of those, how many went on to steps 2..k within
-- window_seconds of their first steps[1] event. "In order" (any_order false): each step is the
-- first event of its type after the previous step's; "any order": steps 2..k each occur after
-- that first steps[1] event, in whatever order. One row per step: the units reaching it, and
-- the median, 75th and 90th percentile seconds from steps[1] to it among them (for any order,
-- to the last of steps 2..k). Filters as the dashboards' (empty array: all values).
CREATE FUNCTION dw_custom_funnel(start_date date, end_date date, login_states text[], device_types text[],
                                 channels text[], product_categories text[], include_bots boolean,
                                 steps text[], any_order boolean, window_seconds integer, by_visitor boolean)
RETURNS TABLE (step integer, event_type text, units bigint, median_s float8, p75_s float8, p90_s float8)
LANGUAGE plpgsql STABLE
-- Compiling its expressions costs more than evaluating them here.
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
  c smallint[];
  first_step smallint[];
BEGIN
  IF cardinality(steps) NOT BETWEEN 1 AND 6 OR (SELECT count(DISTINCT s) FROM unnest(steps) s) <> cardinality(steps) THEN
    RAISE EXCEPTION 'a custom funnel has 1 to 6 distinct steps' USING ERRCODE = '22023';
  END IF;
  SELECT array_agg(t.code ORDER BY u.n) INTO c
  FROM unnest(steps) WITH ORDINALITY AS u(event_type, n) JOIN clickstream_event_types t USING (event_type);
  IF cardinality(c) IS DISTINCT FROM cardinality(steps) THEN
    RAISE EXCEPTION 'a custom funnel step is not an event type of the contract' USING ERRCODE = '22023';
  END IF;
  first_step := c[1:1];
  RETURN QUERY
  WITH picked AS NOT MATERIALIZED (
    SELECT s.person_key, s.session_key, s.session_start, s.event_codes, s.event_offsets
    FROM clickstream_sessions s
    WHERE s.session_date BETWEEN start_date AND end_date
      AND (cardinality(login_states) = 0 OR s.login_state = ANY (login_states))
      AND (cardinality(device_types) = 0 OR s.device_type = ANY (device_types))
      AND (cardinality(channels) = 0 OR s.channel = ANY (channels))
      AND (cardinality(product_categories) = 0 OR s.product_category = ANY (product_categories))
      AND (include_bots OR NOT s.is_bot)
  ), seqs AS NOT MATERIALIZED (
    -- Sessions: their own sequence. Visitors: the events of their sessions in the range in
    -- time order (sessions that overlap, on two devices, interleave), offsets made absolute
    -- (seconds since the range's start), for the visitors with a steps[1] event in the range.
    SELECT p.event_codes AS ec, p.event_offsets AS eo
    FROM picked p WHERE NOT by_visitor AND p.event_codes @> first_step
    UNION ALL
    SELECT array_agg(u.code ORDER BY u.at, p.session_start, p.session_key, u.n),
           array_agg(u.at ORDER BY u.at, p.session_start, p.session_key, u.n)
    FROM picked p
    CROSS JOIN LATERAL (
      SELECT x.code, x.n,
             x.off + floor(date_part('epoch', p.session_start - (start_date::timestamp AT TIME ZONE 'UTC')))::int AS at
      FROM unnest(p.event_codes, p.event_offsets) WITH ORDINALITY AS x(code, off, n)) u
    WHERE by_visitor AND p.person_key IN (SELECT q.person_key FROM picked q WHERE q.event_codes @> first_step)
    GROUP BY p.person_key
  ), positions AS (
    -- p1: the first steps[1] event; pk: the first event of step k after p1 (any order) or
    -- after step k-1's (in order); a missing step makes every later one missing in order
    -- (its search starts past the end). Each position refers to the one before once, so
    -- the expressions PostgreSQL substitutes stay small.
    SELECT seqs.eo, a.p1, b.p2, x3.p3, x4.p4, x5.p5, x6.p6
    FROM seqs
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[1]) AS p1) a
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[2], a.p1 + 1) AS p2) b
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[3], CASE WHEN any_order THEN a.p1 ELSE coalesce(b.p2, 32767) END + 1) AS p3) x3
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[4], CASE WHEN any_order THEN a.p1 ELSE coalesce(x3.p3, 32767) END + 1) AS p4) x4
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[5], CASE WHEN any_order THEN a.p1 ELSE coalesce(x4.p4, 32767) END + 1) AS p5) x5
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[6], CASE WHEN any_order THEN a.p1 ELSE coalesce(x5.p5, 32767) END + 1) AS p6) x6
    WHERE a.p1 IS NOT NULL
  ), seconds AS (
    -- dk: seconds from p1 to step k (any order: to the last of steps 2..k), NULL when the
    -- step is missing, beyond the window, or a step before it is. (In order, a later step is
    -- never sooner, so dk is just its own time.) OFFSET 0 keeps the positions computed once.
    SELECT CASE WHEN r.s2 <= window_seconds THEN r.s2 END AS d2,
           CASE WHEN num_nulls(r.s2, r.s3) = 0 AND greatest(r.s2, r.s3) <= window_seconds
                THEN greatest(r.s2, r.s3) END AS d3,
           CASE WHEN num_nulls(r.s2, r.s3, r.s4) = 0 AND greatest(r.s2, r.s3, r.s4) <= window_seconds
                THEN greatest(r.s2, r.s3, r.s4) END AS d4,
           CASE WHEN num_nulls(r.s2, r.s3, r.s4, r.s5) = 0 AND greatest(r.s2, r.s3, r.s4, r.s5) <= window_seconds
                THEN greatest(r.s2, r.s3, r.s4, r.s5) END AS d5,
           CASE WHEN num_nulls(r.s2, r.s3, r.s4, r.s5, r.s6) = 0
                 AND greatest(r.s2, r.s3, r.s4, r.s5, r.s6) <= window_seconds
                THEN greatest(r.s2, r.s3, r.s4, r.s5, r.s6) END AS d6
    FROM (SELECT eo[p2] - eo[p1] AS s2, eo[p3] - eo[p1] AS s3, eo[p4] - eo[p1] AS s4,
                 eo[p5] - eo[p1] AS s5, eo[p6] - eo[p1] AS s6
          FROM positions OFFSET 0) r
  ), tallies AS (
    -- Units by their seconds to each step: a hash aggregate (parallel, unlike percentile_cont),
    -- from which the counts and exact percentiles per step follow.
    SELECT d2, d3, d4, d5, d6, count(*) AS n FROM seconds GROUP BY d2, d3, d4, d5, d6
  ), per_step AS (
    SELECT v.k, v.t, sum(g.n) AS n
    FROM tallies g
    CROSS JOIN LATERAL (VALUES (1, 0), (2, g.d2), (3, g.d3), (4, g.d4), (5, g.d5), (6, g.d6)) AS v(k, t)
    WHERE v.t IS NOT NULL
    GROUP BY v.k, v.t
  ), ranked AS (
    SELECT r.k, r.t, sum(r.n) OVER (PARTITION BY r.k ORDER BY r.t) AS upto, sum(r.n) OVER (PARTITION BY r.k) AS total
    FROM per_step r
  ), quantiles AS (
    -- percentile_cont's interpolation: between the values at 0-based ranks floor(q (N - 1))
    -- and the next, by the fraction.
    SELECT x.k, x.q, x.total, min(x.t) FILTER (WHERE x.upto > x.lo) AS v_lo, min(x.t) FILTER (WHERE x.upto > x.lo + 1) AS v_hi,
           x.pos - x.lo AS frac
    FROM (SELECT ranked.*, q, q * (ranked.total - 1) AS pos, floor(q * (ranked.total - 1)) AS lo
          FROM ranked, unnest(ARRAY[0.5, 0.75, 0.9]::float8[]) AS q) x
    GROUP BY x.k, x.q, x.total, x.pos, x.lo
  ), by_step AS (
    SELECT qq.k, max(qq.total) AS total,
           array_agg(qq.v_lo + qq.frac * (coalesce(qq.v_hi, qq.v_lo) - qq.v_lo) ORDER BY qq.q) AS qs
    FROM quantiles qq GROUP BY qq.k
  )
  SELECT g.i::int, steps[g.i], coalesce(b.total, 0)::bigint,
         CASE WHEN g.i > 1 THEN b.qs[1] END, CASE WHEN g.i > 1 THEN b.qs[2] END, CASE WHEN g.i > 1 THEN b.qs[3] END
  FROM generate_series(1, cardinality(steps)) AS g(i) LEFT JOIN by_step b ON b.k = g.i
  ORDER BY g.i;
END
$fn$;

GRANT SELECT ON clickstream_event_types TO clickstream_etl_writer, clickstream_dashboard_reader;
GRANT EXECUTE ON FUNCTION dw_custom_funnel(date, date, text[], text[], text[], text[], boolean, text[], boolean,
                                           integer, boolean) TO clickstream_dashboard_reader;
