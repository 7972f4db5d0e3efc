-- Work the sessions step of the derive phase leaves for the day-level aggregates (funnel,
-- landing and exit pages, page transitions). Written in the transaction that re-derives the
-- sessions, cleared in the transaction that recomputes those days: the day-level work can
-- then run in its own transactions, split over two connections, and a run that dies in
-- between is finished by the next one.
CREATE TABLE etl_pending_session_days (
  session_date      date PRIMARY KEY
);

GRANT SELECT, INSERT, UPDATE, DELETE ON etl_pending_session_days TO clickstream_etl_writer;
