-- agg_daily_funnel: sessions per day and dimension by the furthest funnel stage they reached,
-- with engagement, bounces, revenue, carts, checkout steps and a HyperLogLog sketch of their visitors (unioned
-- over a period by the dashboards: distinct visitors cannot be summed across days), and of those
-- the first visits (is_first_visit: the visitors step sets it before the days step runs, and
-- hands on the days whose sessions it changed).
CREATE OR REPLACE FUNCTION dw_funnel_rows(days date[])
RETURNS SETOF agg_daily_funnel
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT session_date, channel, device_type, login_state, coalesce(product_category, '(none)'), is_bot,
  count(*), count(*) FILTER (WHERE reached_view_item), count(*) FILTER (WHERE reached_add_to_cart),
  count(*) FILTER (WHERE reached_begin_checkout), count(*) FILTER (WHERE reached_purchase),
  count(*) FILTER (WHERE is_engaged), count(*) FILTER (WHERE is_bounce), sum(revenue),
  hll_add_agg(hll_hash_text(person_key), 14, 5, -1, 1),
  count(*) FILTER (WHERE has_cart), count(*) FILTER (WHERE cart_abandoned),
  count(*) FILTER (WHERE checkout_step >= 2), count(*) FILTER (WHERE checkout_step >= 3), sum(cart_removals),
  coalesce(sum(cart_value) FILTER (WHERE cart_abandoned), 0),
  count(*) FILTER (WHERE is_first_visit), count(*) FILTER (WHERE is_first_visit AND reached_purchase),
  coalesce(sum(revenue) FILTER (WHERE is_first_visit), 0)
FROM clickstream_sessions
WHERE session_date = ANY (days)
GROUP BY 1, 2, 3, 4, 5, 6
$$;

GRANT EXECUTE ON FUNCTION dw_funnel_rows(date[]) TO clickstream_etl_writer;
