-- Which page events are page views: a page view is a page load.
--
-- Page events are those with a page_role, which the event's tracker dialect gives
-- (lambdas/clickstream_common/dialects/). Each is a page view of its own, except an
-- impression whose page event before it in the session is a view of the same page: our
-- tracker sends page_view, then view_item on a product page (search results: page_view,
-- search, view_item_list), and the SBW storefront page_view then home_view, one page view
-- each. Trackers that name pages by what they show (the seed's product_view, cart_view) send
-- the impression alone. A scalar SQL function: inlined into the statement that calls it.
CREATE OR REPLACE FUNCTION dw_is_page_view(page_role text, page_path text, prev_page_role text,
                                           prev_page_path text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN page_role IS NOT NULL
       AND (page_role = 'view' OR prev_page_role IS DISTINCT FROM 'view' OR prev_page_path IS DISTINCT FROM page_path);

GRANT EXECUTE ON FUNCTION dw_is_page_view(text, text, text, text) TO clickstream_etl_writer;
