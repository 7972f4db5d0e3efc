-- Aggregate: page transitions per day without the device, channel and login-state split
-- (layer: aggregates).
--
-- The journeys tab's default view (no filter but bots) sums a few thousand rows of this
-- rollup instead of the hundreds of thousands that agg_page_transitions holds for four weeks;
-- a filter on device, channel or login state still reads agg_page_transitions. Sums of
-- agg_page_transitions over those dimensions: each session has one device, channel and login
-- state, so its distinct-session counts add up exactly.
CREATE TABLE agg_daily_page_transitions_rollup (
  session_date      date NOT NULL,
  is_bot            boolean NOT NULL,
  from_page         text NOT NULL,
  to_page           text NOT NULL,
  transitions       bigint NOT NULL,
  sessions          bigint NOT NULL,
  PRIMARY KEY (session_date, is_bot, from_page, to_page) INCLUDE (transitions, sessions)
);

-- The rollup's one definition, for the ETL's touched days, this backfill and the fixtures.
CREATE FUNCTION dw_page_transition_rollup_rows(days date[])
RETURNS SETOF agg_daily_page_transitions_rollup
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT session_date, is_bot, from_page, to_page, sum(transitions)::bigint, sum(sessions)::bigint
FROM agg_page_transitions
WHERE session_date = ANY (days)
GROUP BY 1, 2, 3, 4
$$;

INSERT INTO agg_daily_page_transitions_rollup
SELECT * FROM dw_page_transition_rollup_rows(ARRAY(SELECT DISTINCT session_date FROM agg_page_transitions));

ALTER TABLE agg_daily_page_transitions_rollup SET (autovacuum_vacuum_scale_factor = 0.01,
                                                   autovacuum_vacuum_insert_scale_factor = 0.01);

GRANT SELECT, INSERT, UPDATE, DELETE ON agg_daily_page_transitions_rollup TO clickstream_etl_writer;
GRANT SELECT ON agg_daily_page_transitions_rollup TO clickstream_dashboard_reader;
