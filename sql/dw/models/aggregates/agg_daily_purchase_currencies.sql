-- agg_daily_purchase_currencies: purchase events per UTC day, bot flag and the currency they
-- were sent in (the store's when they named none; '(none)' when no store currency is set),
-- with the sum of their values as sent.
CREATE OR REPLACE FUNCTION dw_purchase_currency_rows(days date[])
RETURNS SETOF agg_daily_purchase_currencies
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date, coalesce(e.currency, '(none)'), e.is_bot,
  count(*), coalesce(sum(e.value), 0)
FROM unnest(days) AS d(activity_date) JOIN clickstream_events e
  ON e.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
 AND e.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
WHERE e.event_type = 'purchase'
GROUP BY 1, 2, 3
$$;

GRANT EXECUTE ON FUNCTION dw_purchase_currency_rows(date[]) TO clickstream_etl_writer;
