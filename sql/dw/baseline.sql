-- The warehouse schema for an empty database, in one file, ordered by layer.
--
-- covers: 0001-0033
--
-- It holds what the numbered chain history/0001-0033 leaves, so a new database is created in
-- one transaction instead of replaying 33 migrations; toolkit/dw/migrate.py then records
-- those versions as applied (with the history files' checksums), and the database goes on
-- from there like any other: later history files, then the models. An existing database
-- keeps upgrading through history/ and never reads this file. tests/dw/test_baseline.py
-- checks that both paths give the same pg_dump.
--
-- Not here: the dw_schema_migrations and dw_schema_models bookkeeping (the migrator creates
-- them before anything else), and every function a file of models/ defines (the row
-- functions and dw_is_page_view: the models create them on both paths). A change to the
-- schema is a new history file, not an edit of this one; this file changes only when it is
-- regenerated to cover more of the chain, its covers line with it.


-- ============================================================================================
-- Roles and extensions
-- ============================================================================================

-- Privileges are granted to two NOLOGIN group roles; scripts/migrate_dw.py creates the login
-- users (with passwords read from files) and makes them members. Group role names are
-- cluster-wide, so a cluster should hold one warehouse, and a second database finds them made.
DO $$
BEGIN
  CREATE ROLE clickstream_etl_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
  CREATE ROLE clickstream_dashboard_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- HyperLogLog sketches for the daily funnel's distinct visitors. The extension is not
-- trusted: the host's superuser creates it before migrations run (roles/dw, the test
-- fixtures); here it is only required.
CREATE EXTENSION IF NOT EXISTS hll;


-- ============================================================================================
-- Events layer
-- ============================================================================================

-- clickstream_events: one row per distinct event.
--
-- Partitioned by month of event time: retention is dropping a partition. A partitioned
-- table's primary key must contain the partition key, so event_id's global uniqueness is
-- enforced by clickstream_event_ids (one row per event_id, whichever copy won). The key
-- starts with the event time: events arrive roughly in time order, so the key index grows at
-- its right edge instead of splitting pages all over it as a leading random UUID would. The
-- only lookup by key (a replaced copy's delete) gives both columns.
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
  -- What each event's tracker dialect (lambdas/clickstream_common/dialects/) sent, whatever
  -- the tracker calls it: the list a list view showed (a category: its slug and name), what
  -- was clicked (tag, id, role and text cut to a bounded size with a marker, href, and
  -- element.dataset as jsonb, bounded, keys as sent), the page role the dialect gives ('view':
  -- a page view of its own; 'impression': what a page shows, part of the page view before it
  -- when that is a view of the same page; null: not a page event) and the dialect itself.
  item_list_id           text,
  item_list_name         text,
  element_tag            text,
  element_id             text,
  element_role           text,
  element_text           text,
  element_href           text,
  element_dataset        jsonb,
  page_role              text CHECK (page_role IN ('view', 'impression')),
  dialect                text NOT NULL DEFAULT 'clickstream',
  PRIMARY KEY (event_timestamp, event_id)
) PARTITION BY RANGE (event_timestamp);

-- Sessionization reads a group's events in time order.
CREATE INDEX clickstream_events_group_ts_idx ON clickstream_events (session_group, event_timestamp);
CREATE INDEX clickstream_events_ts_brin ON clickstream_events USING brin (event_timestamp);
-- Identity stitching looks up, for each client of a batch, its events that carry a user_id;
-- without this index that lookup scans the whole events table once per batch.
CREATE INDEX clickstream_events_client_login_idx
  ON clickstream_events (client_id, event_timestamp, event_id)
  WHERE user_id IS NOT NULL AND client_id IS NOT NULL;
