-- agg_page_transitions: page-to-page steps per day, from the sessions' page paths.
--
-- Page steps are a session's page paths with consecutive repeats (reloads) collapsed: a path
-- that differs from the one before it starts a step, and that previous path is the step it
-- comes from; '(entrance)' before the first, '(exit)' after the last. Each session's
-- transitions are counted first, so that the day's rows are two hash aggregates rather than a
-- sort for count(DISTINCT session): a transition row's sessions is its number of sessions.
CREATE OR REPLACE FUNCTION dw_page_transition_rows(days date[])
RETURNS SETOF agg_page_transitions
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH day_sessions AS (
  SELECT session_key, session_date, device_type, channel, login_state, is_bot, page_paths
  FROM clickstream_sessions WHERE session_date = ANY (days)
), steps AS (
  SELECT s.session_key, s.session_date, s.device_type, s.channel, s.login_state, s.is_bot,
         s.page_paths[p.i - 1] AS from_page, p.page_path AS to_page
  FROM day_sessions s CROSS JOIN LATERAL unnest(s.page_paths) WITH ORDINALITY AS p(page_path, i)
), session_pairs AS (
  SELECT session_key, session_date, device_type, channel, login_state, is_bot,
         coalesce(from_page, '(entrance)') AS from_page, to_page, count(*) AS transitions
  FROM steps WHERE from_page IS DISTINCT FROM to_page
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
  UNION ALL
  SELECT session_key, session_date, device_type, channel, login_state, is_bot,
         page_paths[cardinality(page_paths)], '(exit)', 1
  FROM day_sessions WHERE cardinality(page_paths) > 0
)
SELECT session_date, from_page, to_page, device_type, channel, login_state, is_bot, sum(transitions)::bigint,
       count(*)
FROM session_pairs GROUP BY 1, 2, 3, 4, 5, 6, 7
$$;

GRANT EXECUTE ON FUNCTION dw_page_transition_rows(date[]) TO clickstream_etl_writer;
