-- Events arrive roughly in time order: a key that starts with the event time takes them at
-- the right edge of its index, where one that starts with a random UUID splits pages all over
-- it, and takes nearly twice as long. event_id's own uniqueness stays with
-- clickstream_event_ids; the only lookup by key (a replaced copy's delete) gives both columns.
ALTER TABLE clickstream_events DROP CONSTRAINT clickstream_events_pkey;
ALTER TABLE clickstream_events ADD PRIMARY KEY (event_timestamp, event_id);