-- Purchases that name no product (the SBW storefront's checkout_complete) take their products
-- from the session's cart: the derive phase looks them up by group, and there are few.
CREATE INDEX clickstream_events_itemless_purchase_idx ON clickstream_events (session_group, event_timestamp)
  WHERE event_type = 'purchase' AND product_id IS NULL;
-- The clicks aggregate reads a day's click events alone.
CREATE INDEX clickstream_events_click_idx ON clickstream_events (event_timestamp) WHERE event_type = 'click';

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

-- Identity stitching, client_id -> user_id.
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


-- ============================================================================================
-- Sessions layer
-- ============================================================================================

-- clickstream_sessions: one row per session.
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
  page_view_count    integer NOT NULL,            -- page loads (models/events/page_views.sql)
  landing_page       text,                        -- first of page_paths
  exit_page          text,                        -- last of page_paths
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
  is_bounce          boolean NOT NULL,            -- at most one page view and no event but page events
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
  etl_run_id         bigint NOT NULL,
  -- A digest of what the daily funnel and page-transition aggregates read from the session
  -- (its page paths): a session derived again only because identity stitching changed its
  -- user keeps it, and its day's page aggregates are not recomputed.
  derive_signature   text,
  -- The page_path of every event that has one, in time order (repeats included): a day's page
  -- transitions are computed from its sessions alone, without joining them back to events.
  page_paths         text[],
  -- The session added to its cart; and no purchase came after its last add_to_cart (cart
  -- abandonment is a funnel figure).
  has_cart           boolean NOT NULL DEFAULT false,
  cart_abandoned     boolean NOT NULL DEFAULT false
);
CREATE INDEX clickstream_sessions_group_idx ON clickstream_sessions (session_group, session_start);
CREATE INDEX clickstream_sessions_date_idx ON clickstream_sessions (session_date);
CREATE INDEX clickstream_sessions_person_idx ON clickstream_sessions (person_key, session_start);
CREATE INDEX clickstream_sessions_client_idx ON clickstream_sessions (client_id);
-- The journeys tab's top paths to purchase read only converting sessions (a few percent of
-- all): a partial index finds them without walking the whole date range of sessions.
CREATE INDEX clickstream_sessions_purchase_date_idx
  ON clickstream_sessions (session_date) WHERE reached_purchase;

-- Events with the session they belong to, for journeys and drill-downs. The columns are the
-- events' as they were when the view was made (history/0004 wrote e.*, which PostgreSQL
-- expands once, at creation): the dialect, element and list columns added to the events
-- later are not in it, and are not here either, so that both paths leave the same view.
CREATE VIEW clickstream_event_sessions AS
SELECT s.session_key, e.event_id, e.event_timestamp, e.event_name, e.user_id, e.user_login_state,
       e.identity_source, e.client_id, e.session_id, e.is_first_visit, e.product_id, e.product_name,
       e.product_category, e.product_brand, e.product_price, e.product_discount_price, e.product_url_path,
       e.event_type, e.received_at, e.client_created_at, e.client_sent_at, e.login_state, e.page_url,
       e.page_path, e.page_title, e.referrer, e.referrer_host, e.channel, e.utm_source, e.utm_medium,
       e.utm_campaign, e.utm_term, e.utm_content, e.device_type, e.browser_family, e.browser_version,
       e.os_family, e.os_version, e.is_bot, e.ip_truncated, e.transaction_id, e.value, e.currency,
       e.quantity, e.search_term, e.session_group, e.raw_object_key, e.raw_line, e.etl_run_id
FROM clickstream_events e
JOIN clickstream_sessions s
  ON s.session_group = e.session_group
 AND e.event_timestamp BETWEEN s.session_start AND s.session_end;

-- Visitors: a visitor is a person_key (the stitched user, else the client). Their retention
-- cohort is the ISO week (Monday, UTC) of their first session; their first session also gives
-- the cohort's channel, device and bot flag.
CREATE TABLE clickstream_visitors (
  person_key        text PRIMARY KEY,
  first_seen_at     timestamptz NOT NULL,
  last_seen_at      timestamptz NOT NULL,
  cohort_week       date NOT NULL,
  first_channel     text NOT NULL,
  first_device_type text NOT NULL,
  is_bot            boolean NOT NULL,
  sessions          integer NOT NULL,
  etl_run_id        bigint NOT NULL
);
CREATE INDEX clickstream_visitors_cohort_idx ON clickstream_visitors (cohort_week);


