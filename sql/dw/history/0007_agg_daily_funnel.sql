-- Aggregate: daily funnel (layer: aggregates), sessions by the furthest stage they reached,
-- per UTC day of session start and the dashboard's filter dimensions.
-- A session "reaches" stage k when it has an event of that stage (order not required).
CREATE TABLE agg_daily_funnel (
  session_date      date NOT NULL,
  channel           text NOT NULL,
  device_type       text NOT NULL,
  login_state       text NOT NULL,
  product_category  text NOT NULL,                -- the session's first product category, '(none)'
  is_bot            boolean NOT NULL,
  sessions          bigint NOT NULL,
  view_item_sessions      bigint NOT NULL,
  add_to_cart_sessions    bigint NOT NULL,
  begin_checkout_sessions bigint NOT NULL,
  purchase_sessions       bigint NOT NULL,
  engaged_sessions  bigint NOT NULL,
  bounced_sessions  bigint NOT NULL,
  revenue           numeric(18, 4) NOT NULL,
  PRIMARY KEY (session_date, channel, device_type, login_state, product_category, is_bot)
);
