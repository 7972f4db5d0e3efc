-- Model: identity stitching, client_id -> user_id (layer: events).
--
-- A client (browser) maps to the user of its earliest logged-in event (ties broken by
-- event_id), so the mapping is the same whatever order the events were loaded in. Sessions
-- and retention attribute a visitor's anonymous events to that user.
CREATE TABLE clickstream_identity_map (
  client_id             text PRIMARY KEY,
  user_id               text NOT NULL,
  first_login_at        timestamptz NOT NULL,
  first_login_event_id  uuid NOT NULL,
  last_seen_at          timestamptz NOT NULL,      -- newest event with this client and a user_id
  updated_run_id        bigint NOT NULL
);
CREATE INDEX clickstream_identity_map_user_idx ON clickstream_identity_map (user_id);