-- ============================================================================================
-- Aggregates layer
-- ============================================================================================
--
-- The ETL rewrites a few recent days (hours, weeks) of each aggregate every run. The ones the
-- dashboards read by date range through covering indexes are vacuumed after 1 % of changes
-- instead of the default 20 %: index-only scans skip the table only for pages the visibility
-- map marks all-visible, and the map must keep up with the half-hourly runs. A row function
-- in models/aggregates/ is the one definition of an aggregate's rows where there is one.

-- Hourly activity by event type, recomputed for every hour that received events in a run.
CREATE TABLE agg_hourly_activity (
  activity_hour    timestamptz NOT NULL,          -- UTC hour of event_timestamp
  event_type       text NOT NULL,                 -- canonical event name
  device_type      text NOT NULL,
  channel          text NOT NULL,
  login_state      text NOT NULL,
  is_bot           boolean NOT NULL,
  events           bigint NOT NULL,
  clients          bigint NOT NULL,               -- distinct client_id (not additive across rows)
  users            bigint NOT NULL,               -- distinct user_id (not additive across rows)
  sessions         bigint NOT NULL,               -- distinct session_group (not additive across rows)
  PRIMARY KEY (activity_hour, event_type, device_type, channel, login_state, is_bot)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);
-- The Trends tab reads a date range with an index-only scan.
CREATE INDEX agg_hourly_activity_cover_idx
  ON agg_hourly_activity (activity_hour, is_bot)
  INCLUDE (event_type, device_type, channel, login_state, events);

-- Daily product engagement: counts per UTC day of event_timestamp, product and the dashboard's
-- filter dimensions. Rates are ratios of this row's counts; across rows, sum the counts and
-- divide.
CREATE TABLE agg_daily_product_engagement (
  activity_date     date NOT NULL,
  product_id        text NOT NULL,
  product_category  text NOT NULL,                -- '(none)' when not sent
  product_brand     text NOT NULL,                -- '(none)' when not sent
  device_type       text NOT NULL,
  channel           text NOT NULL,
  login_state       text NOT NULL,
  is_bot            boolean NOT NULL,
  product_name      text,                         -- the most recent name seen that day
  views             bigint NOT NULL,              -- view_item
  add_to_carts      bigint NOT NULL,              -- add_to_cart
  checkouts         bigint NOT NULL,              -- begin_checkout
  purchases         bigint NOT NULL,              -- purchase
  quantity_purchased bigint NOT NULL,             -- sum of quantity (1 when absent) on purchase events
  revenue           numeric(18, 4) NOT NULL,      -- sum of value (else discount price, else price) on purchases
  add_to_cart_rate  numeric GENERATED ALWAYS AS (CASE WHEN views > 0 THEN add_to_carts::numeric / views END) STORED,
  purchase_rate     numeric GENERATED ALWAYS AS (CASE WHEN views > 0 THEN purchases::numeric / views END) STORED,
  PRIMARY KEY (activity_date, product_id, product_category, product_brand, device_type, channel, login_state, is_bot)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);
CREATE INDEX agg_daily_product_engagement_category_idx ON agg_daily_product_engagement (product_category, activity_date);
-- The Products tab reads a date range with an index-only scan.
CREATE INDEX agg_daily_product_engagement_cover_idx
  ON agg_daily_product_engagement (activity_date, is_bot)
  INCLUDE (product_id, product_category, product_brand, device_type, channel, login_state, product_name,
           views, add_to_carts, checkouts, purchases, quantity_purchased, revenue);

