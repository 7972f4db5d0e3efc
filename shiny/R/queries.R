# Every SQL statement the dashboards run, in one place.
#
# Statements use named placeholders (:name); dw_query() rewrites them to PostgreSQL's
# positional $n parameters once, at load time, and sends values separately (PQexecParams),
# so no user input is ever spliced into SQL text. A filter left empty is sent as an empty
# array and means "all values". Only aggregate tables, sessions and the ETL's health views are
# read: the dashboards' login may read nothing else (sql/dw/history/0033; tests/dw/test_reader_privileges.py
# runs every statement here as that login).

# Filter fragments shared by the statements below (static text, no values).
.f_login <- "(cardinality(:login_state::text[]) = 0 OR login_state = ANY(:login_state::text[]))"
.f_device <- "(cardinality(:device_type::text[]) = 0 OR device_type = ANY(:device_type::text[]))"
.f_channel <- "(cardinality(:channel::text[]) = 0 OR channel = ANY(:channel::text[]))"
.f_category <- "(cardinality(:product_category::text[]) = 0 OR product_category = ANY(:product_category::text[]))"
.f_bots <- "(:include_bots::boolean OR NOT is_bot)"
.f_all <- paste(.f_login, .f_device, .f_channel, .f_category, .f_bots, sep = "\n  AND ")
.f_no_category <- paste(.f_login, .f_device, .f_channel, .f_bots, sep = "\n  AND ")
.no_dimension_filter <- paste(
  "cardinality(:login_state::text[]) = 0 AND cardinality(:device_type::text[]) = 0",
  "AND cardinality(:channel::text[]) = 0"
)

# The previous period's cut (see overview_kpis): today's latest session start moved to the
# previous period's last day, when the range reaches today; NULL otherwise.
.overview_cut <- "
WITH cut AS (
  SELECT (:prev_end::date::timestamp AT TIME ZONE 'UTC') + (max(session_start) - (:today::date::timestamp AT TIME ZONE 'UTC')) AS at
  FROM clickstream_sessions
  WHERE :end::date >= :today::date AND session_date = :today::date
)"

