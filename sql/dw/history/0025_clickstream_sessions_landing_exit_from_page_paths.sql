-- Landing and exit pages are the first and last of a session's page paths (of the events that
-- have a page), as docs/warehouse.md says. Sessions derived before 0025 took the first and
-- last event's page, empty when that event had none: they are corrected here, and their days
-- handed to the next ETL run, which recomputes those days' aggregates.
WITH corrected AS (
  UPDATE clickstream_sessions
  SET landing_page = page_paths[1], exit_page = page_paths[cardinality(page_paths)]
  WHERE (landing_page, exit_page) IS DISTINCT FROM (page_paths[1], page_paths[cardinality(page_paths)])
  RETURNING session_date
)
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM corrected ON CONFLICT DO NOTHING;
