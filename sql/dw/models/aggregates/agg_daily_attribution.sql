-- agg_daily_attribution: the conversions of some days, their credit shared among their
-- touchpoints by each attribution model.
--
-- A conversion is a session with a purchase; its touchpoints are the sessions of its visitor
-- (person_key, so identity stitching joins a client's earlier anonymous visits to the user)
-- that started within ``lookback_days`` before it, up to and including itself, in time order.
-- Credit per touchpoint, of n:
-- - first_touch: all of it to the first;
-- - last_touch: all of it to the last (the converting session);
-- - linear: 1/n each;
-- - position_based: 40 % each to the first and the last, 20 % shared by those between; with
--   one touchpoint all of it, with two half each.
CREATE OR REPLACE FUNCTION dw_attribution_rows(days date[], lookback_days integer)
RETURNS SETOF agg_daily_attribution
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH conversions AS (
  SELECT c.session_key, c.person_key, c.session_start, c.session_date, c.device_type, c.login_state, c.is_bot,
         c.purchases, c.revenue
  FROM clickstream_sessions c
  WHERE c.session_date = ANY (days) AND c.purchases > 0
), touches AS (
  SELECT c.session_date, c.device_type, c.login_state, c.is_bot, c.purchases, c.revenue,
         t.channel, coalesce(t.utm_source, '(none)') AS utm_source, coalesce(t.utm_medium, '(none)') AS utm_medium,
         coalesce(t.utm_campaign, '(none)') AS utm_campaign,
         row_number() OVER w AS position, count(*) OVER (PARTITION BY c.session_key) AS touchpoints
  FROM conversions c
  JOIN clickstream_sessions t
    ON t.person_key = c.person_key
   AND t.session_start > c.session_start - make_interval(days => lookback_days)
   AND (t.session_start, t.session_key) <= (c.session_start, c.session_key)
  WINDOW w AS (PARTITION BY c.session_key ORDER BY t.session_start, t.session_key)
), credits AS (
  SELECT touches.*, m.model, m.credit
  FROM touches CROSS JOIN LATERAL (VALUES
    ('first_touch', CASE WHEN position = 1 THEN 1.0 ELSE 0 END),
    ('last_touch', CASE WHEN position = touchpoints THEN 1.0 ELSE 0 END),
    ('linear', 1.0 / touchpoints),
    ('position_based', CASE WHEN touchpoints = 1 THEN 1.0
                            WHEN touchpoints = 2 THEN 0.5
                            WHEN position = 1 OR position = touchpoints THEN 0.4
                            ELSE 0.2 / (touchpoints - 2) END)) AS m(model, credit)
  WHERE m.credit > 0
)
SELECT session_date, model, channel, utm_source, utm_medium, utm_campaign, device_type, login_state, is_bot,
       round(sum(credit), 6), round(sum(credit * purchases), 6), round(sum(credit * revenue), 6)
FROM credits
GROUP BY session_date, model, is_bot, channel, utm_source, utm_medium, utm_campaign, device_type, login_state
$$;

GRANT EXECUTE ON FUNCTION dw_attribution_rows(date[], integer) TO clickstream_etl_writer;
