-- Aggregate: hourly activity by event type (layer: aggregates).
-- Recomputed by the ETL for every hour that received events in a run.
CREATE TABLE agg_hourly_activity (
  activity_hour    timestamptz NOT NULL,          -- UTC hour of event_timestamp
  event_type       text NOT NULL,                 -- canonical event name
  device_type      text NOT NULL,
  channel          text NOT NULL,
  login_state      text NOT NULL,
  is_bot           boolean NOT NULL,
  events           bigint NOT NULL,
  clients          bigint NOT NULL,               -- distinct client_id (not additive across rows)
  users            bigint NOT NULL,               -- distinct user_id (not additive across rows)
  sessions         bigint NOT NULL,               -- distinct session_group (not additive across rows)
  PRIMARY KEY (activity_hour, event_type, device_type, channel, login_state, is_bot)
);
