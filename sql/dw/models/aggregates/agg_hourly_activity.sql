-- agg_hourly_activity: events per hour, event type and the dashboards' filter dimensions, with
-- distinct clients, users and session groups (not additive across rows).
CREATE OR REPLACE FUNCTION dw_hourly_activity_rows(hours timestamptz[])
RETURNS SETOF agg_hourly_activity
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT date_trunc('hour', e.event_timestamp), e.event_type, e.device_type, e.channel, e.login_state, e.is_bot,
  count(*), count(DISTINCT e.client_id), count(DISTINCT e.user_id), count(DISTINCT e.session_group)
FROM unnest(hours) AS h(activity_hour) JOIN clickstream_events e
  ON e.event_timestamp >= h.activity_hour AND e.event_timestamp < h.activity_hour + interval '1 hour'
GROUP BY 1, 2, 3, 4, 5, 6
$$;

GRANT EXECUTE ON FUNCTION dw_hourly_activity_rows(timestamptz[]) TO clickstream_etl_writer;
