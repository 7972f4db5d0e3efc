-- The daily funnel's visitor sketches follow identity stitching.
--
-- The funnel counts distinct visitors (person_key), and stitching changes a session's visitor
-- without changing its derive signature: a client that logged in days later left the earlier
-- days' sketches counting it as a visitor of its own, beside the user it turned out to be.
-- The sessions step now also hands the days of sessions whose visitor changed to the funnel;
-- this hands every day to the next ETL run, whose funnel step recomputes the day's sketches
-- (sql/dw/models/aggregates/agg_daily_funnel.sql).
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM clickstream_sessions ON CONFLICT DO NOTHING;

-- The signature now digests a session's page paths, not a hash of each of its events: the
-- paths are all the day aggregates read of the events, and hashing every event's id, time
-- and page cost PostgreSQL CPU on every event. Sessions keep their old signatures
-- until they are next derived; their days are then recomputed once.
ALTER TABLE etl_work_sessions DROP COLUMN events_sig;
