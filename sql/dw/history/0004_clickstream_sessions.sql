-- Model: clickstream_sessions, one row per session (layer: sessions).
--
-- Events are grouped by session_group (the client's session_id when sent, else the client_id,
-- else the user_id). Without a client session id, a group is cut after 30 minutes without
-- events; every session is capped at 24 hours (cut at 24 h steps from the start of its run of
-- activity). session_key is derived from the group and the session's first event, so it is
-- the same whichever run loaded the events.
CREATE TABLE clickstream_sessions (
  session_key        text PRIMARY KEY,            -- the client's session_id, or <id>#<n> / c:<md5>
  session_group      text NOT NULL,
  session_id         text,                        -- client-sent session id, when there was one
  client_id          text,
  user_id            text,                        -- stitched: identity map, else a user_id seen in the session
  person_key         text NOT NULL,               -- 'u:'||user_id when known, else 'c:'||client_id (retention unit)
  login_state        text NOT NULL,               -- logged_in if any event was, else guest if any, else anonymous
  session_start      timestamptz NOT NULL,
  session_end        timestamptz NOT NULL,
  session_date       date NOT NULL,               -- UTC date of session_start
  duration_s         integer NOT NULL,
  event_count        integer NOT NULL,
  page_view_count    integer NOT NULL,            -- page_view, view_item_list, view_item, view_cart events
  landing_page       text,                        -- page_path of the first event that has one
  exit_page          text,                        -- page_path of the last event that has one
  channel            text NOT NULL,               -- of the first event
  referrer_host      text,
  utm_source         text,
  utm_medium         text,
  utm_campaign       text,
  device_type        text NOT NULL,
  browser_family     text,
  os_family          text,
  is_bot             boolean NOT NULL,
  product_category   text,                        -- category of the first product seen in the session
  is_bounce          boolean NOT NULL,            -- at most one page view and no other interaction
  is_engaged         boolean NOT NULL,            -- >= 10 s, or >= 2 page views, or any funnel event
  funnel_stage       smallint NOT NULL,           -- 0 none, 1 view_item, 2 add_to_cart, 3 begin_checkout, 4 purchase
  funnel_stage_name  text,                        -- name of funnel_stage (null for 0)
  reached_view_item      boolean NOT NULL,
  reached_add_to_cart    boolean NOT NULL,
  reached_begin_checkout boolean NOT NULL,
  reached_purchase       boolean NOT NULL,
  purchases          integer NOT NULL,
  revenue            numeric(18, 4) NOT NULL,     -- sum of purchase value (items and currencies as sent)
  is_first_visit     boolean NOT NULL,            -- the visitor's first session (person_key's earliest)
  etl_run_id         bigint NOT NULL
);
CREATE INDEX clickstream_sessions_group_idx ON clickstream_sessions (session_group, session_start);
CREATE INDEX clickstream_sessions_date_idx ON clickstream_sessions (session_date);
CREATE INDEX clickstream_sessions_person_idx ON clickstream_sessions (person_key, session_start);
CREATE INDEX clickstream_sessions_client_idx ON clickstream_sessions (client_id);

-- Events with the session they belong to, for journeys and drill-downs.
CREATE VIEW clickstream_event_sessions AS
SELECT s.session_key, e.*
FROM clickstream_events e
JOIN clickstream_sessions s
  ON s.session_group = e.session_group
 AND e.event_timestamp BETWEEN s.session_start AND s.session_end;
