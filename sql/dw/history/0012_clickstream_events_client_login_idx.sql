-- Identity stitching looks up, for each client of a batch, its events that carry a user_id.
-- Without this index that lookup scans the whole events table once per batch.
CREATE INDEX clickstream_events_client_login_idx
  ON clickstream_events (client_id, event_timestamp, event_id)
  WHERE user_id IS NOT NULL AND client_id IS NOT NULL;
