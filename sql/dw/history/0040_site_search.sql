-- Site search: searches and what followed them, per day (models/aggregates/agg_daily_search.sql
-- and agg_daily_search_terms.sql define the rows).
--
-- A session's searches are its `search` events; a term is the search_term as typed, trimmed,
-- lower-cased, runs of white space made one space and cut to 100 characters ('' when none).
-- Terms are what visitors typed: they may hold personal data (an e-mail address, a name), like
-- the events they come from; they are kept so, shortened, and shown only as aggregates.
-- "After the search": a view_item or purchase event of the same session later than the
-- session's first search (per term: than its first search of that term). By the session's day,
-- channel, device, login state and bot flag, as the funnel; days from etl_pending_session_days.
CREATE TABLE agg_daily_search (
  session_date       date NOT NULL,
  channel            text NOT NULL,
  device_type        text NOT NULL,
  login_state        text NOT NULL,
  is_bot             boolean NOT NULL,
  search_sessions    bigint NOT NULL,   -- sessions with a search
  searches           bigint NOT NULL,   -- their search events
  view_sessions      bigint NOT NULL,   -- of those, with a product view after their first search
  purchase_sessions  bigint NOT NULL,   -- of those, with a purchase after their first search
  PRIMARY KEY (session_date, channel, device_type, login_state, is_bot)
);

CREATE TABLE agg_daily_search_terms (
  session_date       date NOT NULL,
  search_term        text NOT NULL,
  channel            text NOT NULL,
  device_type        text NOT NULL,
  login_state        text NOT NULL,
  is_bot             boolean NOT NULL,
  searches           bigint NOT NULL,   -- search events with the term
  sessions           bigint NOT NULL,   -- sessions that searched for it
  view_sessions      bigint NOT NULL,   -- of those, with a product view after it
  purchase_sessions  bigint NOT NULL,   -- of those, with a purchase after it
  PRIMARY KEY (session_date, search_term, channel, device_type, login_state, is_bot)
);
ALTER TABLE agg_daily_search SET (autovacuum_vacuum_scale_factor = 0.01,
                                  autovacuum_vacuum_insert_scale_factor = 0.01);
ALTER TABLE agg_daily_search_terms SET (autovacuum_vacuum_scale_factor = 0.01,
                                        autovacuum_vacuum_insert_scale_factor = 0.01);

-- A session's searches, looked up by its group and time span.
CREATE INDEX clickstream_events_search_idx ON clickstream_events (session_group, event_timestamp)
  WHERE event_type = 'search';

GRANT SELECT, INSERT, DELETE ON agg_daily_search, agg_daily_search_terms TO clickstream_etl_writer;
GRANT SELECT ON agg_daily_search, agg_daily_search_terms TO clickstream_dashboard_reader;

-- Every day with sessions: the next ETL run derives its searches.
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM clickstream_sessions ON CONFLICT DO NOTHING;
