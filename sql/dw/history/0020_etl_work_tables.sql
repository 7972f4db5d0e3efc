-- Scratch space for the derive phase's heaviest reads, split over two connections: each
-- computes its share of the session rows, or of a day's page transitions, here, and one
-- transaction applies them. UNLOGGED, since the rows are recomputed rather than recovered:
-- every step clears what an interrupted run left before it starts, and the transaction that
-- applies the rows deletes them.
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
  events_sig        bigint
);

CREATE UNLOGGED TABLE etl_work_transitions (LIKE agg_page_transitions);

GRANT SELECT, INSERT, DELETE ON etl_work_sessions, etl_work_transitions TO clickstream_etl_writer;