-- Daily element clicks (models/aggregates/agg_daily_element_clicks.sql): click events per
-- UTC day, page and clicked element, for "what do visitors click on this page".
CREATE TABLE agg_daily_element_clicks (
  activity_date  date NOT NULL,
  page_path      text NOT NULL,                 -- '(none)' when the event had no page
  element_tag    text NOT NULL,                 -- '' when not sent
  element_id     text NOT NULL,                 -- '' when not sent
  element_text   text NOT NULL,                 -- '' when not sent
  device_type    text NOT NULL,
  channel        text NOT NULL,
  login_state    text NOT NULL,
  is_bot         boolean NOT NULL,
  clicks         bigint NOT NULL,
  sessions       bigint NOT NULL,               -- distinct session groups (not additive across rows)
  PRIMARY KEY (activity_date, page_path, element_tag, element_id, element_text, device_type, channel,
               login_state, is_bot)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);
-- The dashboard's question with a filter: a date range, no bots, the most clicked elements.
CREATE INDEX agg_daily_element_clicks_date_idx ON agg_daily_element_clicks (activity_date) WHERE NOT is_bot;

-- Its rollup without the device, channel and login-state split, which the Clicks tab's
-- default view (no filter but bots) reads (models/aggregates/agg_daily_element_clicks_rollup.sql).
CREATE TABLE agg_daily_element_clicks_rollup (
  activity_date  date NOT NULL,
  is_bot         boolean NOT NULL,
  page_path      text NOT NULL,
  element_tag    text NOT NULL,
  element_id     text NOT NULL,
  element_text   text NOT NULL,
  clicks         bigint NOT NULL,
  sessions       bigint NOT NULL,
  PRIMARY KEY (activity_date, is_bot, page_path, element_tag, element_id, element_text) INCLUDE (clicks, sessions)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);

-- Daily funnel (models/aggregates/agg_daily_funnel.sql): sessions by the furthest stage they
-- reached, per UTC day of session start and the dashboard's filter dimensions. A session
-- "reaches" stage k when it has an event of that stage (order not required).
--
-- visitors: distinct visitors do not add up across days or filter values, so each row holds a
-- HyperLogLog sketch of its person_keys, which union over any days and filters:
-- hll_cardinality(hll_union_agg(visitors)). Parameters 14/5 (log2m/regwidth) give about 0.8 %
-- standard error on large counts; small sets stay in the explicit representation and count
-- exactly. The column's type modifier pins the parameters, so a sketch built with others is
-- refused.
CREATE TABLE agg_daily_funnel (
  session_date      date NOT NULL,
  channel           text NOT NULL,
  device_type       text NOT NULL,
  login_state       text NOT NULL,
  product_category  text NOT NULL,                -- the session's first product category, '(none)'
  is_bot            boolean NOT NULL,
  sessions          bigint NOT NULL,
  view_item_sessions      bigint NOT NULL,
  add_to_cart_sessions    bigint NOT NULL,
  begin_checkout_sessions bigint NOT NULL,
  purchase_sessions       bigint NOT NULL,
  engaged_sessions  bigint NOT NULL,
  bounced_sessions  bigint NOT NULL,
  revenue           numeric(18, 4) NOT NULL,
  visitors          hll(14, 5, -1, 1) NOT NULL,
  cart_sessions           bigint NOT NULL DEFAULT 0,  -- sessions with has_cart
  abandoned_cart_sessions bigint NOT NULL DEFAULT 0,  -- of those, cart_abandoned
  PRIMARY KEY (session_date, channel, device_type, login_state, product_category, is_bot)
);

