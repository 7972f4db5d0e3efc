-- Customers: new vs returning sessions per day, and each visitor's purchases.
--
-- agg_daily_funnel counts the sessions that are their visitor's first (is_first_visit, set by
-- the visitors step), with their purchasing sessions and revenue; the rest are returning. A
-- session that stops being a first visit (an earlier one of its visitor arrived late) hands
-- its day back to the funnel.
--
-- clickstream_visitors keeps each visitor's purchases over all of their sessions: the first
-- purchase event's time, purchase events (orders), sessions with one, and revenue.
-- agg_daily_new_customers (models/aggregates/agg_daily_new_customers.sql defines the rows)
-- counts, by the UTC day of their first purchase, the visitors who became customers then, how
-- many of them have ordered at least twice so far, and how long their first purchase took
-- after their first visit (bucketed); by their first session's channel, device and bot flag
-- (a visitor's cohort key, as in agg_weekly_retention).
ALTER TABLE agg_daily_funnel
  ADD COLUMN new_sessions          bigint NOT NULL DEFAULT 0,         -- is_first_visit
  ADD COLUMN new_purchase_sessions bigint NOT NULL DEFAULT 0,         -- is_first_visit AND reached_purchase
  ADD COLUMN new_revenue           numeric(18, 4) NOT NULL DEFAULT 0; -- revenue of first visits

ALTER TABLE clickstream_visitors
  ADD COLUMN first_purchase_at   timestamptz,                         -- first purchase event, NULL: none
  ADD COLUMN orders              integer NOT NULL DEFAULT 0,          -- purchase events
  ADD COLUMN purchase_sessions   integer NOT NULL DEFAULT 0,          -- sessions with a purchase
  ADD COLUMN revenue             numeric(18, 4) NOT NULL DEFAULT 0;
CREATE INDEX clickstream_visitors_first_purchase_idx ON clickstream_visitors (first_purchase_at)
  WHERE first_purchase_at IS NOT NULL;

CREATE TABLE agg_daily_new_customers (
  first_purchase_date  date NOT NULL,      -- UTC day of the visitor's first purchase
  first_channel        text NOT NULL,
  first_device_type    text NOT NULL,
  is_bot               boolean NOT NULL,
  -- time from the first session's start to the first purchase: 0 under 5 min, then under
  -- 15 min, 1 h, 6 h, 1 day, 3 days, 7 days, 14 days, 30 days, 90 days, 10 from 90 days
  time_bucket          smallint NOT NULL,
  customers            bigint NOT NULL,
  repeat_customers     bigint NOT NULL,    -- customers with orders >= 2, so far
  orders               bigint NOT NULL,    -- their orders so far
  revenue              numeric(24, 4) NOT NULL,
  PRIMARY KEY (first_purchase_date, first_channel, first_device_type, is_bot, time_bucket)
);
ALTER TABLE agg_daily_new_customers SET (autovacuum_vacuum_scale_factor = 0.01,
                                        autovacuum_vacuum_insert_scale_factor = 0.01);

GRANT SELECT, INSERT, DELETE ON agg_daily_new_customers TO clickstream_etl_writer;
GRANT SELECT ON agg_daily_new_customers TO clickstream_dashboard_reader;

-- Every session is derived again by the next ETL run, which recomputes every visitor (and so
-- the new-customer rows), the first-visit flags, and every day's funnel.
INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM clickstream_sessions ON CONFLICT DO NOTHING;
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM clickstream_sessions ON CONFLICT DO NOTHING;
