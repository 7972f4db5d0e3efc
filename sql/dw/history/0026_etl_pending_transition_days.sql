-- Page transitions become a derive step of their own, beside the days' funnel and landing and
-- exit pages, so that the two can run on the derive phase's two connections at once. The
-- sessions step hands each changed day to both; each step clears its own as it commits.
CREATE TABLE etl_pending_transition_days (
  session_date      date PRIMARY KEY
);

-- Days an interrupted run left pending are pending for both steps.
INSERT INTO etl_pending_transition_days SELECT session_date FROM etl_pending_session_days;

GRANT SELECT, INSERT, DELETE ON etl_pending_transition_days TO clickstream_etl_writer;