-- Landing and exit pages per day (models/aggregates/agg_daily_entry_exit_pages.sql). Each
-- session counts twice: under its landing page and under its exit page. The key INCLUDEs the
-- measures so that the journeys tab reads this table with an index-only scan.
CREATE TABLE agg_daily_entry_exit_pages (
  session_date      date NOT NULL,
  is_bot            boolean NOT NULL,
  page_role         text NOT NULL CHECK (page_role IN ('landing', 'exit')),
  page_path         text NOT NULL,
  channel           text NOT NULL,
  device_type       text NOT NULL,
  login_state       text NOT NULL,
  product_category  text NOT NULL,                -- the session's first product category, '(none)'
  sessions          bigint NOT NULL,
  bounced_sessions  bigint NOT NULL,
  purchase_sessions bigint NOT NULL,
  PRIMARY KEY (session_date, is_bot, page_role, page_path, channel, device_type, login_state, product_category)
    INCLUDE (sessions, bounced_sessions, purchase_sessions)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);

-- Weekly retention cohorts, from clickstream_visitors and the sessions.
CREATE TABLE agg_weekly_retention (
  cohort_week       date NOT NULL,                -- Monday of the first-visit week
  week_offset       integer NOT NULL,             -- 0 = the first-visit week
  channel           text NOT NULL,                -- of the visitor's first session
  device_type       text NOT NULL,                -- of the visitor's first session
  is_bot            boolean NOT NULL,
  cohort_size       bigint NOT NULL,              -- visitors whose first week is cohort_week
  active_visitors   bigint NOT NULL,              -- of those, visitors with a session in week cohort_week + week_offset
  retention_rate    numeric GENERATED ALWAYS AS (CASE WHEN cohort_size > 0 THEN active_visitors::numeric / cohort_size END) STORED,
  PRIMARY KEY (cohort_week, week_offset, channel, device_type, is_bot)
);

-- Page-to-page transitions for journeys (models/aggregates/agg_page_transitions.sql), per UTC
-- day of session start.
--
-- No primary key: the key is unique by construction (a day's rows are deleted and inserted
-- again from one GROUP BY over it, under the ETL's advisory lock, and the tests check that no
-- key repeats), and a seven-column key index was most of the cost of writing a day's rows,
-- on the critical path of the derive phase. The dashboards, the rollup and the day's DELETE
-- read through the covering index.
CREATE TABLE agg_page_transitions (
  session_date      date NOT NULL,
  from_page         text NOT NULL,
  to_page           text NOT NULL,
  device_type       text NOT NULL,
  channel           text NOT NULL,
  login_state       text NOT NULL,
  is_bot            boolean NOT NULL,
  transitions       bigint NOT NULL,
  sessions          bigint NOT NULL               -- distinct sessions with this transition
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);
-- A date range of transitions, read with an index-only scan.
CREATE INDEX agg_page_transitions_cover_idx
  ON agg_page_transitions (session_date, is_bot)
  INCLUDE (from_page, to_page, device_type, channel, login_state, transitions, sessions);

-- Page transitions per day without the device, channel and login-state split
-- (models/aggregates/agg_daily_page_transitions_rollup.sql). The journeys tab's default view
-- (no filter but bots) sums this rollup's rows instead of the many times more that
-- agg_page_transitions holds for the same days; a filter on device, channel or login state
-- still reads agg_page_transitions.
CREATE TABLE agg_daily_page_transitions_rollup (
  session_date      date NOT NULL,
  is_bot            boolean NOT NULL,
  from_page         text NOT NULL,
  to_page           text NOT NULL,
  transitions       bigint NOT NULL,
  sessions          bigint NOT NULL,
  PRIMARY KEY (session_date, is_bot, from_page, to_page) INCLUDE (transitions, sessions)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);


-- ============================================================================================
-- ETL bookkeeping: runs, the object ledger, rejections, work handed between steps
-- ============================================================================================

