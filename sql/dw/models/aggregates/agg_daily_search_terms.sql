-- agg_daily_search_terms: per day of the given days, normalized search term and the session's
-- channel, device, login state and bot flag: search events, sessions that searched for the
-- term, and of those the sessions with a product view, and with a purchase, after their first
-- search for it (sql/dw/history/0040).

-- Each session of the days with the terms it searched for: a session holds its group's events
-- from its start to its end, its searches found through their partial index. A term is trimmed,
-- lower-cased, its runs of white space one space, at most 100 characters.
CREATE OR REPLACE FUNCTION dw_session_search_term_rows(days date[])
RETURNS TABLE (session_date date, channel text, device_type text, login_state text, is_bot boolean,
               session_key text, search_term text, searches bigint, viewed_after boolean, purchased_after boolean)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH q AS (
  SELECT s.session_date, s.channel, s.device_type, s.login_state, s.is_bot, s.session_key, s.session_group,
    s.session_end,
    btrim(left(lower(btrim(regexp_replace(coalesce(e.search_term, ''), '\s+', ' ', 'g'))), 100)) AS search_term,
    count(*) AS searches, min(e.event_timestamp) AS first_at
  FROM clickstream_sessions s
  JOIN clickstream_events e
    ON e.session_group = s.session_group AND e.event_timestamp >= s.session_start
   AND e.event_timestamp <= s.session_end AND e.event_type = 'search'
  WHERE s.session_date = ANY (days)
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
)
SELECT q.session_date, q.channel, q.device_type, q.login_state, q.is_bot, q.session_key, q.search_term, q.searches,
  EXISTS (SELECT FROM clickstream_events v
          WHERE v.session_group = q.session_group AND v.event_timestamp > q.first_at
            AND v.event_timestamp <= q.session_end AND v.event_type = 'view_item'),
  EXISTS (SELECT FROM clickstream_events v
          WHERE v.session_group = q.session_group AND v.event_timestamp > q.first_at
            AND v.event_timestamp <= q.session_end AND v.event_type = 'purchase')
FROM q
$$;

CREATE OR REPLACE FUNCTION dw_search_term_rows(days date[])
RETURNS SETOF agg_daily_search_terms
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT session_date, search_term, channel, device_type, login_state, is_bot,
  sum(searches), count(*), count(*) FILTER (WHERE viewed_after), count(*) FILTER (WHERE purchased_after)
FROM dw_session_search_term_rows(days)
GROUP BY 1, 2, 3, 4, 5, 6
$$;

GRANT EXECUTE ON FUNCTION dw_session_search_term_rows(date[]) TO clickstream_etl_writer;
GRANT EXECUTE ON FUNCTION dw_search_term_rows(date[]) TO clickstream_etl_writer;
