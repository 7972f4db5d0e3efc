-- Aggregate: purchases and their amounts per UTC day and the currency they were sent in
-- (models/aggregates/agg_daily_purchase_currencies.sql defines the rows).
--
-- The warehouse converts no currency: revenue elsewhere is the sum of amounts as sent. This
-- table lets the dashboards say when a range's amounts were sent in more than one currency,
-- and in which, instead of labelling a mixed sum with the store's currency.
CREATE TABLE agg_daily_purchase_currencies (
  activity_date    date NOT NULL,
  currency         text NOT NULL,                -- ISO 4217 as sent or the store's; '(none)'
  is_bot           boolean NOT NULL,
  purchases        bigint NOT NULL,
  revenue          numeric(24, 4) NOT NULL,      -- sum of the purchases' values as sent
  PRIMARY KEY (activity_date, is_bot, currency)
);

-- No index of its own: one on the purchases' times made the planner read the products model's
-- cart purchases through it, many times slower (bench/RESULTS.md).

-- Every hour with a purchase so far: the next ETL run computes its day.
INSERT INTO etl_pending_hours
SELECT DISTINCT date_trunc('hour', event_timestamp) FROM clickstream_events WHERE event_type = 'purchase'
ON CONFLICT DO NOTHING;

GRANT SELECT, INSERT, DELETE ON agg_daily_purchase_currencies TO clickstream_etl_writer;
GRANT SELECT ON agg_daily_purchase_currencies TO clickstream_dashboard_reader;
