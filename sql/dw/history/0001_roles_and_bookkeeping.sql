-- Group roles and the ETL's bookkeeping tables.
--
-- Privileges are granted to two NOLOGIN group roles; scripts/migrate_dw.py creates the login
-- users (with passwords read from files) and makes them members. Group role names are
-- cluster-wide, so a cluster should hold one warehouse.
DO $$
BEGIN
  CREATE ROLE clickstream_etl_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
  CREATE ROLE clickstream_dashboard_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- One row per ETL invocation, written at start and updated at the end.
CREATE TABLE etl_runs (
  run_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  status            text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'dry_run')),
  trigger           text NOT NULL,                 -- schedule | manual | local
  window_start      timestamptz,                   -- lower bound of the raw hour prefixes listed
  window_end        timestamptz,                   -- upper bound (exclusive)
  prefix            text,
  reprocess         boolean NOT NULL DEFAULT false,
  objects_listed    integer NOT NULL DEFAULT 0,
  objects_loaded    integer NOT NULL DEFAULT 0,
  events_read       bigint  NOT NULL DEFAULT 0,
  events_loaded     bigint  NOT NULL DEFAULT 0,
  events_duplicate  bigint  NOT NULL DEFAULT 0,
  events_rejected   bigint  NOT NULL DEFAULT 0,
  sessions_touched  bigint  NOT NULL DEFAULT 0,
  newest_event_at   timestamptz,
  duration_ms       bigint,
  error             text,
  summary           jsonb
);

-- Exactly-once ledger: a raw object's rows and its ledger row commit in one transaction.
CREATE TABLE etl_object_ledger (
  object_key        text PRIMARY KEY,
  etag              text NOT NULL,
  size_bytes        bigint NOT NULL,
  last_modified     timestamptz,
  events_read       integer NOT NULL,
  events_loaded     integer NOT NULL,
  events_duplicate  integer NOT NULL,
  events_rejected   integer NOT NULL,
  run_id            bigint NOT NULL REFERENCES etl_runs (run_id),
  loaded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX etl_object_ledger_run_idx ON etl_object_ledger (run_id);

-- Lines of raw objects that could not become warehouse rows, with a machine-readable code.
CREATE TABLE etl_rejected_events (
  rejected_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  object_key        text NOT NULL,
  line_no           integer NOT NULL,               -- 1-based line of the object
  event_id          uuid,
  reason_code       text NOT NULL,                  -- not_json, missing_field, future_timestamp, too_late, ...
  field             text,
  reason            text NOT NULL,
  raw_line          text NOT NULL,
  received_at       timestamptz,
  run_id            bigint NOT NULL REFERENCES etl_runs (run_id),
  rejected_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (object_key, line_no)
);
CREATE INDEX etl_rejected_events_reason_idx ON etl_rejected_events (reason_code, rejected_at);

-- Work the load phase leaves for the derive phase (sessions and aggregates). Written in the
-- same transaction as the events, cleared in the transaction that derives from them, so a
-- crash between the two phases is finished by the next run.
CREATE TABLE etl_pending_groups (
  session_group     text PRIMARY KEY
);
CREATE TABLE etl_pending_hours (
  activity_hour     timestamptz PRIMARY KEY
);
