-- agg_daily_element_clicks_rollup: clicks per day, page and element without the device,
-- channel and login-state split. Counted from the events, not summed from
-- agg_daily_element_clicks: a session's events may carry two login states, so its
-- distinct-session counts do not add up across that table.
CREATE OR REPLACE FUNCTION dw_element_click_rollup_rows(days date[])
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

GRANT EXECUTE ON FUNCTION dw_element_click_rollup_rows(date[]) TO clickstream_etl_writer;
