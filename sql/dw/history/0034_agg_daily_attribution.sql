-- Aggregate: revenue and orders credited to the sessions that led to them, by attribution
-- model (models/aggregates/agg_daily_attribution.sql defines the rows).
--
-- A conversion is a session with a purchase. Its touchpoints are its visitor's sessions that
-- started within the lookback before it, itself included; each model shares one conversion's
-- credit among them: first touch, last touch, linear, and position-based (40 % each to the
-- first and the last, 20 % shared by those between). Credit is fractional, so the measures
-- are numeric. By the day of the conversion, the touchpoint's channel and campaign, and the
-- converting session's device, login state and bot flag (the dashboards' filters).
CREATE TABLE agg_daily_attribution (
  conversion_date  date NOT NULL,
  model            text NOT NULL CHECK (model IN ('first_touch', 'last_touch', 'linear', 'position_based')),
  channel          text NOT NULL,                -- the touchpoint session's
  utm_source       text NOT NULL,                -- the touchpoint session's, '(none)'
  utm_medium       text NOT NULL,                -- the touchpoint session's, '(none)'
  utm_campaign     text NOT NULL,                -- the touchpoint session's, '(none)'
  device_type      text NOT NULL,                -- the converting session's
  login_state      text NOT NULL,                -- the converting session's
  is_bot           boolean NOT NULL,             -- the converting session's
  conversions      numeric(20, 6) NOT NULL,      -- converting sessions' credit
  orders           numeric(20, 6) NOT NULL,      -- purchase events' credit
  revenue          numeric(24, 6) NOT NULL,      -- purchase value's credit
  PRIMARY KEY (conversion_date, model, is_bot, channel, utm_source, utm_medium, utm_campaign, device_type,
               login_state)
);

-- Days whose conversions may have changed, handed on by the visitors step.
CREATE TABLE etl_pending_attribution_days (
  conversion_date  date PRIMARY KEY
);

-- Every conversion so far: the next ETL run computes them.
INSERT INTO etl_pending_attribution_days
SELECT DISTINCT session_date FROM clickstream_sessions WHERE purchases > 0;

ALTER TABLE agg_daily_attribution SET (autovacuum_vacuum_scale_factor = 0.01,
                                      autovacuum_vacuum_insert_scale_factor = 0.01);

GRANT SELECT, INSERT, DELETE ON agg_daily_attribution TO clickstream_etl_writer;
GRANT SELECT, INSERT, DELETE ON etl_pending_attribution_days TO clickstream_etl_writer;
-- The dashboards' login gets it with the tab that reads it: it reads exactly what the
-- dashboards show (tests/dw/test_reader_privileges.py).
