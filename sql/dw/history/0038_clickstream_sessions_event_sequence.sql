-- A compact event sequence per session, for the dashboards' custom funnels: the event types
-- of a session in event order (time, then event id) as codes, and each event's offset from
-- the session's start in whole seconds. A funnel over any steps is then read from sessions
-- alone, never from the events.
--
-- Codes are the positions of the contract's canonical event types (x-canonical-events) in the
-- order below; 0 stands for a custom event. The list only grows: a new canonical type is
-- appended by a later migration (tests/etl/test_custom_funnel.py checks it against the contract).
-- A session keeps its first 500 events (the codes and offsets of longer ones are cut there).
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

-- Sessions derived before are handed to the next ETL run, which derives them again.
INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM clickstream_sessions ON CONFLICT DO NOTHING;

-- The custom funnel of the dashboards: sessions (or visitors: their sessions in the range
-- one after another) that did steps[1], and of those, how many went on to steps 2..k within
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
    -- Sessions: their own sequence. Visitors: the sequences of their sessions in the range
    -- joined by session start, offsets made absolute (seconds since the range's start), for
    -- the visitors with a steps[1] event in the range.
    SELECT p.event_codes AS ec, p.event_offsets AS eo
    FROM picked p WHERE NOT by_visitor AND p.event_codes @> first_step
    UNION ALL
    SELECT array_agg(u.code ORDER BY p.session_start, p.session_key, u.n),
           array_agg(u.off + floor(date_part('epoch', p.session_start - (start_date::timestamp AT TIME ZONE 'UTC')))::int
                     ORDER BY p.session_start, p.session_key, u.n)
    FROM picked p CROSS JOIN LATERAL unnest(p.event_codes, p.event_offsets) WITH ORDINALITY AS u(code, off, n)
    WHERE by_visitor AND p.person_key IN (SELECT q.person_key FROM picked q WHERE q.event_codes @> first_step)
    GROUP BY p.person_key
  ), positions AS (
    -- p1: the first steps[1] event; pk: the first event of step k after p1 (any order) or
    -- after step k-1's (in order).
    SELECT seqs.eo, a.p1, b.p2, x3.p3, x4.p4, x5.p5, x6.p6
    FROM seqs
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[1]) AS p1) a
    CROSS JOIN LATERAL (SELECT array_position(seqs.ec, c[2], a.p1 + 1) AS p2) b
    CROSS JOIN LATERAL (SELECT CASE WHEN any_order OR b.p2 IS NOT NULL
                       THEN array_position(seqs.ec, c[3], CASE WHEN any_order THEN a.p1 ELSE b.p2 END + 1) END AS p3) x3
    CROSS JOIN LATERAL (SELECT CASE WHEN any_order OR x3.p3 IS NOT NULL
                       THEN array_position(seqs.ec, c[4], CASE WHEN any_order THEN a.p1 ELSE x3.p3 END + 1) END AS p4) x4
    CROSS JOIN LATERAL (SELECT CASE WHEN any_order OR x4.p4 IS NOT NULL
                       THEN array_position(seqs.ec, c[5], CASE WHEN any_order THEN a.p1 ELSE x4.p4 END + 1) END AS p5) x5
    CROSS JOIN LATERAL (SELECT CASE WHEN any_order OR x5.p5 IS NOT NULL
                       THEN array_position(seqs.ec, c[6], CASE WHEN any_order THEN a.p1 ELSE x5.p5 END + 1) END AS p6) x6
    WHERE a.p1 IS NOT NULL
  ), seconds AS (
    -- dk: seconds from p1 to step k (any order: to the last of steps 2..k), NULL when the
    -- step is missing, beyond the window, or a step before it is.
    SELECT d2, d3, d4, d5, d6
    FROM positions
    CROSS JOIN LATERAL (SELECT eo[p2] - eo[p1] AS s2, eo[p3] - eo[p1] AS s3, eo[p4] - eo[p1] AS s4,
                               eo[p5] - eo[p1] AS s5, eo[p6] - eo[p1] AS s6) r
    CROSS JOIN LATERAL (SELECT CASE WHEN r.s2 <= window_seconds THEN r.s2 END AS d2) y2
    CROSS JOIN LATERAL (SELECT CASE WHEN y2.d2 IS NOT NULL AND r.s3 <= window_seconds THEN greatest(y2.d2, r.s3) END AS d3) y3
    CROSS JOIN LATERAL (SELECT CASE WHEN y3.d3 IS NOT NULL AND r.s4 <= window_seconds THEN greatest(y3.d3, r.s4) END AS d4) y4
    CROSS JOIN LATERAL (SELECT CASE WHEN y4.d4 IS NOT NULL AND r.s5 <= window_seconds THEN greatest(y4.d4, r.s5) END AS d5) y5
    CROSS JOIN LATERAL (SELECT CASE WHEN y5.d5 IS NOT NULL AND r.s6 <= window_seconds THEN greatest(y5.d5, r.s6) END AS d6) y6
  ), totals AS (
    SELECT count(*) AS n1,
      count(d2) AS n2, percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY d2) AS q2,
      count(d3) AS n3, percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY d3) AS q3,
      count(d4) AS n4, percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY d4) AS q4,
      count(d5) AS n5, percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY d5) AS q5,
      count(d6) AS n6, percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY d6) AS q6
    FROM seconds
  )
  SELECT k::int, steps[k], (ARRAY[n1, n2, n3, n4, n5, n6])[k],
         (ARRAY[NULL, q2[1], q3[1], q4[1], q5[1], q6[1]])[k],
         (ARRAY[NULL, q2[2], q3[2], q4[2], q5[2], q6[2]])[k],
         (ARRAY[NULL, q2[3], q3[3], q4[3], q5[3], q6[3]])[k]
  FROM totals, generate_series(1, cardinality(steps)) AS k;
END
$fn$;

GRANT SELECT ON clickstream_event_types TO clickstream_etl_writer, clickstream_dashboard_reader;
GRANT EXECUTE ON FUNCTION dw_custom_funnel(date, date, text[], text[], text[], text[], boolean, text[], boolean,
                                           integer, boolean) TO clickstream_dashboard_reader;
