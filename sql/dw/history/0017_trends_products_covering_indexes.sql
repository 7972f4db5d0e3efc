-- Covering indexes for the Trends and Products tabs: a date range of these aggregates is read
-- with an index-only scan instead of visiting every heap page of the range. As in 0016, the tables are vacuumed after 1 % of
-- changes so that the visibility map keeps up with the ETL's rewrites of recent days.
CREATE INDEX agg_hourly_activity_cover_idx
  ON agg_hourly_activity (activity_hour, is_bot)
  INCLUDE (event_type, device_type, channel, login_state, events);

CREATE INDEX agg_daily_product_engagement_cover_idx
  ON agg_daily_product_engagement (activity_date, is_bot)
  INCLUDE (product_id, product_category, product_brand, device_type, channel, login_state, product_name,
           views, add_to_carts, checkouts, purchases, quantity_purchased, revenue);

ALTER TABLE agg_hourly_activity SET (autovacuum_vacuum_scale_factor = 0.01,
                                     autovacuum_vacuum_insert_scale_factor = 0.01);
ALTER TABLE agg_daily_product_engagement SET (autovacuum_vacuum_scale_factor = 0.01,
                                              autovacuum_vacuum_insert_scale_factor = 0.01);
