-- Tracker dialects (lambdas/clickstream_common/dialects/): what each event's source sent is
-- kept, whatever the tracker calls it.
--
-- dialect      the dialect the ETL read the event in (rows loaded before dialects existed were
--              read as the contract itself: 'clickstream')
-- page_role    'view' (a page view of its own), 'impression' (what a page shows: part of the
--              page view before it when that is a view of the same page), null (not a page
--              event). The dialect decides, so that e.g. the SBW storefront's home_view after
--              its page_view is one page load. Rows loaded before get the contract's roles.
-- item_list_*  the list a list view showed (a category: its slug and name)
-- element_*    what was clicked: tag, id, role and text cut to a bounded size with a marker,
--              href, and element.dataset as jsonb (bounded, keys as sent)
ALTER TABLE clickstream_events
  ADD COLUMN item_list_id    text,
  ADD COLUMN item_list_name  text,
  ADD COLUMN element_tag     text,
  ADD COLUMN element_id      text,
  ADD COLUMN element_role    text,
  ADD COLUMN element_text    text,
  ADD COLUMN element_href    text,
  ADD COLUMN element_dataset jsonb,
  ADD COLUMN page_role       text CHECK (page_role IN ('view', 'impression')),
  ADD COLUMN dialect         text NOT NULL DEFAULT 'clickstream';

UPDATE clickstream_events
SET page_role = CASE WHEN event_type = 'page_view' THEN 'view' ELSE 'impression' END
WHERE event_type IN ('page_view', 'view_item_list', 'view_item', 'view_cart');

-- Purchases that name no product (the SBW storefront's checkout_complete) take their products
-- from the session's cart: the derive phase looks them up by group, and there are few.
CREATE INDEX clickstream_events_itemless_purchase_idx ON clickstream_events (session_group, event_timestamp)
  WHERE event_type = 'purchase' AND product_id IS NULL;
-- The clicks aggregate reads a day's click events alone.
CREATE INDEX clickstream_events_click_idx ON clickstream_events (event_timestamp) WHERE event_type = 'click';
