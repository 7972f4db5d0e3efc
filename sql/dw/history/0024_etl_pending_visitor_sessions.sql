-- Visitors and retention become a derive step of their own, so that they can run beside the
-- days' aggregates (on the second connection) instead of inside the sessions transaction.
-- The sessions step hands over the sessions it removed (is_new false) and inserted (true);
-- the visitors step reads them and empties the table as it commits. Rows of several runs
-- may meet here when one stopped between the two steps: a session removed and inserted again
-- appears on both sides, which makes its visitor be recomputed from all of their sessions.
CREATE TABLE etl_pending_visitor_sessions (
  session_key   text NOT NULL,
  person_key    text NOT NULL,
  session_date  date NOT NULL,
  is_new        boolean NOT NULL
);

GRANT SELECT, INSERT, DELETE ON etl_pending_visitor_sessions TO clickstream_etl_writer;
