-- The dashboards' login sees what the dashboards show and nothing more: the aggregates, the
-- sessions, and the ETL's bookkeeping through the health views below. It no longer reads
-- events (clickstream_events, and the clickstream_event_sessions view over them), identities
-- (clickstream_identity_map, clickstream_visitors), raw rejected lines (etl_rejected_events
-- holds clients' payloads) or the bookkeeping tables themselves. tests/dw/test_reader_privileges.py
-- runs every statement of shiny/R as this role and checks that nothing else is readable.
REVOKE ALL ON clickstream_events, clickstream_event_sessions, clickstream_identity_map, clickstream_visitors,
  clickstream_event_ids, etl_runs, etl_object_ledger, etl_rejected_events
FROM clickstream_dashboard_reader;

-- The views run with their owner's rights: the reader needs SELECT on them only.

-- ETL runs without the summary JSON, error messages cut as the tab shows them.
CREATE VIEW health_etl_runs AS
SELECT run_id, started_at, finished_at, status, trigger, objects_listed, objects_loaded, objects_skipped,
       events_read, events_loaded, events_duplicate, events_rejected, sessions_touched, newest_event_at,
       duration_ms, left(error, 300) AS error
FROM etl_runs;

-- Rejected lines counted by UTC day and reason: no payloads.
CREATE VIEW health_rejections AS
SELECT (rejected_at AT TIME ZONE 'UTC')::date AS rejected_date, reason_code, count(*) AS rejected
FROM etl_rejected_events
GROUP BY 1, 2;
CREATE INDEX etl_rejected_events_day_reason_idx
  ON etl_rejected_events (((rejected_at AT TIME ZONE 'UTC')::date), reason_code);

-- Where rejected lines are and why, without the line itself (raw_line) or its event_id.
CREATE VIEW health_rejected_lines AS
SELECT rejected_id, rejected_at, reason_code, field, left(reason, 200) AS reason, object_key, line_no, run_id
FROM etl_rejected_events;

-- When objects were loaded, for the count of the last 24 hours; nothing else of the ledger.
CREATE VIEW health_object_loads AS
SELECT loaded_at FROM etl_object_ledger WHERE loaded_at IS NOT NULL;

-- Raw objects not loaded: skipped (archived, deleted, changed) or rejected as unreadable
-- (sql/dw/0032). security_barrier: the reader's own conditions run after the view's filter.
CREATE VIEW health_skipped_objects WITH (security_barrier) AS
SELECT object_key, status, reason, left(detail, 300) AS detail, size_bytes, storage_class, last_modified,
       failed_at, attempts, retry_after
FROM etl_object_ledger
WHERE status <> 'loaded';

GRANT SELECT ON health_etl_runs, health_rejections, health_rejected_lines, health_object_loads,
  health_skipped_objects
TO clickstream_dashboard_reader;
