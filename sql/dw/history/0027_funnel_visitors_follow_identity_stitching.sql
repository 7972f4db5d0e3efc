-- The daily funnel's visitor sketches follow identity stitching.
--
-- The funnel counts distinct visitors (person_key), and stitching changes a session's visitor
-- without changing its derive signature: a client that logged in days later left the earlier
-- days' sketches counting it as a visitor of its own, beside the user it turned out to be.
-- The sessions step now also hands the days of sessions whose visitor changed to the funnel;
-- this recomputes every day's sketch once from the sessions.
UPDATE agg_daily_funnel f
SET visitors = v.visitors
FROM (
  SELECT session_date, channel, device_type, login_state, coalesce(product_category, '(none)') AS product_category,
         is_bot, hll_add_agg(hll_hash_text(person_key), 14, 5, -1, 1) AS visitors
  FROM clickstream_sessions
  GROUP BY 1, 2, 3, 4, 5, 6
) v
WHERE (f.session_date, f.channel, f.device_type, f.login_state, f.product_category, f.is_bot)
    = (v.session_date, v.channel, v.device_type, v.login_state, v.product_category, v.is_bot)
  AND f.visitors IS DISTINCT FROM v.visitors;

-- The signature now digests a session's page paths, not a hash of each of its events: the
-- paths are all the day aggregates read of the events, and hashing every event's id, time
-- and page cost 0.5 s of PostgreSQL CPU per 1M events. Sessions keep their old signatures
-- until they are next derived; their days are then recomputed once.
ALTER TABLE etl_work_sessions DROP COLUMN events_sig;
