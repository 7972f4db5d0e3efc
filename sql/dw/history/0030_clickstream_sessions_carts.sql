-- Carts. A session has a cart when it added a product to it; it abandoned that cart when no
-- purchase came after its last add_to_cart. The daily funnel counts both, so that cart
-- abandonment is a funnel figure (abandoned / cart sessions).
ALTER TABLE clickstream_sessions
  ADD COLUMN has_cart       boolean NOT NULL DEFAULT false,
  ADD COLUMN cart_abandoned boolean NOT NULL DEFAULT false;
ALTER TABLE etl_work_sessions
  ADD COLUMN last_add_to_cart_at timestamptz,
  ADD COLUMN last_purchase_at    timestamptz;
ALTER TABLE agg_daily_funnel
  ADD COLUMN cart_sessions           bigint NOT NULL DEFAULT 0,
  ADD COLUMN abandoned_cart_sessions bigint NOT NULL DEFAULT 0;

-- Sessions derived before are set from their events (a session's events are its group's
-- between its first and last event), and their days handed to the next ETL run, which
-- recomputes those days' funnel rows.
WITH carts AS (
  SELECT s.session_key,
    max(e.event_timestamp) FILTER (WHERE e.event_type = 'add_to_cart') AS last_add,
    max(e.event_timestamp) FILTER (WHERE e.event_type = 'purchase') AS last_purchase
  FROM clickstream_sessions s
  JOIN clickstream_events e
    ON e.session_group = s.session_group AND e.event_timestamp BETWEEN s.session_start AND s.session_end
  WHERE e.event_type IN ('add_to_cart', 'purchase')
  GROUP BY s.session_key
), corrected AS (
  UPDATE clickstream_sessions s
  SET has_cart = true, cart_abandoned = c.last_purchase IS NULL OR c.last_purchase < c.last_add
  FROM carts c
  WHERE c.session_key = s.session_key AND c.last_add IS NOT NULL
  RETURNING s.session_date
)
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM corrected ON CONFLICT DO NOTHING;