-- One row per ETL invocation, written at start and updated at the end.
CREATE TABLE etl_runs (
  run_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  status            text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'dry_run')),
  trigger           text NOT NULL,                 -- schedule | manual | local
  window_start      timestamptz,                   -- lower bound of the raw hour prefixes listed
  window_end        timestamptz,                   -- upper bound (exclusive)
  prefix            text,
  reprocess         boolean NOT NULL DEFAULT false,
  objects_listed    integer NOT NULL DEFAULT 0,
  objects_loaded    integer NOT NULL DEFAULT 0,
  events_read       bigint  NOT NULL DEFAULT 0,
  events_loaded     bigint  NOT NULL DEFAULT 0,
  events_duplicate  bigint  NOT NULL DEFAULT 0,
  events_rejected   bigint  NOT NULL DEFAULT 0,
  sessions_touched  bigint  NOT NULL DEFAULT 0,
  newest_event_at   timestamptz,
  duration_ms       bigint,
  error             text,
  summary           jsonb,
  objects_skipped   integer NOT NULL DEFAULT 0
);

-- Exactly-once ledger: a raw object's rows and its ledger row commit in one transaction.
--
-- No poison objects: one raw object the ETL cannot read does not fail every run. The ledger
-- records what became of each object a run tried to read:
--   loaded   read and loaded;
--   rejected read, but its bytes do not decode (reason unreadable_object, one rejection at
--            line 0): read again only when its ETag changes, since the same bytes would fail
--            the same way;
--   skipped  S3 would not hand it over: reason archived (InvalidObjectState: GLACIER or
--            DEEP_ARCHIVE, not restored), deleted (NoSuchKey: gone between listing and read)
--            or changed (PreconditionFailed: rewritten since it was listed). Read again when
--            the listing shows another ETag or storage class, or once retry_after has come
--            (lambdas/etl/load.py SKIP_RETRY_FIRST, doubling, at most SKIP_RETRY_LONGEST).
-- A skipped key whose earlier version was loaded keeps that version's counts and loaded_at:
-- its events stay in the warehouse until a version is read. loaded_at is NULL for a key no
-- version of which was ever read.
CREATE TABLE etl_object_ledger (
  object_key        text PRIMARY KEY,
  etag              text NOT NULL,
  size_bytes        bigint NOT NULL,
  last_modified     timestamptz,
  events_read       integer NOT NULL,
  events_loaded     integer NOT NULL,
  events_duplicate  integer NOT NULL,
  events_rejected   integer NOT NULL,
  run_id            bigint NOT NULL REFERENCES etl_runs (run_id),
  loaded_at         timestamptz DEFAULT now(),
  status            text NOT NULL DEFAULT 'loaded' CHECK (status IN ('loaded', 'rejected', 'skipped')),
  reason            text,                          -- unreadable_object | archived | deleted | changed
  detail            text,                          -- the decoder's or S3's message
  storage_class     text,                          -- as last listed
  failed_at         timestamptz,                   -- when last rejected or skipped
  attempts          integer NOT NULL DEFAULT 0,    -- consecutive skips of this ETag
  retry_after       timestamptz,                   -- skipped: read again from then on though unchanged
  CONSTRAINT etl_object_ledger_reason_check CHECK ((status = 'loaded') = (reason IS NULL))
);
CREATE INDEX etl_object_ledger_run_idx ON etl_object_ledger (run_id);
-- The Data health tab lists the objects not loaded, newest first; normally a handful.
CREATE INDEX etl_object_ledger_not_loaded_idx ON etl_object_ledger (failed_at) WHERE status <> 'loaded';

-- Lines of raw objects that could not become warehouse rows, with a machine-readable code.
CREATE TABLE etl_rejected_events (
  rejected_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  object_key        text NOT NULL,
  line_no           integer NOT NULL,               -- 1-based line of the object
  event_id          uuid,
  reason_code       text NOT NULL,                  -- not_json, missing_field, future_timestamp, too_late, ...
  field             text,
  reason            text NOT NULL,
  raw_line          text NOT NULL,
  received_at       timestamptz,
  run_id            bigint NOT NULL REFERENCES etl_runs (run_id),
  rejected_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (object_key, line_no)
);
CREATE INDEX etl_rejected_events_reason_idx ON etl_rejected_events (reason_code, rejected_at);
-- health_rejections counts by UTC day and reason.
CREATE INDEX etl_rejected_events_day_reason_idx
  ON etl_rejected_events (((rejected_at AT TIME ZONE 'UTC')::date), reason_code);

