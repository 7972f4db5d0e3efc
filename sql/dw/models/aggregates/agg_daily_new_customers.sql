-- agg_daily_new_customers: the visitors whose first purchase fell on each of the given UTC
-- days, by their first session's channel, device and bot flag and by how long after their
-- first visit's start they first bought (time_bucket, see sql/dw/history/0039): customers,
-- those with at least two orders so far, and their orders and revenue so far.
CREATE OR REPLACE FUNCTION dw_new_customer_rows(days date[])
RETURNS SETOF agg_daily_new_customers
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT d.day, v.first_channel, v.first_device_type, v.is_bot,
  width_bucket(extract(epoch FROM v.first_purchase_at - v.first_seen_at)::float8,
               ARRAY[300, 900, 3600, 21600, 86400, 259200, 604800, 1209600, 2592000, 7776000]::float8[])::smallint,
  count(*), count(*) FILTER (WHERE v.orders >= 2), sum(v.orders), sum(v.revenue)
FROM unnest(days) AS d(day)
JOIN clickstream_visitors v
  ON v.first_purchase_at >= d.day::timestamp AT TIME ZONE 'UTC'
 AND v.first_purchase_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY 1, 2, 3, 4, 5
$$;

GRANT EXECUTE ON FUNCTION dw_new_customer_rows(date[]) TO clickstream_etl_writer;
