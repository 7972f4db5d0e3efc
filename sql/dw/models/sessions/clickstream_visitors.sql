-- clickstream_visitors: one row per visitor (person_key) of the given visitors, from all of
-- their sessions: first and last seen, cohort week (of the first session), the first
-- session's channel and device, and the number of sessions; their purchases: the time of the
-- first purchase event, purchase events (orders), sessions with one, and revenue.

-- The first purchase event of a session (a session holds its group's events from its start to
-- its end): sessions keep their purchases' count and value, not their times.
CREATE OR REPLACE FUNCTION dw_session_first_purchase_at(session_group text, session_start timestamptz,
                                                        session_end timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT min(e.event_timestamp) FROM clickstream_events e
WHERE e.session_group = $1 AND e.event_timestamp >= $2 AND e.event_timestamp <= $3 AND e.event_type = 'purchase'
$$;

CREATE OR REPLACE FUNCTION dw_visitor_rows(persons text[], run_id bigint)
RETURNS SETOF clickstream_visitors
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH s AS (
  SELECT s.person_key, s.session_key, s.session_group, s.session_start, s.session_end, s.channel, s.device_type,
         s.is_bot, s.purchases, s.revenue
  FROM unnest(persons) AS p(person_key) JOIN clickstream_sessions s USING (person_key)
)
SELECT DISTINCT ON (s.person_key) s.person_key,
  s.session_start,
  max(s.session_end) OVER w,
  date_trunc('week', s.session_start AT TIME ZONE 'UTC')::date,
  s.channel, s.device_type, s.is_bot,
  count(*) OVER w,
  run_id,
  min(f.at) OVER w,
  sum(s.purchases) OVER w,
  count(*) FILTER (WHERE s.purchases > 0) OVER w,
  sum(s.revenue) OVER w
FROM s
-- Every session with a purchase: the visitor's sessions on two devices may overlap in time.
LEFT JOIN LATERAL (SELECT dw_session_first_purchase_at(s.session_group, s.session_start, s.session_end) AS at
                   WHERE s.purchases > 0) f ON true
WINDOW w AS (PARTITION BY s.person_key)
ORDER BY s.person_key, s.session_start, s.session_key
$$;

GRANT EXECUTE ON FUNCTION dw_session_first_purchase_at(text, timestamptz, timestamptz) TO clickstream_etl_writer;
GRANT EXECUTE ON FUNCTION dw_visitor_rows(text[], bigint) TO clickstream_etl_writer;
