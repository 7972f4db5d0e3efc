-- Aggregate: landing and exit pages per day (layer: aggregates).
--
-- Each session counts twice: once under its landing page (page_role 'landing') and once
-- under its exit page ('exit'), '(unknown)' when it had no page path. By UTC day of session
-- start and every dashboard filter dimension. The key INCLUDEs the measures so that the
-- journeys tab reads this table with an index-only scan.
CREATE TABLE agg_daily_entry_exit_pages (
  session_date      date NOT NULL,
  is_bot            boolean NOT NULL,
  page_role         text NOT NULL CHECK (page_role IN ('landing', 'exit')),
  page_path         text NOT NULL,
  channel           text NOT NULL,
  device_type       text NOT NULL,
  login_state       text NOT NULL,
  product_category  text NOT NULL,                -- the session's first product category, '(none)'
  sessions          bigint NOT NULL,
  bounced_sessions  bigint NOT NULL,
  purchase_sessions bigint NOT NULL,
  PRIMARY KEY (session_date, is_bot, page_role, page_path, channel, device_type, login_state, product_category)
    INCLUDE (sessions, bounced_sessions, purchase_sessions)
);

-- The model's one definition: its rows for some days, from the sessions. The ETL's derive
-- phase refreshes the days it touched with it, the test fixtures build theirs with it. A plain
-- SQL function of one SELECT, so the planner inlines it into the calling statement.
CREATE FUNCTION dw_entry_exit_page_rows(days date[])
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

INSERT INTO agg_daily_entry_exit_pages
SELECT * FROM dw_entry_exit_page_rows(ARRAY(SELECT DISTINCT session_date FROM clickstream_sessions));

GRANT SELECT, INSERT, UPDATE, DELETE ON agg_daily_entry_exit_pages TO clickstream_etl_writer;
GRANT SELECT ON agg_daily_entry_exit_pages TO clickstream_dashboard_reader;
