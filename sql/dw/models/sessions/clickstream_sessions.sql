-- clickstream_sessions: the sessions in etl_work_sessions, with their visitor.
--
-- A session's user is the identity map's for its client, else the first user id it carried,
-- else any; its visitor (person_key) is that user, else its client, else its session group.
-- A bounce is a session of at most one page view and no event but page events; it is engaged
-- when it lasted 10 s, or had two page views, or reached the funnel. It has a cart when it
-- added to it, and abandoned it when no purchase came after its last add_to_cart. The
-- signature digests what the funnel and the page aggregates read of a session, its visitor
-- aside, so that the ETL recomputes a day's page aggregates only when one of its sessions
-- really changed. is_first_visit is the visitors step's to set. A cart's value is never
-- below zero (a removal of what was added in an earlier session). The event sequence (codes and
-- offsets) is left out of the signature: no day-level aggregate reads it.
CREATE OR REPLACE FUNCTION dw_session_rows(run_id bigint, stages text[])
RETURNS SETOF clickstream_sessions
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT a.session_key, a.session_group, a.session_id, s.client_id, s.user_id,
  CASE WHEN s.user_id IS NOT NULL THEN 'u:' || s.user_id
       WHEN s.client_id IS NOT NULL THEN 'c:' || s.client_id
       ELSE a.session_group END,
  a.login_state, a.session_start, a.session_end, (a.session_start AT TIME ZONE 'UTC')::date,
  floor(extract(epoch FROM a.session_end - a.session_start))::int, a.event_count, a.page_view_count,
  a.landing_page, a.exit_page, a.channel, a.referrer_host, a.utm_source, a.utm_medium, a.utm_campaign,
  a.device_type, a.browser_family, a.os_family, a.is_bot, a.product_category,
  a.page_view_count <= 1 AND a.event_count = a.page_event_count,
  extract(epoch FROM a.session_end - a.session_start) >= 10 OR a.page_view_count >= 2 OR a.funnel_stage >= 1,
  a.funnel_stage, stages[nullif(a.funnel_stage, 0)],
  a.funnel_stage >= 1, a.funnel_stage >= 2, a.funnel_stage >= 3, a.funnel_stage >= 4,
  a.purchases, a.revenue, false, run_id,
  md5(concat_ws('|', a.session_start, a.session_end, a.event_count, a.page_view_count, a.landing_page,
                a.exit_page, a.channel, a.device_type, a.login_state, a.is_bot, a.product_category,
                a.funnel_stage, a.purchases, a.revenue, a.page_paths, a.page_event_count,
                c.has_cart, c.cart_abandoned, a.checkout_step, a.cart_removals, a.cart_value)),
  a.page_paths, c.has_cart, c.cart_abandoned, a.checkout_step, a.cart_removals, greatest(a.cart_value, 0),
  coalesce(a.event_codes, '{}'), coalesce(a.event_offsets, '{}')
FROM etl_work_sessions a
LEFT JOIN clickstream_identity_map m ON m.client_id = coalesce(a.first_client_id, a.any_client_id)
CROSS JOIN LATERAL (
  SELECT coalesce(a.first_client_id, a.any_client_id) AS client_id,
         coalesce(m.user_id, a.first_user_id, a.any_user_id) AS user_id) s
CROSS JOIN LATERAL (
  SELECT a.last_add_to_cart_at IS NOT NULL AS has_cart,
         a.last_add_to_cart_at IS NOT NULL
           AND (a.last_purchase_at IS NULL OR a.last_purchase_at < a.last_add_to_cart_at) AS cart_abandoned) c
$$;

GRANT EXECUTE ON FUNCTION dw_session_rows(bigint, text[]) TO clickstream_etl_writer;
