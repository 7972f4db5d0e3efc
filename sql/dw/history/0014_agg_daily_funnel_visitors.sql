-- Aggregate: distinct visitors per row of agg_daily_funnel, as a HyperLogLog sketch.
--
-- Distinct counts do not add up across days or filter values, so before this the dashboard
-- counted users by hashing every session of the period. A sketch per row unions at once: hll_cardinality(hll_union_agg(visitors)) over any days and
-- filters. Parameters 14/5 (log2m/regwidth) give about 0.8 % standard error on large counts;
-- small sets stay in the explicit representation and count exactly. The column's type
-- modifier pins the parameters, so a sketch built with others is refused.
--
-- The extension is not trusted: the host's superuser creates it before migrations run
-- (roles/dw, the test fixtures); here it is only required.
CREATE EXTENSION IF NOT EXISTS hll;

-- Rows from before start with an empty sketch; 0027 hands every day to the next ETL run, which
-- computes them (sql/dw/models/aggregates/agg_daily_funnel.sql).
ALTER TABLE agg_daily_funnel ADD COLUMN visitors hll(14, 5, -1, 1) NOT NULL DEFAULT hll_empty(14, 5, -1, 1);
ALTER TABLE agg_daily_funnel ALTER COLUMN visitors DROP DEFAULT;
