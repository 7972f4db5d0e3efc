-- Visitors and weekly retention cohorts (layer: aggregates).
--
-- A visitor is a person_key (the stitched user, else the client). Their cohort is the ISO
-- week (Monday, UTC) of their first session; their first session also gives the cohort's
-- channel, device and bot flag.
CREATE TABLE clickstream_visitors (
  person_key        text PRIMARY KEY,
  first_seen_at     timestamptz NOT NULL,
  last_seen_at      timestamptz NOT NULL,
  cohort_week       date NOT NULL,
  first_channel     text NOT NULL,
  first_device_type text NOT NULL,
  is_bot            boolean NOT NULL,
  sessions          integer NOT NULL,
  etl_run_id        bigint NOT NULL
);
CREATE INDEX clickstream_visitors_cohort_idx ON clickstream_visitors (cohort_week);

CREATE TABLE agg_weekly_retention (
  cohort_week       date NOT NULL,                -- Monday of the first-visit week
  week_offset       integer NOT NULL,             -- 0 = the first-visit week
  channel           text NOT NULL,                -- of the visitor's first session
  device_type       text NOT NULL,                -- of the visitor's first session
  is_bot            boolean NOT NULL,
  cohort_size       bigint NOT NULL,              -- visitors whose first week is cohort_week
  active_visitors   bigint NOT NULL,              -- of those, visitors with a session in week cohort_week + week_offset
  retention_rate    numeric GENERATED ALWAYS AS (CASE WHEN cohort_size > 0 THEN active_visitors::numeric / cohort_size END) STORED,
  PRIMARY KEY (cohort_week, week_offset, channel, device_type, is_bot)
);
