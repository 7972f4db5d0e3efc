-- Model: clickstream_events, one row per distinct event (layer: events).
--
-- Partitioned by month of event time: retention is dropping a partition. A partitioned
-- table's primary key must contain the partition key, so event_id's global uniqueness is
-- enforced by clickstream_event_ids (one row per event_id, whichever copy won).
CREATE TABLE clickstream_events (
  -- the seed design's columns
  event_id               uuid NOT NULL,
  event_timestamp        timestamptz NOT NULL,      -- client time corrected for clock skew
  event_name             text NOT NULL,             -- as sent
  user_id                text,
  user_login_state       text,                      -- as sent
  identity_source        text,
  client_id              text,
  session_id             text,                      -- as sent by the client (may be null)
  is_first_visit         boolean,
  product_id             text,
  product_name           text,
  product_category       text,
  product_brand          text,
  product_price          numeric(16, 4),
  product_discount_price numeric(16, 4),
  product_url_path       text,
  -- what analysis needs
  event_type             text NOT NULL,             -- canonical name (contract alias map)
  received_at            timestamptz NOT NULL,      -- ingest receive time
  client_created_at      timestamptz,               -- client_timestamp as sent
  client_sent_at         timestamptz,               -- sent_at as sent
  login_state            text NOT NULL,             -- logged_in | guest | anonymous
  page_url               text,
  page_path              text,
  page_title             text,
  referrer               text,
  referrer_host          text,
  channel                text NOT NULL,             -- direct | organic_search | paid_search | social | email | referral | internal
  utm_source             text,
  utm_medium             text,
  utm_campaign           text,
  utm_term               text,
  utm_content            text,
  device_type            text NOT NULL,             -- desktop | mobile | tablet | bot | other
  browser_family         text,
  browser_version        text,
  os_family              text,
  os_version             text,
  is_bot                 boolean NOT NULL,
  ip_truncated           inet,
  transaction_id         text,
  value                  numeric(16, 4),
  currency               char(3),
  quantity               integer,
  search_term            text,
  session_group          text NOT NULL,             -- sessionization key: s:<session_id> | c:<client_id> | u:<user_id>
  raw_object_key         text NOT NULL,
  raw_line               integer NOT NULL,
  etl_run_id             bigint NOT NULL,
  PRIMARY KEY (event_id, event_timestamp)
) PARTITION BY RANGE (event_timestamp);

CREATE INDEX clickstream_events_group_ts_idx ON clickstream_events (session_group, event_timestamp);
CREATE INDEX clickstream_events_ts_brin ON clickstream_events USING brin (event_timestamp);

-- Global dedup registry: which copy of an event_id is in clickstream_events. The copy kept is
-- the earliest received (then lowest object key and line), so the result does not depend on
-- the order the copies were loaded in.
CREATE TABLE clickstream_event_ids (
  event_id          uuid PRIMARY KEY,
  event_timestamp   timestamptz NOT NULL,
  received_at       timestamptz NOT NULL,
  raw_object_key    text NOT NULL,
  raw_line          integer NOT NULL
);

-- Creates the monthly partitions covering [from_ts, to_ts]. SECURITY DEFINER so that the ETL
-- writer need not own the table; it only takes timestamps and builds names from them.
CREATE FUNCTION dw_ensure_event_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  month_start date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
  last_month date := date_trunc('month', to_ts AT TIME ZONE 'UTC')::date;
  part_name text;
  created integer := 0;
BEGIN
  WHILE month_start <= last_month LOOP
    part_name := format('clickstream_events_y%sm%s', to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
    IF to_regclass(part_name) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE %I PARTITION OF clickstream_events FOR VALUES FROM (%L) TO (%L)',
        part_name,
        (month_start::timestamp AT TIME ZONE 'UTC'),
        ((month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
      created := created + 1;
    END IF;
    month_start := (month_start + interval '1 month')::date;
  END LOOP;
  RETURN created;
END $$;

-- Retention: drops whole months that end before cutoff (and their registry rows). Not granted
-- to the ETL writer; run by the warehouse owner (scripts/migrate_dw.py --drop-before).
CREATE FUNCTION dw_drop_event_partitions_before(cutoff timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  part record;
BEGIN
  FOR part IN
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'clickstream_events'::regclass
    ORDER BY c.relname
  LOOP
    IF (substring(part.bound FROM 'TO \(''([^'']+)''\)'))::timestamptz <= cutoff THEN
      DELETE FROM clickstream_event_ids WHERE event_timestamp < (substring(part.bound FROM 'TO \(''([^'']+)''\)'))::timestamptz;
      EXECUTE format('DROP TABLE %I', part.relname);
      RETURN NEXT part.relname;
    END IF;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION dw_drop_event_partitions_before(timestamptz) FROM PUBLIC;
