-- agg_weekly_retention: for each cohort (visitors by first-visit week, first channel and
-- device, bot flag), how many were active in each week since.
--
-- dw_retention_cohort_sizes: the cohorts of some weeks and their sizes.
-- dw_weekly_retention_rows: the cells of those cohorts in some activity weeks, with the
-- cohort's size. The ETL asks for the cells that can have changed, and corrects the size of
-- the touched cohorts' other cells with the first.
CREATE OR REPLACE FUNCTION dw_retention_cohort_sizes(cohort_weeks date[])
RETURNS TABLE (cohort_week date, channel text, device_type text, is_bot boolean, cohort_size bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT v.cohort_week, v.first_channel, v.first_device_type, v.is_bot, count(*)
FROM clickstream_visitors v
WHERE v.cohort_week = ANY (cohort_weeks)
GROUP BY 1, 2, 3, 4
$$;

CREATE OR REPLACE FUNCTION dw_weekly_retention_rows(cohort_weeks date[], activity_weeks date[])
RETURNS TABLE (cohort_week date, week_offset integer, channel text, device_type text, is_bot boolean,
               cohort_size bigint, active_visitors bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH active AS (
  SELECT v.cohort_week, w.activity_week, v.first_channel, v.first_device_type, v.is_bot,
         count(DISTINCT v.person_key) AS active_visitors
  FROM unnest(activity_weeks) AS w(activity_week)
  JOIN clickstream_sessions s ON s.session_date >= w.activity_week AND s.session_date < w.activity_week + 7
  JOIN clickstream_visitors v USING (person_key)
  WHERE v.cohort_week = ANY (cohort_weeks)
  GROUP BY 1, 2, 3, 4, 5
)
SELECT a.cohort_week, (a.activity_week - a.cohort_week) / 7, a.first_channel, a.first_device_type, a.is_bot,
       z.cohort_size, a.active_visitors
FROM active a
JOIN dw_retention_cohort_sizes(cohort_weeks) z
  ON (z.cohort_week, z.channel, z.device_type, z.is_bot) = (a.cohort_week, a.first_channel, a.first_device_type, a.is_bot)
$$;

GRANT EXECUTE ON FUNCTION dw_retention_cohort_sizes(date[]), dw_weekly_retention_rows(date[], date[])
  TO clickstream_etl_writer;
