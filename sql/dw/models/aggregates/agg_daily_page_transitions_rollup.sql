-- agg_daily_page_transitions_rollup: page transitions per day without the device, channel and
-- login-state split, summed from agg_page_transitions. Each session has one device, channel
-- and login state, so its distinct-session counts add up exactly.
-- requires: aggregates/agg_page_transitions
CREATE OR REPLACE FUNCTION dw_page_transition_rollup_rows(days date[])
RETURNS SETOF agg_daily_page_transitions_rollup
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT session_date, is_bot, from_page, to_page, sum(transitions)::bigint, sum(sessions)::bigint
FROM agg_page_transitions
WHERE session_date = ANY (days)
GROUP BY 1, 2, 3, 4
$$;

GRANT EXECUTE ON FUNCTION dw_page_transition_rollup_rows(date[]) TO clickstream_etl_writer;
