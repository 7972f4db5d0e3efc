-- A page view is a page load. An impression event (view_item_list on a list page, view_item
-- on a product page, view_cart on the cart) whose page event before it in the session is its
-- page's page_view is part of that page view, not a second one; sent alone, as trackers that
-- name pages by what they show do, it is a page view. A bounce is a session of at most one
-- page view and no event but page events. Before 0028 every page event counted, so a visitor
-- who landed on a list page and left had two page views and was neither a bounce nor
-- unengaged: the dashboards' bounce rate read 0% for the storefront's own tracker.
--
-- The work table gets the session's count of page events. Sessions derived before are handed
-- to the next ETL run, which derives them again by the rule of
-- sql/dw/models/events/page_views.sql, and then the days whose sessions changed.
ALTER TABLE etl_work_sessions ADD COLUMN page_event_count bigint;

INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM clickstream_sessions ON CONFLICT DO NOTHING;
