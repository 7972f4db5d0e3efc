-- agg_daily_element_clicks: click events per UTC day, page and clicked element (tag, id and
-- text as the ETL keeps them: cut to a bounded size), by the dashboards' filter dimensions.
-- Sessions are distinct session groups, not additive across rows.
CREATE OR REPLACE FUNCTION dw_element_click_rows(days date[])
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

GRANT EXECUTE ON FUNCTION dw_element_click_rows(date[]) TO clickstream_etl_writer;
