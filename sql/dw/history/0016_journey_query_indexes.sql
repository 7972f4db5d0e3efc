-- Indexes for the journeys tab's reads (docs/dashboards.md has the timings).
--
-- Top paths to purchase read only converting sessions (a few percent of all): a partial
-- index finds them without walking the whole date range of sessions.
CREATE INDEX clickstream_sessions_purchase_date_idx
  ON clickstream_sessions (session_date) WHERE reached_purchase;

-- Page transitions for a date range, read with an index-only scan.
CREATE INDEX agg_page_transitions_cover_idx
  ON agg_page_transitions (session_date, is_bot)
  INCLUDE (from_page, to_page, device_type, channel, login_state, transitions, sessions);

-- Index-only scans skip the table only for pages the visibility map marks all-visible, and
-- the ETL rewrites a few days of these tables every run. Vacuum them after a small share of
-- changes instead of the default 20 %, so the map keeps up with the half-hourly runs.
ALTER TABLE agg_page_transitions SET (autovacuum_vacuum_scale_factor = 0.01,
                                      autovacuum_vacuum_insert_scale_factor = 0.01);
ALTER TABLE agg_daily_entry_exit_pages SET (autovacuum_vacuum_scale_factor = 0.01,
                                            autovacuum_vacuum_insert_scale_factor = 0.01);
