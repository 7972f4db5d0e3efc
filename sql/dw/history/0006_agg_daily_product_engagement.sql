-- Aggregate: daily product engagement (layer: aggregates).
-- Counts per UTC day of event_timestamp, product and the dashboard's filter dimensions.
-- Rates are ratios of this row's counts; across rows, sum the counts and divide.
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
);
CREATE INDEX agg_daily_product_engagement_category_idx ON agg_daily_product_engagement (product_category, activity_date);