-- Work handed between the steps of a run; normally empty between runs. Each is written in the
-- transaction that produces the work and cleared in the one that consumes it, so a run that
-- dies in between is finished by the next one, and the steps after sessions can run in their
-- own transactions on the derive phase's two connections.
--
-- The load phase leaves the session groups and event hours it touched for the derive phase.
CREATE TABLE etl_pending_groups (
  session_group     text PRIMARY KEY
);
CREATE TABLE etl_pending_hours (
  activity_hour     timestamptz PRIMARY KEY
);
-- The sessions step hands the sessions it removed (is_new false) and inserted (true) to the
-- visitors step. Rows of several runs may meet here when one stopped between the two steps: a
-- session removed and inserted again appears on both sides, which makes its visitor be
-- recomputed from all of their sessions.
CREATE TABLE etl_pending_visitor_sessions (
  session_key   text NOT NULL,
  person_key    text NOT NULL,
  session_date  date NOT NULL,
  is_new        boolean NOT NULL
);
-- ... and each changed day to the day-level aggregates: the funnel with landing and exit pages,
-- and page transitions, each step clearing its own.
CREATE TABLE etl_pending_session_days (
  session_date      date PRIMARY KEY
);
CREATE TABLE etl_pending_transition_days (
  session_date      date PRIMARY KEY
);

-- Scratch space for the derive phase's heaviest read, split over two connections: each
-- computes its share of the session rows here, and one transaction applies them. UNLOGGED,
-- since the rows are recomputed rather than recovered: every step clears what an interrupted
-- run left before it starts, and the transaction that applies the rows deletes them.
CREATE UNLOGGED TABLE etl_work_sessions (
  session_key       text NOT NULL,
  session_group     text NOT NULL,
  session_id        text,
  first_client_id   text,
  any_client_id     text,
  first_user_id     text,
  any_user_id       text,
  login_state       text NOT NULL,
  session_start     timestamptz NOT NULL,
  session_end       timestamptz NOT NULL,
  event_count       bigint NOT NULL,
  page_view_count   bigint NOT NULL,
  landing_page      text,
  exit_page         text,
  channel           text,
  referrer_host     text,
  utm_source        text,
  utm_medium        text,
  utm_campaign      text,
  device_type       text,
  browser_family    text,
  os_family         text,
  is_bot            boolean,
  product_category  text,
  funnel_stage      integer NOT NULL,
  purchases         bigint NOT NULL,
  revenue           numeric NOT NULL,
  page_paths        text[],
  page_event_count  bigint,                         -- the session's page events (bounces)
  last_add_to_cart_at timestamptz,                  -- carts: abandoned unless a purchase came after
  last_purchase_at  timestamptz
);


-- ============================================================================================
-- Health views: what the dashboards' Data health tab reads of the bookkeeping
-- ============================================================================================
--
-- The dashboards' login reads these instead of the bookkeeping tables, which hold clients'
-- payloads (etl_rejected_events.raw_line) and run summaries. The views run with their owner's
-- rights: the reader needs SELECT on them only.

-- ETL runs without the summary JSON, error messages cut as the tab shows them.
CREATE VIEW health_etl_runs AS
SELECT run_id, started_at, finished_at, status, trigger, objects_listed, objects_loaded, objects_skipped,
       events_read, events_loaded, events_duplicate, events_rejected, sessions_touched, newest_event_at,
       duration_ms, left(error, 300) AS error
FROM etl_runs;

-- Rejected lines counted by UTC day and reason: no payloads.
CREATE VIEW health_rejections AS
SELECT (rejected_at AT TIME ZONE 'UTC')::date AS rejected_date, reason_code, count(*) AS rejected
FROM etl_rejected_events
GROUP BY 1, 2;

