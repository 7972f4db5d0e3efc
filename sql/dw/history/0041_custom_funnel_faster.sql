-- The custom funnel, faster (sql/dw/history/0038 defines it; the definition is unchanged):
-- - step k's position and time are worked out only for units that hold steps 2..k at all (a
--   containment test): most units stop at step 1, and each position's search otherwise
--   repeated the searches before it;
-- - visitors' sequences merge only the steps' events, from the sessions that hold any.
-- tests/etl/test_custom_funnel.py checks the function against its definition in Python.
CREATE OR REPLACE FUNCTION dw_custom_funnel(start_date date, end_date date, login_states text[], device_types text[],
                                 channels text[], product_categories text[], include_bots boolean,
                                 steps text[], any_order boolean, window_seconds integer, by_visitor boolean)
RETURNS TABLE (step integer, event_type text, units bigint, median_s float8, p75_s float8, p90_s float8)
LANGUAGE plpgsql STABLE
-- Compiling its expressions costs more than evaluating them here.
SET jit = off
-- A plan for this call's values: after five calls in one session PL/pgSQL may keep a generic
-- plan, which cannot drop the visitors' branch nor see the steps, and took twice as long.
SET plan_cache_mode = force_custom_plan
AS $fn$
#variable_conflict use_column
DECLARE
  c smallint[];
  first_step smallint[];
  -- steps 2..k, for k = 2..6 (a slice per row would be made again for every row)
  upto2 smallint[];
  upto3 smallint[];
  upto4 smallint[];
  upto5 smallint[];
  upto6 smallint[];
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
  upto2 := c[2:2];
  upto3 := c[2:3];
  upto4 := c[2:4];
  upto5 := c[2:5];
  upto6 := c[2:6];
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
    -- Only the steps' events are merged: the others never match a step, and leaving them out
    -- keeps the order of the ones that do.
    SELECT array_agg(u.code ORDER BY u.at, p.session_start, p.session_key, u.n),
           array_agg(u.at ORDER BY u.at, p.session_start, p.session_key, u.n)
    FROM picked p
    CROSS JOIN LATERAL (
      SELECT x.code, x.n,
             x.off + floor(date_part('epoch', p.session_start - (start_date::timestamp AT TIME ZONE 'UTC')))::int AS at
      FROM unnest(p.event_codes, p.event_offsets) WITH ORDINALITY AS x(code, off, n)
      WHERE x.code = ANY (c)) u
    WHERE by_visitor AND p.event_codes && c
      AND p.person_key IN (SELECT q.person_key FROM picked q WHERE q.event_codes @> first_step)
    GROUP BY p.person_key
  ), positions AS (
    -- p1: the first steps[1] event; pk: the first event of step k after p1 (any order) or
    -- after step k-1's (in order); a missing step makes every later one missing in order
    -- (its search starts past the end). Each position refers to the one before once, so
    -- the expressions PostgreSQL substitutes stay small.
    SELECT seqs.ec, seqs.eo, a.p1, b.p2, x3.p3, x4.p4, x5.p5, x6.p6
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
    -- step is missing, beyond the window, or a step before it is: tk is NULL unless every
    -- position 2..k is found (0 times their sum), and least/nullif turns a time past the
    -- window into NULL with one reference to tk. PostgreSQL substitutes the positions into
    -- these expressions (each in-order position's search repeating the ones before it): every
    -- tk is referenced once, and only computed for the units whose codes hold steps 2..k at all
    -- (the containment test, one pass over the codes), so most units cost a test or two.
    SELECT nullif(least(r.t2, window_seconds + 1), window_seconds + 1) AS d2,
           nullif(least(r.t3, window_seconds + 1), window_seconds + 1) AS d3,
           nullif(least(r.t4, window_seconds + 1), window_seconds + 1) AS d4,
           nullif(least(r.t5, window_seconds + 1), window_seconds + 1) AS d5,
           nullif(least(r.t6, window_seconds + 1), window_seconds + 1) AS d6
    FROM (SELECT CASE WHEN ec @> upto2 THEN eo[p2] - eo[p1] END AS t2,
                 CASE WHEN ec @> upto3 THEN greatest(eo[p2], eo[p3]) - eo[p1] + 0 * (p2 + p3) END AS t3,
                 CASE WHEN ec @> upto4 THEN greatest(eo[p2], eo[p3], eo[p4]) - eo[p1] + 0 * (p2 + p3 + p4) END AS t4,
                 CASE WHEN cardinality(c) >= 5 AND ec @> upto5
                      THEN greatest(eo[p2], eo[p3], eo[p4], eo[p5]) - eo[p1] + 0 * (p2 + p3 + p4 + p5) END AS t5,
                 CASE WHEN cardinality(c) >= 6 AND ec @> upto6
                      THEN greatest(eo[p2], eo[p3], eo[p4], eo[p5], eo[p6]) - eo[p1] + 0 * (p2 + p3 + p4 + p5 + p6)
                 END AS t6
          FROM positions) r
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

GRANT EXECUTE ON FUNCTION dw_custom_funnel(date, date, text[], text[], text[], text[], boolean, text[], boolean,
                                           integer, boolean) TO clickstream_dashboard_reader;
