-- clickstream_visitors: one row per visitor (person_key) of the given visitors, from all of
-- their sessions: first and last seen, cohort week (of the first session), the first
-- session's channel and device, and the number of sessions.
CREATE OR REPLACE FUNCTION dw_visitor_rows(persons text[], run_id bigint)
RETURNS SETOF clickstream_visitors
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT DISTINCT ON (s.person_key) s.person_key,
  s.session_start,
  max(s.session_end) OVER (PARTITION BY s.person_key),
  date_trunc('week', s.session_start AT TIME ZONE 'UTC')::date,
  s.channel, s.device_type, s.is_bot,
  count(*) OVER (PARTITION BY s.person_key),
  run_id
FROM unnest(persons) AS p(person_key) JOIN clickstream_sessions s USING (person_key)
ORDER BY s.person_key, s.session_start, s.session_key
$$;

GRANT EXECUTE ON FUNCTION dw_visitor_rows(text[], bigint) TO clickstream_etl_writer;
