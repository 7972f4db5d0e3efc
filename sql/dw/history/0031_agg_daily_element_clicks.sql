-- Aggregates: daily element clicks and their per-day rollup (layer: aggregates).
--
-- The click events per UTC day, page and clicked element (tag, id and text as the ETL keeps
-- them: cut to a bounded size) and the dashboard's filter dimensions, for "what do visitors
-- click on this page". The Clicks tab's default view (no filter but bots) reads the rollup,
-- which has no device, channel or login-state split.
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
);
-- The dashboard's question with a filter: a date range, no bots, the most clicked elements.
CREATE INDEX agg_daily_element_clicks_date_idx ON agg_daily_element_clicks (activity_date) WHERE NOT is_bot;

-- Counted from the events, not summed from agg_daily_element_clicks: a session's events may
-- carry two login states, so its distinct-session counts do not add up across that table.
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
);

-- The two tables' one definition each, for the ETL's touched days and any backfill.
CREATE FUNCTION dw_element_click_rows(days date[])
RETURNS SETOF agg_daily_element_clicks
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date, coalesce(e.page_path, '(none)'), coalesce(e.element_tag, ''),
  coalesce(e.element_id, ''), coalesce(e.element_text, ''), e.device_type, e.channel, e.login_state, e.is_bot,
  count(*), count(DISTINCT e.session_group)
FROM unnest(days) AS d(activity_date) JOIN clickstream_events e
  ON e.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
 AND e.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
WHERE e.event_type = 'click'
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
$$;

CREATE FUNCTION dw_element_click_rollup_rows(days date[])
RETURNS SETOF agg_daily_element_clicks_rollup
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date, e.is_bot, coalesce(e.page_path, '(none)'),
  coalesce(e.element_tag, ''), coalesce(e.element_id, ''), coalesce(e.element_text, ''),
  count(*), count(DISTINCT e.session_group)
FROM unnest(days) AS d(activity_date) JOIN clickstream_events e
  ON e.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
 AND e.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
WHERE e.event_type = 'click'
GROUP BY 1, 2, 3, 4, 5, 6
$$;

-- Click events loaded before 0029 kept no element: their rows say so ('' for each part).
INSERT INTO agg_daily_element_clicks
SELECT * FROM dw_element_click_rows(ARRAY(SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date
                                          FROM clickstream_events WHERE event_type = 'click'));
INSERT INTO agg_daily_element_clicks_rollup
SELECT * FROM dw_element_click_rollup_rows(ARRAY(SELECT DISTINCT activity_date FROM agg_daily_element_clicks));

ALTER TABLE agg_daily_element_clicks SET (autovacuum_vacuum_scale_factor = 0.01,
                                          autovacuum_vacuum_insert_scale_factor = 0.01);
ALTER TABLE agg_daily_element_clicks_rollup SET (autovacuum_vacuum_scale_factor = 0.01,
                                                 autovacuum_vacuum_insert_scale_factor = 0.01);

GRANT SELECT, INSERT, DELETE ON agg_daily_element_clicks, agg_daily_element_clicks_rollup TO clickstream_etl_writer;
GRANT SELECT ON agg_daily_element_clicks, agg_daily_element_clicks_rollup TO clickstream_dashboard_reader;
GRANT EXECUTE ON FUNCTION dw_element_click_rows(date[]), dw_element_click_rollup_rows(date[])
  TO clickstream_etl_writer;
