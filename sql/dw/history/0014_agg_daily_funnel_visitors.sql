-- Aggregate: distinct visitors per row of agg_daily_funnel, as a HyperLogLog sketch.
--
-- Distinct counts do not add up across days or filter values, so before this the dashboard
-- counted users by hashing every session of the period (0.8 s at 10M events). A sketch per
-- row unions in microseconds: hll_cardinality(hll_union_agg(visitors)) over any days and
-- filters. Parameters 14/5 (log2m/regwidth) give about 0.8 % standard error on large counts;
-- small sets stay in the explicit representation and count exactly. The column's type
-- modifier pins the parameters, so a sketch built with others is refused.
--
-- The extension is not trusted: the host's superuser creates it before migrations run
-- (roles/dw, the test fixtures); here it is only required.
CREATE EXTENSION IF NOT EXISTS hll;

ALTER TABLE agg_daily_funnel ADD COLUMN visitors hll(14, 5, -1, 1);

UPDATE agg_daily_funnel f
SET visitors = v.visitors
FROM (
  SELECT session_date, channel, device_type, login_state, coalesce(product_category, '(none)') AS product_category,
         is_bot, hll_add_agg(hll_hash_text(person_key), 14, 5, -1, 1) AS visitors
  FROM clickstream_sessions
  GROUP BY 1, 2, 3, 4, 5, 6
) v
WHERE (f.session_date, f.channel, f.device_type, f.login_state, f.product_category, f.is_bot)
    = (v.session_date, v.channel, v.device_type, v.login_state, v.product_category, v.is_bot);

UPDATE agg_daily_funnel SET visitors = hll_empty(14, 5, -1, 1) WHERE visitors IS NULL;
ALTER TABLE agg_daily_funnel ALTER COLUMN visitors SET NOT NULL;
