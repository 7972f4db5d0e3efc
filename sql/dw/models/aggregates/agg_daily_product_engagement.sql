-- agg_daily_product_engagement: views, carts, checkouts and purchases per product, UTC day and
-- the dashboards' filter dimensions (add_to_cart_rate and purchase_rate are generated).
--
-- Two sources, one row per key:
-- - the day's events that name a product (product_events);
-- - purchases that name none (the SBW storefront's checkout_complete): they bought what was in
--   the cart, the add_to_cart events of the purchase's session group since the group's previous
--   purchase (within 24 h, a session's longest), less its remove_from_cart events; a removal
--   without a quantity takes the product out of the cart. The purchase's value is shared among
--   those products by their cart amounts (by quantity when no price was sent), so that the
--   products' revenue adds up to the purchase's; without a value, each product's cart amount
--   is its revenue (cart_purchases).
-- The product's name is the latest its events carried that day, else its cart's.
CREATE OR REPLACE FUNCTION dw_product_engagement_rows(days date[])
RETURNS TABLE (activity_date date, product_id text, product_category text, product_brand text, device_type text,
               channel text, login_state text, is_bot boolean, product_name text, views bigint,
               add_to_carts bigint, checkouts bigint, purchases bigint, quantity_purchased bigint,
               revenue numeric(18, 4))
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH product_events AS (
  SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date AS activity_date, e.product_id,
    coalesce(e.product_category, '(none)') AS product_category, coalesce(e.product_brand, '(none)') AS product_brand,
    e.device_type, e.channel, e.login_state, e.is_bot,
    (array_agg(e.product_name ORDER BY e.event_timestamp DESC, e.event_id)
       FILTER (WHERE e.product_name IS NOT NULL))[1] AS product_name,
    count(*) FILTER (WHERE e.event_type = 'view_item') AS views,
    count(*) FILTER (WHERE e.event_type = 'add_to_cart') AS add_to_carts,
    count(*) FILTER (WHERE e.event_type = 'begin_checkout') AS checkouts,
    count(*) FILTER (WHERE e.event_type = 'purchase') AS purchases,
    coalesce(sum(coalesce(e.quantity, 1)) FILTER (WHERE e.event_type = 'purchase'), 0) AS quantity_purchased,
    coalesce(sum(coalesce(e.value, coalesce(e.product_discount_price, e.product_price) * coalesce(e.quantity, 1)))
             FILTER (WHERE e.event_type = 'purchase'), 0)::numeric(18, 4) AS revenue,
    1 AS source
  FROM unnest(days) AS d(activity_date) JOIN clickstream_events e
    ON e.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
   AND e.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
  WHERE e.product_id IS NOT NULL
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), purchases AS (
  SELECT p.event_id, p.event_timestamp, p.session_group, p.value, p.device_type, p.channel, p.login_state,
         p.is_bot, (p.event_timestamp AT TIME ZONE 'UTC')::date AS activity_date,
         (SELECT max(q.event_timestamp) FROM clickstream_events q
          WHERE q.session_group = p.session_group AND q.event_type = 'purchase'
            AND q.event_timestamp >= p.event_timestamp - interval '24 hours' AND q.event_timestamp <= p.event_timestamp
            AND (q.event_timestamp, q.event_id) < (p.event_timestamp, p.event_id)) AS previous_at
  FROM unnest(days) AS d(activity_date) JOIN clickstream_events p
    ON p.event_timestamp >= (d.activity_date::timestamp AT TIME ZONE 'UTC')
   AND p.event_timestamp < ((d.activity_date + 1)::timestamp AT TIME ZONE 'UTC')
  WHERE p.event_type = 'purchase' AND p.product_id IS NULL
), cart AS (
  -- The purchase's own columns travel with its cart events: no join back to the purchases,
  -- whose count the planner cannot know.
  SELECT p.event_id AS purchase_id, p.activity_date, p.value, p.device_type, p.channel, p.login_state, p.is_bot,
         c.*,
         max(c.event_timestamp) FILTER (WHERE c.event_type = 'remove_from_cart' AND c.quantity IS NULL)
           OVER (PARTITION BY p.event_id, c.product_id) AS emptied_at
  FROM purchases p CROSS JOIN LATERAL (
    -- OFFSET 0 keeps this an index probe per purchase (its group's last 24 hours): as a plain
    -- join the planner may hash every event of the days instead
    SELECT c.product_id, c.event_type, c.quantity, c.event_timestamp, c.event_id, c.product_name,
           c.product_category, c.product_brand, coalesce(c.product_discount_price, c.product_price) AS unit_price
    FROM clickstream_events c
    WHERE c.session_group = p.session_group
      AND c.event_timestamp >= greatest(p.event_timestamp - interval '24 hours', p.previous_at)
      AND c.event_timestamp <= p.event_timestamp
      AND (c.event_timestamp, c.event_id) < (p.event_timestamp, p.event_id)
      AND c.event_type IN ('add_to_cart', 'remove_from_cart') AND c.product_id IS NOT NULL
      AND (p.previous_at IS NULL OR c.event_timestamp > p.previous_at)
    OFFSET 0) c
), lines AS (
  SELECT purchase_id, activity_date, value, device_type, channel, login_state, is_bot, product_id,
    sum(CASE WHEN event_type = 'add_to_cart' THEN coalesce(quantity, 1) ELSE -coalesce(quantity, 0) END)
      FILTER (WHERE emptied_at IS NULL OR event_timestamp > emptied_at) AS quantity,
    (array_agg(unit_price ORDER BY event_timestamp DESC, event_id)
       FILTER (WHERE event_type = 'add_to_cart' AND unit_price IS NOT NULL))[1] AS unit_price,
    (array_agg(product_name ORDER BY event_timestamp DESC, event_id) FILTER (WHERE product_name IS NOT NULL))[1]
      AS product_name,
    (array_agg(product_category ORDER BY event_timestamp DESC, event_id)
       FILTER (WHERE event_type = 'add_to_cart'))[1] AS product_category,
    (array_agg(product_brand ORDER BY event_timestamp DESC, event_id)
       FILTER (WHERE event_type = 'add_to_cart'))[1] AS product_brand
  FROM cart GROUP BY purchase_id, activity_date, value, device_type, channel, login_state, is_bot, product_id
), bought AS (
  SELECT l.*, l.quantity * coalesce(l.unit_price, 0) AS amount,
         sum(l.quantity * coalesce(l.unit_price, 0)) OVER (PARTITION BY l.purchase_id) AS cart_amount,
         sum(l.quantity) OVER (PARTITION BY l.purchase_id) AS cart_quantity
  FROM lines l WHERE l.quantity > 0
), cart_purchases AS (
  SELECT activity_date, product_id, coalesce(product_category, '(none)'), coalesce(product_brand, '(none)'),
    device_type, channel, login_state, is_bot, max(product_name), 0, 0, 0, count(*), sum(quantity),
    sum(CASE WHEN value IS NULL THEN amount
             WHEN cart_amount > 0 THEN value * amount / cart_amount
             ELSE value * quantity / cart_quantity END)::numeric(18, 4),
    2
  FROM bought
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
SELECT activity_date, product_id, product_category, product_brand, device_type, channel, login_state, is_bot,
  (array_agg(product_name ORDER BY source) FILTER (WHERE product_name IS NOT NULL))[1],
  sum(views)::bigint, sum(add_to_carts)::bigint, sum(checkouts)::bigint, sum(purchases)::bigint,
  sum(quantity_purchased)::bigint, sum(revenue)::numeric(18, 4)
FROM (SELECT * FROM product_events UNION ALL SELECT * FROM cart_purchases) rows
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
$$;

GRANT EXECUTE ON FUNCTION dw_product_engagement_rows(date[]) TO clickstream_etl_writer;
