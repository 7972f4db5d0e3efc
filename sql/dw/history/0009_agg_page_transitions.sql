-- Aggregate: page-to-page transitions for journeys (layer: aggregates).
--
-- Within a session, the page_path of its events in time order with consecutive repeats
-- collapsed; '(entrance)' before the first page and '(exit)' after the last. Counted per UTC
-- day of session start.
CREATE TABLE agg_page_transitions (
  session_date      date NOT NULL,
  from_page         text NOT NULL,
  to_page           text NOT NULL,
  device_type       text NOT NULL,
  channel           text NOT NULL,
  login_state       text NOT NULL,
  is_bot            boolean NOT NULL,
  transitions       bigint NOT NULL,
  sessions          bigint NOT NULL,              -- distinct sessions with this transition
  PRIMARY KEY (session_date, from_page, to_page, device_type, channel, login_state, is_bot)
);
