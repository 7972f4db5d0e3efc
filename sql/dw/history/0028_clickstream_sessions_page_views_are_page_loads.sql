-- A page view is a page load. An impression event (view_item_list on a list page, view_item
-- on a product page, view_cart on the cart) whose page event before it in the session is its
-- page's page_view is part of that page view, not a second one; sent alone, as trackers that
-- name pages by what they show do, it is a page view. A bounce is a session of at most one
-- page view and no event but page events. Before 0028 every page event counted, so a visitor
-- who landed on a list page and left had two page views and was neither a bounce nor
-- unengaged: the dashboards' bounce rate read 0% for the storefront's own tracker.
--
-- The work table gets the session's count of page events. Sessions derived before are
-- corrected from their events here (the events of a session are those of its group between
-- its first and last event), and their days handed to the next ETL run, which recomputes
-- those days' aggregates. is_engaged follows: of its inputs only the page views change.
ALTER TABLE etl_work_sessions ADD COLUMN page_event_count bigint;

WITH ev AS (
  SELECT s.session_key, e.event_timestamp, e.event_id, e.event_type, e.page_path,
    e.event_type IN ('page_view', 'view_item_list', 'view_item', 'view_cart') AS is_page
  FROM clickstream_sessions s
  JOIN clickstream_events e
    ON e.session_group = s.session_group AND e.event_timestamp BETWEEN s.session_start AND s.session_end
), paged AS (
  SELECT ev.*, lag(event_type) OVER p AS prev_page_type, lag(page_path) OVER p AS prev_page_path
  FROM ev
  WINDOW p AS (PARTITION BY session_key, is_page ORDER BY event_timestamp, event_id)
), counted AS (
  SELECT session_key,
    count(*) FILTER (WHERE is_page AND (event_type = 'page_view' OR prev_page_type IS DISTINCT FROM 'page_view'
                                        OR prev_page_path IS DISTINCT FROM page_path)) AS page_views,
    count(*) = count(*) FILTER (WHERE is_page) AS only_page_events
  FROM paged GROUP BY session_key
), corrected AS (
  UPDATE clickstream_sessions s
  SET page_view_count = c.page_views,
      is_bounce = c.page_views <= 1 AND c.only_page_events,
      is_engaged = s.duration_s >= 10 OR c.page_views >= 2 OR s.funnel_stage >= 1
  FROM counted c
  WHERE c.session_key = s.session_key
    AND (s.page_view_count, s.is_bounce) IS DISTINCT FROM (c.page_views, c.page_views <= 1 AND c.only_page_events)
  RETURNING s.session_date
)
INSERT INTO etl_pending_session_days SELECT DISTINCT session_date FROM corrected ON CONFLICT DO NOTHING;