-- Where rejected lines are and why, without the line itself (raw_line) or its event_id.
CREATE VIEW health_rejected_lines AS
SELECT rejected_id, rejected_at, reason_code, field, left(reason, 200) AS reason, object_key, line_no, run_id
FROM etl_rejected_events;

-- When objects were loaded, for the count of the last 24 hours; nothing else of the ledger.
CREATE VIEW health_object_loads AS
SELECT loaded_at FROM etl_object_ledger WHERE loaded_at IS NOT NULL;

-- Raw objects not loaded: skipped (archived, deleted, changed) or rejected as unreadable.
-- security_barrier: the reader's own conditions run after the view's filter.
CREATE VIEW health_skipped_objects WITH (security_barrier) AS
SELECT object_key, status, reason, left(detail, 300) AS detail, size_bytes, storage_class, last_modified,
       failed_at, attempts, retry_after
FROM etl_object_ledger
WHERE status <> 'loaded';


-- ============================================================================================
-- Privileges
-- ============================================================================================
--
-- Least privilege: the ETL writer reads and writes warehouse tables (never DDL except through
-- dw_ensure_event_partitions); the dashboard reader only reads, and only what the dashboards
-- show (tests/dw/test_reader_privileges.py runs every statement of shiny/R as this role and
-- checks that nothing else is readable). Neither owns anything. The models grant EXECUTE on
-- their own functions.

GRANT USAGE ON SCHEMA public TO clickstream_etl_writer, clickstream_dashboard_reader;

-- The ETL stages each batch in temporary tables: its group needs TEMPORARY on the warehouse
-- database explicitly, since hardened hosts revoke it from PUBLIC.
DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO clickstream_etl_writer', current_database());
END $$;

-- The ETL writer.
GRANT SELECT, INSERT, UPDATE, DELETE ON
  clickstream_events, clickstream_event_ids, clickstream_identity_map, clickstream_sessions,
  clickstream_visitors, agg_hourly_activity, agg_daily_product_engagement, agg_daily_funnel,
  agg_daily_entry_exit_pages, agg_weekly_retention, agg_page_transitions, agg_daily_page_transitions_rollup,
  etl_runs, etl_object_ledger, etl_rejected_events, etl_pending_groups, etl_pending_hours,
  etl_pending_session_days
TO clickstream_etl_writer;
-- Tables the ETL only fills and empties.
GRANT SELECT, INSERT, DELETE ON
  agg_daily_element_clicks, agg_daily_element_clicks_rollup, etl_pending_visitor_sessions,
  etl_pending_transition_days, etl_work_sessions
TO clickstream_etl_writer;
GRANT SELECT ON clickstream_event_sessions TO clickstream_etl_writer;
GRANT EXECUTE ON FUNCTION dw_ensure_event_partitions(timestamptz, timestamptz) TO clickstream_etl_writer;
REVOKE EXECUTE ON FUNCTION dw_ensure_event_partitions(timestamptz, timestamptz) FROM PUBLIC;
-- Retention is the owner's alone.
REVOKE ALL ON FUNCTION dw_drop_event_partitions_before(timestamptz) FROM PUBLIC;

-- The dashboard reader: the sessions, the aggregates and the health views. Not the events
-- (nor clickstream_event_sessions over them), identities (clickstream_identity_map,
-- clickstream_visitors), raw rejected lines or the bookkeeping tables themselves.
GRANT SELECT ON
  clickstream_sessions, agg_hourly_activity, agg_daily_product_engagement, agg_daily_element_clicks,
  agg_daily_element_clicks_rollup, agg_daily_funnel, agg_daily_entry_exit_pages, agg_weekly_retention,
  agg_page_transitions, agg_daily_page_transitions_rollup,
  health_etl_runs, health_rejections, health_rejected_lines, health_object_loads, health_skipped_objects
TO clickstream_dashboard_reader;
