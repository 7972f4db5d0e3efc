-- A session's page paths in time order (every event that has one, repeats included). A day's
-- page transitions are computed from its sessions alone, instead of joining every session
-- back to its events, which took twice as long. The derive phase writes the
-- column with each session; this fills it for sessions derived before it existed.
ALTER TABLE clickstream_sessions ADD COLUMN page_paths text[];
ALTER TABLE etl_work_sessions ADD COLUMN page_paths text[];

UPDATE clickstream_sessions s SET page_paths = (
  SELECT array_agg(e.page_path ORDER BY e.event_timestamp, e.event_id)
  FROM clickstream_events e
  WHERE e.session_group = s.session_group AND e.event_timestamp BETWEEN s.session_start AND s.session_end
    AND e.page_path IS NOT NULL);

-- The transitions are no longer computed in shares on two connections.
DROP TABLE etl_work_transitions;