QUERIES <- list(
  # -- global filters ---------------------------------------------------------------------
  # Loose index scan over (product_category, activity_date): one index probe per category
  # instead of reading the whole table.
  filter_categories = "
WITH RECURSIVE c AS (
  SELECT min(product_category) AS v FROM agg_daily_product_engagement
  UNION ALL
  SELECT (SELECT min(product_category) FROM agg_daily_product_engagement WHERE product_category > c.v)
  FROM c WHERE c.v IS NOT NULL
)
SELECT v AS product_category FROM c WHERE v IS NOT NULL ORDER BY 1",

  # The first and last day with sessions before today (today is never complete), for the default
  # date range: two probes of the primary key, which starts with session_date.
  data_range = "
SELECT (SELECT min(session_date) FROM agg_daily_funnel WHERE session_date < :today::date) AS first_day,
       (SELECT max(session_date) FROM agg_daily_funnel WHERE session_date < :today::date) AS last_day,
       EXISTS (SELECT 1 FROM agg_daily_funnel WHERE session_date = :today::date) AS has_today",

  # -- Overview -----------------------------------------------------------------------------
  # When the range reaches today, today holds sessions only up to the last ETL run. The previous
  # period's last day is then counted up to the same time of day (the latest session start
  # today), like for like, instead of a whole day against part of one: its day row is swapped
  # for that day's sessions up to the cut. previous_cut_at is that cut (NULL: whole days).
  overview_kpis = paste0(.overview_cut, "
SELECT period, sum(sessions)::float8 AS sessions, sum(purchase_sessions)::float8 AS purchase_sessions,
       sum(bounced_sessions)::float8 AS bounced_sessions, sum(engaged_sessions)::float8 AS engaged_sessions,
       sum(revenue)::float8 AS revenue, (SELECT at FROM cut) AS previous_cut_at
FROM (
  SELECT CASE WHEN session_date >= :start::date THEN 'current' ELSE 'previous' END AS period,
         sessions, purchase_sessions, bounced_sessions, engaged_sessions, revenue
  FROM agg_daily_funnel
  WHERE session_date BETWEEN :prev_start::date AND :end::date
    AND NOT (session_date = :prev_end::date AND (SELECT at FROM cut) IS NOT NULL)
    AND ", .f_all, "
  UNION ALL
  SELECT 'previous', 1, reached_purchase::int, is_bounce::int, is_engaged::int, revenue
  FROM clickstream_sessions
  WHERE session_date = :prev_end::date AND session_start <= (SELECT at FROM cut)
    AND ", .f_all, "
) d
GROUP BY 1"),

  # Distinct visitors do not add up across rows: each row carries a HyperLogLog sketch of its
  # visitors (sql/dw/history/0014), and the union of the period's sketches is counted (exact for small
  # sets, about 0.8 % error for large ones). A cut day's sketch is built from its sessions with
  # the funnel model's parameters, so that it unions with the stored ones.
  overview_users = paste0(.overview_cut, "
SELECT period, round(hll_cardinality(hll_union_agg(visitors)))::float8 AS users
FROM (
  SELECT CASE WHEN session_date >= :start::date THEN 'current' ELSE 'previous' END AS period, visitors
  FROM agg_daily_funnel
  WHERE session_date BETWEEN :prev_start::date AND :end::date
    AND NOT (session_date = :prev_end::date AND (SELECT at FROM cut) IS NOT NULL)
    AND ", .f_all, "
  UNION ALL
  SELECT 'previous', hll_add_agg(hll_hash_text(person_key), 14, 5, -1, 1)
  FROM clickstream_sessions
  WHERE session_date = :prev_end::date AND session_start <= (SELECT at FROM cut)
    AND ", .f_all, "
) d
GROUP BY 1"),

  overview_trend_day = paste0("
SELECT session_date::timestamp AS t,
       sum(sessions)::float8 AS sessions,
       sum(purchase_sessions)::float8 AS purchase_sessions,
       sum(revenue)::float8 AS revenue
FROM agg_daily_funnel
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY 1 ORDER BY 1"),

  overview_trend_hour = paste0("
SELECT date_trunc('hour', session_start)::timestamp AS t,
       count(*)::float8 AS sessions,
       count(*) FILTER (WHERE reached_purchase)::float8 AS purchase_sessions,
       sum(revenue)::float8 AS revenue
FROM clickstream_sessions
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY 1 ORDER BY 1"),

  # -- Funnel -------------------------------------------------------------------------------
  # The breakdown dimension is chosen by value through CASE, never spliced in.
  funnel_by_segment = paste0("
SELECT CASE :breakdown::text
         WHEN 'channel' THEN channel
         WHEN 'device_type' THEN device_type
         WHEN 'product_category' THEN product_category
         WHEN 'login_state' THEN login_state
         ELSE 'all'
       END AS segment,
       sum(sessions)::float8 AS sessions,
       sum(view_item_sessions)::float8 AS view_item,
       sum(add_to_cart_sessions)::float8 AS add_to_cart,
       sum(begin_checkout_sessions)::float8 AS begin_checkout,
       sum(purchase_sessions)::float8 AS purchase,
       sum(revenue)::float8 AS revenue,
       sum(cart_sessions)::float8 AS cart_sessions,
       sum(abandoned_cart_sessions)::float8 AS abandoned_cart_sessions
FROM agg_daily_funnel
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY 1"),

  # -- Products -----------------------------------------------------------------------------
  products = paste0("
SELECT product_id,
       max(product_name) AS product_name,
       product_category,
       product_brand,
       sum(views)::float8 AS views,
       sum(add_to_carts)::float8 AS add_to_carts,
       sum(checkouts)::float8 AS checkouts,
       sum(purchases)::float8 AS purchases,
       sum(quantity_purchased)::float8 AS quantity_purchased,
       sum(revenue)::float8 AS revenue
FROM agg_daily_product_engagement
WHERE activity_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY product_id, product_category, product_brand"),

  # -- User journeys ------------------------------------------------------------------------
  # Without a device, channel or login-state filter the per-day rollup answers; with one, the
  # full aggregate. Values are known when the statement is planned, so PostgreSQL drops the
  # branch whose condition is false without running it.
  journey_transitions = paste0("
SELECT from_page, to_page, sum(transitions)::float8 AS transitions, sum(sessions)::float8 AS sessions
FROM (
  SELECT from_page, to_page, transitions, sessions
  FROM agg_daily_page_transitions_rollup
  WHERE ", .no_dimension_filter, "
    AND session_date BETWEEN :start::date AND :end::date
    AND ", .f_bots, "
  UNION ALL
  SELECT from_page, to_page, transitions, sessions
  FROM agg_page_transitions
  WHERE NOT (", .no_dimension_filter, ")
    AND session_date BETWEEN :start::date AND :end::date
    AND ", .f_no_category, "
) t
GROUP BY 1, 2"),

  # Landing and exit pages from their daily aggregate (an index-only scan).
  journey_pages = paste0("
SELECT page_role AS kind,
       page_path AS page,
       sum(sessions)::float8 AS sessions,
       sum(bounced_sessions)::float8 AS bounces,
       sum(purchase_sessions)::float8 AS purchases
FROM agg_daily_entry_exit_pages
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY 1, 2"),

  # Converting sessions only, found through their partial index (sql/dw/history/0016).
  journey_purchase_paths = paste0("
SELECT coalesce(landing_page, '(unknown)') AS landing_page,
       coalesce(exit_page, '(unknown)') AS exit_page,
       channel,
       count(*)::float8 AS sessions,
       sum(revenue)::float8 AS revenue
FROM clickstream_sessions
WHERE session_date BETWEEN :start::date AND :end::date
  AND reached_purchase
  AND ", .f_all, "
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2, 3
LIMIT :limit::int"),

  # -- Clicks -------------------------------------------------------------------------------
  # agg_daily_element_clicks has no product category. Without a device, channel or login-state
  # filter its per-day rollup answers (a third of the rows, keyed by date and bot flag first);
  # with one, the full aggregate through its partial index on activity_date (WHERE NOT is_bot),
  # or its primary key with bots. As for the journeys, PostgreSQL drops the branch whose
  # condition is false when it plans the statement. `sessions` is left out: distinct session
  # groups do not add up across days.
  clicks_pages = paste0("
SELECT page_path AS page, sum(clicks)::float8 AS clicks
FROM (
  SELECT page_path, clicks
  FROM agg_daily_element_clicks_rollup
  WHERE ", .no_dimension_filter, "
    AND activity_date BETWEEN :start::date AND :end::date
    AND ", .f_bots, "
  UNION ALL
  SELECT page_path, clicks
  FROM agg_daily_element_clicks
  WHERE NOT (", .no_dimension_filter, ")
    AND activity_date BETWEEN :start::date AND :end::date
    AND ", .f_no_category, "
) c
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT :limit::int"),

  # The most clicked elements of the chosen pages (an empty array: every page), each with its
  # page's total clicks (summed before the limit) for its share of the page.
  clicks_elements = paste0("
SELECT page, element_tag, element_id, element_text, clicks, page_clicks
FROM (
  SELECT page_path AS page, element_tag, element_id, element_text,
         sum(clicks)::float8 AS clicks,
         (sum(sum(clicks)) OVER (PARTITION BY page_path))::float8 AS page_clicks
  FROM (
    SELECT page_path, element_tag, element_id, element_text, clicks
    FROM agg_daily_element_clicks_rollup
    WHERE ", .no_dimension_filter, "
      AND activity_date BETWEEN :start::date AND :end::date
      AND (cardinality(:page::text[]) = 0 OR page_path = ANY(:page::text[]))
      AND ", .f_bots, "
    UNION ALL
    SELECT page_path, element_tag, element_id, element_text, clicks
    FROM agg_daily_element_clicks
    WHERE NOT (", .no_dimension_filter, ")
      AND activity_date BETWEEN :start::date AND :end::date
      AND (cardinality(:page::text[]) = 0 OR page_path = ANY(:page::text[]))
      AND ", .f_no_category, "
  ) c
  GROUP BY 1, 2, 3, 4
) e
ORDER BY clicks DESC, page, element_tag, element_id, element_text
LIMIT :limit::int"),

  # -- Retention ----------------------------------------------------------------------------
  # Cohorts are keyed by their first session's channel and device only (no login state or
  # category), so those two filters do not apply here.
  retention = "
SELECT cohort_week,
       week_offset,
       sum(cohort_size)::float8 AS cohort_size,
       sum(active_visitors)::float8 AS active_visitors
FROM agg_weekly_retention
WHERE cohort_week BETWEEN date_trunc('week', :start::date)::date AND :end::date
  AND week_offset <= :max_offset::int
  AND (cardinality(:device_type::text[]) = 0 OR device_type = ANY(:device_type::text[]))
  AND (cardinality(:channel::text[]) = 0 OR channel = ANY(:channel::text[]))
  AND (:include_bots::boolean OR NOT is_bot)
GROUP BY 1, 2
ORDER BY 1, 2",

  # -- Trends -------------------------------------------------------------------------------
  # Complete hours only: :until is the day after the range or, when the range reaches it, the
  # start of the current hour (heatmap_until); the app divides by the hours of each cell.
  trends_heatmap = paste0("
SELECT extract(isodow FROM activity_hour)::int AS dow,
       extract(hour FROM activity_hour)::int AS hour,
       sum(events)::float8 AS events
FROM agg_hourly_activity
WHERE activity_hour >= :start::date AND activity_hour < :until::timestamptz
  AND ", .f_no_category, "
GROUP BY 1, 2"),

  trends_by_type = paste0("
SELECT date_trunc(:grain::text, activity_hour)::timestamp AS t,
       event_type,
       sum(events)::float8 AS events
FROM agg_hourly_activity
WHERE activity_hour >= :start::date AND activity_hour < :end::date + 1
  AND ", .f_no_category, "
GROUP BY 1, 2
ORDER BY 1, 2"),

  # -- Data health --------------------------------------------------------------------------
  # The ETL's bookkeeping through the health views of sql/dw/history/0033: no payloads, no summaries.
  health_freshness = "
SELECT now() AS checked_at,
       (SELECT max(finished_at) FROM health_etl_runs WHERE status = 'succeeded') AS last_success_at,
       (SELECT max(started_at) FROM health_etl_runs) AS last_started_at,
       (SELECT max(newest_event_at) FROM health_etl_runs WHERE status = 'succeeded') AS newest_event_at,
       (SELECT status FROM health_etl_runs ORDER BY run_id DESC LIMIT 1) AS last_status,
       (SELECT count(*) FROM health_etl_runs WHERE started_at > now() - interval '24 hours')::float8 AS runs_24h,
       (SELECT count(*) FROM health_etl_runs
         WHERE status = 'failed' AND started_at > now() - interval '24 hours')::float8 AS failed_24h,
       (SELECT count(*) FROM health_object_loads WHERE loaded_at > now() - interval '24 hours')::float8 AS objects_24h,
       (SELECT count(*) FROM health_skipped_objects)::float8 AS objects_not_loaded,
       (SELECT coalesce(sum(events_rejected), 0) FROM health_etl_runs
         WHERE started_at > now() - interval '24 hours')::float8 AS rejected_24h,
       (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS connection_tls",

  health_runs = "
SELECT run_id::float8 AS run_id, started_at, finished_at, status, trigger,
       objects_loaded::float8 AS objects_loaded, objects_skipped::float8 AS objects_skipped,
       events_read::float8 AS events_read,
       events_loaded::float8 AS events_loaded, events_duplicate::float8 AS events_duplicate,
       events_rejected::float8 AS events_rejected, sessions_touched::float8 AS sessions_touched,
       duration_ms::float8 AS duration_ms, newest_event_at, error
FROM health_etl_runs
ORDER BY run_id DESC
LIMIT :limit::int",

  # Counted by UTC day in the view; the dashboards' sessions run in UTC (dw_connect), so the
  # days are those of the date range.
  health_rejects_by_reason = "
SELECT reason_code, sum(rejected)::float8 AS rejected
FROM health_rejections
WHERE rejected_date BETWEEN :start::date AND :end::date
GROUP BY 1
ORDER BY 2 DESC, 1",

  # The view has no raw_line: it is the client's payload and may hold personal data.
  health_recent_rejects = "
SELECT rejected_at, reason_code, field, reason, object_key, line_no
FROM health_rejected_lines
ORDER BY rejected_id DESC
LIMIT :limit::int",

  # Raw objects the ETL could not load (skipped: archived, deleted, changed; rejected:
  # unreadable), the most recent first. A skipped one is read again by a later run.
  health_skipped_objects = "
SELECT failed_at, object_key, status, reason, size_bytes::float8 AS size_bytes, storage_class,
       attempts::float8 AS attempts, retry_after, detail
FROM health_skipped_objects
ORDER BY failed_at DESC, object_key
LIMIT :limit::int",

  # Purchases and their amounts by the currency they were sent in, over the range: the
  # warehouse converts none, so the Revenue tab says when amounts in other currencies are mixed
  # into its sums. Only the bot filter applies (the table has no other dimension).
  revenue_currencies = "
SELECT currency, sum(purchases)::float8 AS purchases, sum(revenue)::float8 AS revenue
FROM agg_daily_purchase_currencies
WHERE activity_date BETWEEN :start::date AND :end::date
  AND (:include_bots::boolean OR NOT is_bot)
GROUP BY 1 ORDER BY 2 DESC, 1",

  # -- Revenue ------------------------------------------------------------------------------
  # agg_daily_attribution has no product category, so the Revenue tab ignores that filter
  # everywhere (its figures then agree with each other). Orders are the last-touch model's:
  # all of a conversion's credit goes to the converting session, so its orders are exactly the
  # day's purchase events of converting sessions, by that session's channel, device, login
  # state and bot flag, like the funnel's rows.
  revenue_daily = paste0("
WITH f AS (
  SELECT session_date AS day, sum(sessions)::float8 AS sessions, sum(purchase_sessions)::float8 AS purchase_sessions,
         sum(revenue)::float8 AS revenue
  FROM agg_daily_funnel
  WHERE session_date BETWEEN :start::date AND :end::date
    AND ", .f_no_category, "
  GROUP BY 1
), a AS (
  SELECT conversion_date AS day, sum(orders)::float8 AS orders
  FROM agg_daily_attribution
  WHERE conversion_date BETWEEN :start::date AND :end::date
    AND model = 'last_touch'
    AND ", .f_no_category, "
  GROUP BY 1
)
SELECT day, coalesce(f.sessions, 0) AS sessions, coalesce(f.purchase_sessions, 0) AS purchase_sessions,
       coalesce(f.revenue, 0) AS revenue, coalesce(a.orders, 0) AS orders
FROM f FULL JOIN a USING (day)
ORDER BY day"),

  revenue_by_channel = paste0("
WITH f AS (
  SELECT channel, sum(sessions)::float8 AS sessions, sum(purchase_sessions)::float8 AS purchase_sessions,
         sum(revenue)::float8 AS revenue
  FROM agg_daily_funnel
  WHERE session_date BETWEEN :start::date AND :end::date
    AND ", .f_no_category, "
  GROUP BY 1
), a AS (
  SELECT channel, sum(orders)::float8 AS orders
  FROM agg_daily_attribution
  WHERE conversion_date BETWEEN :start::date AND :end::date
    AND model = 'last_touch'
    AND ", .f_no_category, "
  GROUP BY 1
)
SELECT channel, coalesce(f.sessions, 0) AS sessions, coalesce(f.purchase_sessions, 0) AS purchase_sessions,
       coalesce(f.revenue, 0) AS revenue, coalesce(a.orders, 0) AS orders
FROM f FULL JOIN a USING (channel)"),

  # Sessions by UTM source, medium and campaign (spelt as agg_daily_attribution spells them),
  # the denominators of the conversion rates by source/medium and campaign; the aggregates have
  # no UTM split, so from the sessions. Only sessions with a UTM field, through their partial
  # index (sql/dw/history/0037); those without any are the rest of revenue_daily's sessions.
  revenue_sessions_by_utm = paste0("
SELECT coalesce(utm_source, '(none)') AS utm_source, coalesce(utm_medium, '(none)') AS utm_medium,
       coalesce(utm_campaign, '(none)') AS utm_campaign, count(*)::float8 AS sessions
FROM clickstream_sessions
WHERE session_date BETWEEN :start::date AND :end::date
  AND (utm_source IS NOT NULL OR utm_medium IS NOT NULL OR utm_campaign IS NOT NULL)
  AND ", .f_no_category, "
GROUP BY 1, 2, 3"),

  # Credited conversions, orders and revenue of every model by touchpoint channel and campaign:
  # a few hundred rows, so switching the model needs no query. The channel filter selects the
  # touchpoints' channel (whose credit is shown), the other filters the converting sessions.
  attribution_credit = paste0("
SELECT model, channel, utm_source, utm_medium, utm_campaign,
       sum(conversions)::float8 AS conversions, sum(orders)::float8 AS orders, sum(revenue)::float8 AS revenue
FROM agg_daily_attribution
WHERE conversion_date BETWEEN :start::date AND :end::date
  AND ", .f_no_category, "
GROUP BY 1, 2, 3, 4, 5"),

  # -- Checkout -----------------------------------------------------------------------------
  # Checkout steps, carts and removals by channel or device; the segment is chosen by value
  # through CASE, never spliced in.
  checkout_by_segment = paste0("
SELECT CASE :breakdown::text
         WHEN 'channel' THEN channel
         WHEN 'device_type' THEN device_type
         ELSE 'all'
       END AS segment,
       sum(begin_checkout_sessions)::float8 AS begin_checkout,
       sum(shipping_sessions)::float8 AS add_shipping_info,
       sum(payment_sessions)::float8 AS add_payment_info,
       sum(purchase_sessions)::float8 AS purchase,
       sum(cart_sessions)::float8 AS cart_sessions,
       sum(abandoned_cart_sessions)::float8 AS abandoned_cart_sessions,
       sum(abandoned_cart_value)::float8 AS abandoned_cart_value,
       sum(cart_removals)::float8 AS cart_removals
FROM agg_daily_funnel
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY 1")
)

# -- Customers ------------------------------------------------------------------------------
# New and returning visitors' sessions per day: a new visitor's session is their first visit
# (new_sessions), the rest are returning.
QUERIES$customers_daily <- paste0("
SELECT session_date AS day, sum(sessions)::float8 AS sessions, sum(new_sessions)::float8 AS new_sessions,
       sum(purchase_sessions)::float8 AS purchase_sessions,
       sum(new_purchase_sessions)::float8 AS new_purchase_sessions,
       sum(revenue)::float8 AS revenue, sum(new_revenue)::float8 AS new_revenue
FROM agg_daily_funnel
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_all, "
GROUP BY 1
ORDER BY 1")

# Visitors whose first purchase fell in the range, by time to that purchase. A visitor is
# filtered by their first session's channel and device, and bot flag; login state and product
# category do not apply.
QUERIES$customers_new <- "
SELECT time_bucket, sum(customers)::float8 AS customers, sum(repeat_customers)::float8 AS repeat_customers,
       sum(orders)::float8 AS orders, sum(revenue)::float8 AS revenue
FROM agg_daily_new_customers
WHERE first_purchase_date BETWEEN :start::date AND :end::date
  AND (cardinality(:device_type::text[]) = 0 OR first_device_type = ANY(:device_type::text[]))
  AND (cardinality(:channel::text[]) = 0 OR first_channel = ANY(:channel::text[]))
  AND (:include_bots::boolean OR NOT is_bot)
GROUP BY 1
ORDER BY 1"

# -- Site search ----------------------------------------------------------------------------
# The search aggregates have no product category: the tab ignores that filter, and takes its
# sessions from the funnel the same way.
QUERIES$search_totals <- paste0("
WITH s AS (
  SELECT sum(search_sessions)::float8 AS search_sessions, sum(searches)::float8 AS searches,
         sum(view_sessions)::float8 AS view_sessions, sum(purchase_sessions)::float8 AS purchase_sessions
  FROM agg_daily_search
  WHERE session_date BETWEEN :start::date AND :end::date
    AND ", .f_no_category, "
), f AS (
  SELECT sum(sessions)::float8 AS sessions, sum(purchase_sessions)::float8 AS all_purchase_sessions
  FROM agg_daily_funnel
  WHERE session_date BETWEEN :start::date AND :end::date
    AND ", .f_no_category, "
)
SELECT * FROM s, f")

# The most searched terms, and the terms most often not followed by a product view: the same
# terms of the range, ranked two ways.
.search_terms_of_range <- paste0("
SELECT search_term, sum(searches)::float8 AS searches, sum(sessions)::float8 AS sessions,
       sum(view_sessions)::float8 AS view_sessions, sum(purchase_sessions)::float8 AS purchase_sessions
FROM agg_daily_search_terms
WHERE session_date BETWEEN :start::date AND :end::date
  AND ", .f_no_category, "
GROUP BY 1")

QUERIES$search_terms <- paste0(.search_terms_of_range, "
ORDER BY 2 DESC, 3 DESC, 1
LIMIT :limit::int")

QUERIES$search_terms_no_view <- paste0(.search_terms_of_range, "
HAVING sum(sessions) > sum(view_sessions)
ORDER BY sum(sessions) - sum(view_sessions) DESC, 3 DESC, 1
LIMIT :limit::int")

# -- Custom funnel ----------------------------------------------------------------------------
# The event types a step can be (the contract's, in code order).
QUERIES$custom_funnel_event_types <- "
SELECT event_type FROM clickstream_event_types ORDER BY code"

# The user's funnel over the sessions' event sequences (never the events): the warehouse
# function dw_custom_funnel (sql/dw/history/0038) reads the filtered sessions of the range that
# hold step 1, one row per step.
QUERIES$custom_funnel <- "
SELECT step, event_type, units::float8 AS units, median_s, p75_s, p90_s
FROM dw_custom_funnel(:start::date, :end::date, :login_state::text[], :device_type::text[], :channel::text[],
                      :product_category::text[], :include_bots::boolean, :steps::text[], :any_order::boolean,
                      :window_s::integer, :by_visitor::boolean)
ORDER BY step"
