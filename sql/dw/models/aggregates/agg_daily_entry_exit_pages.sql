-- agg_daily_entry_exit_pages: landing and exit pages per day, from the sessions.
--
-- Each session counts twice: once under its landing page (page_role 'landing') and once
-- under its exit page ('exit'), '(unknown)' when it had no page path. A plain SQL function of
-- one SELECT, so the planner inlines it into the calling statement; the ETL refreshes the days
-- it touched with it, and the test fixtures build theirs with it.
CREATE OR REPLACE FUNCTION dw_entry_exit_page_rows(days date[])
RETURNS SETOF agg_daily_entry_exit_pages
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT s.session_date, s.is_bot, r.page_role, r.page_path, s.channel, s.device_type, s.login_state,
       coalesce(s.product_category, '(none)'),
       count(*), count(*) FILTER (WHERE s.is_bounce), count(*) FILTER (WHERE s.reached_purchase)
FROM clickstream_sessions s
CROSS JOIN LATERAL (VALUES ('landing', coalesce(s.landing_page, '(unknown)')),
                           ('exit', coalesce(s.exit_page, '(unknown)'))) AS r(page_role, page_path)
WHERE s.session_date = ANY (days)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
$$;

GRANT EXECUTE ON FUNCTION dw_entry_exit_page_rows(date[]) TO clickstream_etl_writer;
