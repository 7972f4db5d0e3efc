-- agg_daily_search: per day of the given days and the session's channel, device, login state
-- and bot flag: sessions with a search, their searches, and of those the sessions with a
-- product view, and with a purchase, after their first search (sql/dw/history/0040). A
-- session viewed a product after its first search exactly when it did after its first search
-- of some term: the earliest of those is its first search.
-- requires: aggregates/agg_daily_search_terms
CREATE OR REPLACE FUNCTION dw_search_rows(days date[])
RETURNS SETOF agg_daily_search
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT session_date, channel, device_type, login_state, is_bot,
  count(*), sum(searches), count(*) FILTER (WHERE viewed_after), count(*) FILTER (WHERE purchased_after)
FROM (SELECT session_date, channel, device_type, login_state, is_bot, session_key, sum(searches) AS searches,
             bool_or(viewed_after) AS viewed_after, bool_or(purchased_after) AS purchased_after
      FROM dw_session_search_term_rows(days)
      GROUP BY 1, 2, 3, 4, 5, 6) s
GROUP BY 1, 2, 3, 4, 5
$$;

GRANT EXECUTE ON FUNCTION dw_search_rows(date[]) TO clickstream_etl_writer;
