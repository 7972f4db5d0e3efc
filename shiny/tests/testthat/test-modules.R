# Each tab's server module with shiny::testServer against a real PostgreSQL warehouse: the
# migrations of sql/dw, the read-only dashboard login, and the rows of tests/fixtures/small_dw.sql.

dw <- scratch_dw("small_dw.sql", env = testthat::teardown_env())
empty_dw <- scratch_dw(NULL, env = testthat::teardown_env())

plot_json <- function(x) paste(as.character(x), collapse = "")
is_empty_plot <- function(x) grepl("empty-state", plot_json(x), fixed = TRUE)

test_that("the reader login is read-only and sees only the warehouse", {
  expect_equal(nrow(dw_query(dw, "filter_categories")), 2)
  expect_error(dw_run(dw, "DELETE FROM etl_runs", list()), "read-only")
  # Even with the session's read-only switch turned off, the role itself cannot write.
  dw_run(dw, "SET default_transaction_read_only = off", list())
  expect_error(dw_run(dw, "CREATE TABLE x (a int)", list()), "permission denied")
  expect_error(dw_run(dw, "DELETE FROM etl_runs", list()), "permission denied")
  dw_run(dw, "SET default_transaction_read_only = on", list())
  expect_equal(dw_query(dw, "filter_categories")$product_category, c("Bags", "Shoes"))
})

test_that("a dropped connection is reopened", {
  DBI::dbDisconnect(dw$con)
  expect_equal(nrow(dw_query(dw, "health_runs", list(limit = 10))), 3)
})

test_that("results are cached until an ETL run finishes", {
  dw$settings$cache_check_s <- 0.001
  on.exit({
    dw$settings$cache_check_s <- 60
    dw_cache_clear(dw)
  })
  f <- filter_params(test_filters())
  before <- sum(dw_query(dw, "products", f)$views)
  owner <- dw$admin()
  on.exit({
    DBI::dbGetQuery(owner, "DELETE FROM agg_daily_product_engagement WHERE product_id = 'p9'")
    DBI::dbGetQuery(owner, "DELETE FROM etl_runs WHERE started_at = '2026-01-18 12:00+00'")
    DBI::dbDisconnect(owner)
  }, add = TRUE)
  DBI::dbGetQuery(owner, "INSERT INTO agg_daily_product_engagement (activity_date, product_id, product_category,
    product_brand, device_type, channel, login_state, is_bot, product_name, views, add_to_carts, checkouts, purchases,
    quantity_purchased, revenue) VALUES ('2026-01-15', 'p9', 'Home', 'Acme', 'desktop', 'direct', 'anonymous', false,
    'Lamp', 4, 0, 0, 0, 0, 0)")
  # A run that is still going does not invalidate (its rows may be half written) ...
  DBI::dbGetQuery(owner, "INSERT INTO etl_runs (started_at, status, trigger) VALUES ('2026-01-18 12:00+00', 'running', 'manual')")
  Sys.sleep(0.01)
  expect_equal(sum(dw_query(dw, "products", f)$views), before)
  # ... its end does.
  DBI::dbGetQuery(owner, "UPDATE etl_runs SET status = 'succeeded', finished_at = '2026-01-18 12:01+00' WHERE status = 'running'")
  Sys.sleep(0.01)
  expect_equal(sum(dw_query(dw, "products", f)$views), before + 4)
})

test_that("the prewarmed default view needs no further queries", {
  on.exit(dw_cache_clear(dw))
  f <- test_filters()
  dw_prewarm(dw, today = f$end, f = f)
  expect_false(dw_prewarm_if_stale(dw, today = f$end, f = f))
  calls <- dw$db_calls
  filters <- reactiveVal(f)
  for (srv in list(overview_server, funnel_server, revenue_server, checkout_server, products_server, journeys_server,
                   clicks_server, retention_server, trends_server, customers_server, search_server,
                   custom_funnel_server)) {
    testServer(srv, args = list(dw = dw, filters = filters, today = function() f$end,
                                now = function() as.POSIXct(paste(f$end, "12:00"), tz = "UTC"))[
      c("dw", "filters", if (identical(srv, retention_server)) "today", if (identical(srv, overview_server)) "now")],
      session$flushReact())
  }
  expect_equal(dw$db_calls, calls)
  # Another filter is a new query.
  filters(test_filters(channel = "email"))
  testServer(products_server, args = list(dw = dw, filters = filters), session$flushReact())
  expect_gt(dw$db_calls, calls)
})

test_that("the default range is the last complete days with data, and the caption says so", {
  testServer(filters_server, args = list(dw = dw, today = function() as.Date("2026-01-20")), {
    # The fixture's sessions run from 2026-01-06 to 2026-01-14.
    expect_equal(c(defaults$start, defaults$end), as.Date(c("2026-01-06", "2026-01-14")))
    session$setInputs(dates = c(defaults$start, defaults$end))
    expect_equal(output$range_caption, "All 9 complete days with data: 2026-01-06 – 2026-01-14")
    session$setInputs(dates = as.Date(c("2026-01-14", "2026-01-20")))
    expect_match(output$range_caption, "^Default: all 9 complete days")
    expect_match(output$range_caption, "Today (UTC) is not complete", fixed = TRUE)
  })
  # Today's sessions do not count: on 2026-01-14 the range ends the day before.
  expect_equal(dw_default_filters(dw, as.Date("2026-01-14"))$end, as.Date("2026-01-13"))
  # On the first day with data, nothing is complete yet: today, partial.
  f <- dw_default_filters(dw, as.Date("2026-01-06"))
  expect_equal(c(f$start, f$end), as.Date(c("2026-01-06", "2026-01-06")))
  # No data: the last 28 days ending yesterday.
  f <- dw_default_filters(empty_dw, as.Date("2026-01-20"))
  expect_equal(c(f$start, f$end), as.Date(c("2025-12-23", "2026-01-19")))
})

test_that("filters module reads categories and excludes bots by default", {
  testServer(filters_server, args = list(dw = dw), {
    session$setInputs(dates = as.Date(c("2026-01-18", "2026-01-12")), include_bots = FALSE,
                      channel = c("direct", "email"))
    f <- raw()
    expect_equal(f$start, as.Date("2026-01-12"))
    expect_equal(f$end, as.Date("2026-01-18"))
    expect_false(f$include_bots)
    expect_equal(f$channel, c("direct", "email"))
  })
})

test_that("overview: KPIs against the previous period, trend by hour or day", {
  filters <- reactiveVal(test_filters())
  testServer(overview_server, args = list(dw = dw, filters = filters), {
    k <- kpis()
    get <- function(m, col = "current") k[[col]][k$metric == m]
    expect_equal(get("sessions"), 4)
    expect_equal(get("sessions", "previous"), 2)
    expect_equal(get("sessions", "change"), 1)
    expect_equal(get("users"), 3)
    expect_equal(get("users", "previous"), 2)
    expect_equal(get("conversion_rate"), 0.25)
    expect_equal(get("conversion_rate", "previous"), 0.5)
    expect_equal(get("revenue"), 120)
    expect_equal(get("bounce_rate"), 0.25)
    # 4 sessions: under the minimum of 30, so the rate is greyed with its count.
    expect_match(as.character(output$kpi_conversion_rate_value$html), "25.0% (4 sessions)", fixed = TRUE)
    expect_match(as.character(output$kpi_conversion_rate_value$html), "low-n", fixed = TRUE)
    expect_match(as.character(output$kpi_sessions_detail$html), "\u25b2 +100.0% vs previous period", fixed = TRUE)
    # Rates change in percentage points; a lower bounce rate is good.
    expect_match(as.character(output$kpi_bounce_rate_detail$html), "\u25bc \u221225.0 pp vs previous period",
                 fixed = TRUE)
    expect_match(as.character(output$kpi_bounce_rate_detail$html), "kpi-good")
    expect_match(as.character(output$kpi_conversion_rate_detail$html), "kpi-bad")

    # 7 days: hourly by default, from sessions.
    expect_equal(grain(), "hour")
    expect_equal(nrow(trend()), 7 * 24)
    expect_equal(sum(trend()$sessions), 4)
    expect_false(is_empty_plot(output$trend_sessions))
    expect_false(is_empty_plot(output$trend_purchases))
    expect_false(any(trend()$partial))
    expect_false(grepl("partial", plot_json(output$trend_sessions)))
    session$setInputs(grain = "day")
    expect_equal(trend()$sessions, c(2, 1, 1, 0, 0, 0, 0))

    # Filters reach the SQL: bots included, then one channel.
    filters(test_filters(include_bots = TRUE))
    expect_equal(kpis()$current[kpis()$metric == "sessions"], 5)
    filters(test_filters(channel = "email"))
    expect_equal(kpis()$current[kpis()$metric == "sessions"], 1)
    filters(test_filters(product_category = "Shoes", login_state = "logged_in"))
    expect_equal(kpis()$current[kpis()$metric == "users"], 1)
    filters(test_filters(start = "2025-06-01", end = "2025-06-07"))
    session$flushReact()
    expect_true(is_empty_plot(output$trend_sessions))
  })
})

test_that("overview: the current day or hour is drawn as partial, not as a drop", {
  filters <- reactiveVal(test_filters())
  now <- function() as.POSIXct("2026-01-18 12:30:00", tz = "UTC")
  testServer(overview_server, args = list(dw = dw, filters = filters, now = now), {
    session$setInputs(grain = "day")
    expect_equal(nrow(trend()), 7)
    expect_equal(trend()$partial, c(rep(FALSE, 6), TRUE))
    chart <- plot_json(output$trend_sessions)
    expect_match(chart, "sessions (partial, so far)", fixed = TRUE)
    expect_match(chart, "\"dash\":\"dash\"")
    expect_match(chart, "today: partial", fixed = TRUE)
    # Hourly: the hours after now are not drawn at all; the current one is partial.
    session$setInputs(grain = "hour")
    expect_equal(nrow(trend()), 6 * 24 + 13)
    expect_equal(which(trend()$partial), 6 * 24 + 13)
    expect_match(plot_json(output$trend_purchases), "this hour: partial", fixed = TRUE)
    # The chart's figures as CSV: one row per hour drawn, the partial one marked.
    csv <- utils::read.csv(output$trend_sessions_csv, check.names = FALSE)
    expect_equal(names(csv), c("Time", "Sessions", "Partial"))
    expect_equal(nrow(csv), 6 * 24 + 13)
    expect_equal(sum(csv$Sessions), sum(trend()$sessions))
    expect_equal(which(csv$Partial == "partial, so far"), 6 * 24 + 13)
    expect_equal(csv$Time[6 * 24 + 13], "2026-01-18 12:00")
  })
})

test_that("overview: a range through today compares with the previous period up to the same time of day", {
  # 2026-01-07 .. 2026-01-12, on 2026-01-12 at 11:00: today's latest session starts at 10:40 (s2),
  # so the previous period (2026-01-01 .. 2026-01-06) counts its last day up to 10:40, which
  # leaves out s6 (12:00, 80.00). A whole day would compare 3 sessions with 1.
  filters <- reactiveVal(test_filters(start = "2026-01-07", end = "2026-01-12"))
  now <- function() as.POSIXct("2026-01-12 11:00:00", tz = "UTC")
  testServer(overview_server, args = list(dw = dw, filters = filters, now = now), {
    k <- kpis()
    get <- function(m, col = "current") k[[col]][k$metric == m]
    expect_equal(get("sessions"), 3)
    expect_equal(get("sessions", "previous"), 0)
    expect_equal(get("users", "previous"), 0)
    expect_equal(get("revenue", "previous"), 0)
    expect_equal(attr(k, "previous_cut_at"), as.POSIXct("2026-01-06 10:40:00", tz = "UTC"))
    expect_match(as.character(output$kpi_sessions_detail$html), "previous, to 10:40 UTC on 06 Jan: 0", fixed = TRUE)
  })
  # Seen on a later day, the range is complete: whole days on both sides.
  later <- function() as.POSIXct("2026-01-20 11:00:00", tz = "UTC")
  testServer(overview_server, args = list(dw = dw, filters = filters, now = later), {
    k <- kpis()
    expect_equal(k$previous[k$metric == "sessions"], 1)
    expect_equal(k$previous[k$metric == "users"], 1)
    expect_equal(k$previous[k$metric == "revenue"], 80)
    expect_null(attr(k, "previous_cut_at"))
    expect_match(as.character(output$kpi_sessions_detail$html), "previous: 1", fixed = TRUE)
  })
  # A cut that keeps sessions counts them from the sessions table, visitors' sketch included:
  # on 2026-01-13 at 20:00 today runs to 18:00 (s3), and 2026-01-12 up to 18:00 keeps s1 and s2.
  filters(test_filters(start = "2026-01-13", end = "2026-01-13"))
  at_13 <- function() as.POSIXct("2026-01-13 20:00:00", tz = "UTC")
  testServer(overview_server, args = list(dw = dw, filters = filters, now = at_13), {
    k <- kpis()
    get <- function(m, col = "previous") k[[col]][k$metric == m]
    expect_equal(attr(k, "previous_cut_at"), as.POSIXct("2026-01-12 18:00:00", tz = "UTC"))
    expect_equal(get("sessions"), 2)
    expect_equal(get("users"), 2)
    expect_equal(get("revenue"), 120)
    expect_equal(get("conversion_rate"), 0.5)
    expect_equal(get("bounce_rate"), 0.5)
    expect_equal(get("sessions", "current"), 1)
  })
})

test_that("funnel: steps, drop-off and breakdown", {
  filters <- reactiveVal(test_filters())
  testServer(funnel_server, args = list(dw = dw, filters = filters), {
    session$setInputs(breakdown = "channel")
    st <- steps()
    expect_equal(st$sessions, c(3, 3, 2, 1))
    expect_equal(st$conversion_from_previous, c(1, 1, 2 / 3, 0.5))
    expect_equal(st$drop_off, c(0, 0, 1, 1))
    s <- segments()
    expect_equal(s$segment, c("direct", "email", "organic_search"))
    expect_equal(s$purchase, c(1, 0, 0))
    expect_equal(s$view_to_purchase[1], 0.5)
    expect_match(plot_json(output$funnel), "Begin checkout")
    expect_false(grepl("begin_checkout", plot_json(output$funnel)))
    # Rates name their denominators; few sessions are flagged.
    expect_match(as.character(output$conversion$html), "Conversion per product-view session: 33.3% (3 product-view sessions)",
                 fixed = TRUE)
    table <- plot_json(output$breakdown_table)
    expect_match(table, "Conversion per session", fixed = TRUE)
    expect_match(table, "Organic search", fixed = TRUE)
    expect_match(table, "low-n", fixed = TRUE)
    expect_match(plot_json(output$steps), "Product view", fixed = TRUE)
    expect_false(is_empty_plot(output$breakdown_chart))
    session$setInputs(breakdown = "device_type")
    expect_setequal(segments()$segment, c("desktop", "tablet", "mobile"))
    session$setInputs(breakdown = "'; DROP TABLE etl_runs; --")
    expect_equal(segments()$segment, "all")
  })
})

test_that("funnel: cart abandonment over the filtered range", {
  filters <- reactiveVal(test_filters())
  testServer(funnel_server, args = list(dw = dw, filters = filters), {
    session$setInputs(breakdown = "channel")
    a <- abandonment()
    expect_equal(c(a$abandoned, a$cart_sessions), c(2, 3))
    expect_match(as.character(output$abandonment$html), "Cart abandonment: 66.7% (2 of 3 sessions with a cart)", fixed = TRUE)
    # The figure does not depend on the breakdown (every session is in one segment).
    session$setInputs(breakdown = "product_category")
    expect_equal(abandonment()$rate, 2 / 3)
    filters(test_filters(channel = "email"))
    session$flushReact()
    expect_match(as.character(output$abandonment$html), "100.0% (1 of 1 session with a cart)", fixed = TRUE)
    filters(test_filters(channel = "organic_search"))
    session$flushReact()
    expect_match(as.character(output$abandonment$html), "no session had a cart", fixed = TRUE)
    # The previous period's purchase had no cart.
    filters(test_filters(start = "2026-01-05", end = "2026-01-11"))
    expect_true(is.na(abandonment()$rate))
  })
})

test_that("funnel: the revenue of the filtered range", {
  filters <- reactiveVal(test_filters())
  testServer(funnel_server, args = list(dw = dw, filters = filters), {
    session$setInputs(breakdown = "channel")
    # s1 (120.00) purchased this week; the bot did not count; s6 (80.00) was the week before.
    expect_match(as.character(output$revenue$html), "Revenue: 120.00 from 1 purchasing session", fixed = TRUE)
    filters(test_filters(start = "2026-01-05", end = "2026-01-18"))
    session$flushReact()
    expect_match(as.character(output$revenue$html), "Revenue: 200.00 from 2 purchasing sessions", fixed = TRUE)
    filters(test_filters(channel = "email"))
    session$flushReact()
    expect_match(as.character(output$revenue$html), "no purchase for these filters", fixed = TRUE)
  })
})

test_that("products: ranking, rollups and rates", {
  filters <- reactiveVal(test_filters())
  testServer(products_server, args = list(dw = dw, filters = filters), {
    session$setInputs(rank_by = "views", top_n = 10, min_views = 0)
    p <- by_product()
    expect_equal(p$views[p$key == "p1"], 15)
    expect_equal(p$add_to_cart_rate[p$key == "p1"], 5 / 15)
    expect_equal(p$views[p$key == "p2"], 8)  # the bot's 100 views stay out
    expect_equal(by_category()$views[by_category()$key == "Bags"], 38)
    expect_equal(by_brand()$revenue[by_brand()$key == "Globex"], 90)
    expect_match(plot_json(output$top_products), "Backpack")
    expect_match(plot_json(output$table), "Trail shoe")
    filters(test_filters(product_category = "Shoes"))
    expect_equal(by_product()$key, "p1")
  })
})

test_that("journeys: sankey, landing and exit pages, paths to purchase", {
  filters <- reactiveVal(test_filters())
  testServer(journeys_server, args = list(dw = dw, filters = filters), {
    session$setInputs(max_pages = 8)
    s <- sankey()
    expect_equal(s$nodes[1], "(entrance)")
    expect_false("/search" %in% s$nodes)  # bot traffic only
    expect_equal(sum(s$links$value), 9)
    expect_match(plot_json(output$sankey), "sankey")
    session$setInputs(max_pages = 3)
    expect_true("Other" %in% sankey()$nodes)
    l <- page_table(pages(), "landing")
    expect_equal(l$sessions[l$page == "/"], 2)
    expect_equal(l$bounce_rate[l$page == "/"], 0.5)
    expect_equal(paths()$landing_page, "/")
    expect_equal(paths()$exit_page, "/checkout/complete")
    expect_match(plot_json(output$purchase_paths), "checkout/complete")
  })
})

test_that("journeys: the default view reads the rollup, a dimension filter the full aggregate", {
  admin <- dw$admin()
  on.exit(DBI::dbDisconnect(admin))
  # Make the two sources disagree, so that the numbers show which one answered.
  DBI::dbExecute(admin, "UPDATE agg_daily_page_transitions_rollup SET transitions = transitions * 10")
  dw_cache_clear(dw)
  testServer(journeys_server, args = list(dw = dw, filters = reactiveVal(test_filters())), {
    expect_equal(sum(transitions()$transitions), 90)
  })
  testServer(journeys_server, args = list(dw = dw, filters = reactiveVal(test_filters(device_type = "mobile"))), {
    expect_equal(sum(transitions()$transitions), 2)
    expect_setequal(transitions()$to_page, c("/", "(exit)"))
  })
  DBI::dbExecute(admin, "UPDATE agg_daily_page_transitions_rollup SET transitions = transitions / 10")
  dw_cache_clear(dw)
})

test_that("clicks: most clicked elements, per page, with their share of the page", {
  filters <- reactiveVal(test_filters())
  testServer(clicks_server, args = list(dw = dw, filters = filters), {
    session$flushReact()
    expect_equal(pages()$page, c("/product/p1", "/", "/category/shoes", "/cart", "(none)"))
    expect_equal(pages()$clicks, c(13, 11, 7, 4, 1))
    picker <- as.character(output$page_picker$html)
    expect_match(picker, "All pages", fixed = TRUE)
    expect_match(picker, "/product/p1 (13 clicks)", fixed = TRUE)
    # All pages by default.
    t <- top()
    cut <- paste0(substr(strrep("Trail shoe, waterproof, ", 20), 1, 297), "…")
    expect_equal(t$label, c("Add to cart", cut, "Shop now", "Shoes", "Checkout", "size-picker", "<img>", "<button>"))
    expect_equal(t$clicks, c(8, 7, 6, 5, 4, 3, 2, 1))
    expect_equal(t$page[1:3], c("/product/p1", "/category/shoes", "/"))
    expect_equal(t$share, c(8 / 13, 1, 6 / 11, 5 / 11, 1, 3 / 13, 2 / 13, 1))
    expect_equal(t$tag[7], "img")
    chart <- plot_json(output$chart)
    expect_false(is_empty_plot(output$chart))
    expect_match(chart, "<\u200bimg>", fixed = TRUE)  # shown as text, not read as a tag
    table <- plot_json(output$table)
    expect_match(table, cut, fixed = TRUE)
    expect_match(table, "&lt;img&gt;", fixed = TRUE)
    expect_match(table, "Share of page", fixed = TRUE)

    # One page: only its elements, the same shares.
    session$setInputs(page = "page:/product/p1")
    expect_equal(page(), "/product/p1")
    expect_equal(top()$label, c("Add to cart", "size-picker", "<img>"))
    expect_equal(top()$share, c(8, 3, 2) / 13)
    session$setInputs(page = "page:(none)")
    expect_equal(top()$label, "<button>")
    session$setInputs(page = ALL_PAGES)
    expect_equal(nrow(top()), 8)

    # Filters reach the SQL: bots, channel, login state; the product category does not apply.
    filters(test_filters(include_bots = TRUE))
    expect_equal(pages()$page[1], "/")
    expect_equal(top()$clicks[1], 55)
    filters(test_filters(channel = "email"))
    expect_equal(top()$label, c("Checkout", "<button>"))
    filters(test_filters(login_state = "logged_in", device_type = "desktop"))
    expect_equal(sum(top()$clicks), 8 + 7 + 6 + 3 + 3 + 2)
    filters(test_filters(product_category = "Bags"))
    expect_equal(sum(pages()$clicks), 36)
    # A chosen page keeps its place in the selector when the new filters give it no clicks.
    session$setInputs(page = "page:/cart")
    filters(test_filters(channel = "direct"))
    session$flushReact()
    expect_equal(nrow(top()), 0)
    expect_match(as.character(output$page_picker$html), "/cart (no clicks)", fixed = TRUE)
    expect_true(is_empty_plot(output$chart))
    expect_match(plot_json(output$table), "No data for these filters", fixed = TRUE)
    filters(test_filters(start = "2025-06-01", end = "2025-06-07"))
    session$setInputs(page = ALL_PAGES)
    expect_true(is_empty_plot(output$chart))
  })
})

test_that("retention: cohort matrix", {
  filters <- reactiveVal(test_filters(start = "2026-01-05"))
  testServer(retention_server, args = list(dw = dw, filters = filters, today = function() as.Date("2026-01-20")), {
    session$setInputs(max_offset = 4)
    # The fixture's sessions end on 2026-01-14: weeks ending later cannot be observed yet.
    expect_equal(observed_until(), as.Date("2026-01-14"))
    m <- matrix_data()
    expect_equal(m$cohorts, c("2026-01-05", "2026-01-12"))
    expect_equal(m$size, c(15, 8))
    expect_equal(m$rate[1, 1], 1)
    expect_true(all(is.na(m$rate[, -1])))
    expect_equal(m$observable[1, ], c(TRUE, FALSE, FALSE, FALSE, FALSE))
    expect_match(plot_json(output$heatmap), "heatmap")
    expect_match(plot_json(output$heatmap), "not yet observable", fixed = TRUE)
    expect_match(output$observable_note, "not yet observable", fixed = TRUE)
    expect_match(plot_json(output$table), "Week 1", fixed = TRUE)
    filters(test_filters(start = "2026-01-05", channel = "social"))
    expect_equal(matrix_data()$size, 5)
  })
})

test_that("trends: weekday x hour heatmap and events by type", {
  filters <- reactiveVal(test_filters())
  testServer(trends_server, args = list(dw = dw, filters = filters), {
    h <- heat()
    expect_equal(h["Mon", "10"], 8)
    expect_equal(h["Tue", "18"], 3)
    expect_equal(h["Wed", "09"], 1)
    expect_equal(sum(h), 12)
    d <- by_type()
    expect_equal(sum(d$events[d$event_type == "page_view"]), 9)
    expect_equal(grain(), "hour")
    expect_match(plot_json(output$by_type), "Begin checkout")
    expect_false(grepl("partial", plot_json(output$by_type)))
    filters(test_filters(include_bots = TRUE))
    expect_equal(sum(heat()), 22)
    # Two weeks: each cell is the average of its two hours.
    filters(test_filters(start = "2026-01-05"))
    expect_equal(heat()["Mon", "10"], 4)
  })
})

test_that("data health: freshness, runs and rejects", {
  filters <- reactiveVal(test_filters())
  testServer(health_server, args = list(dw = dw, filters = filters), {
    fr <- freshness()
    expect_equal(fr$status, "stale")  # the fixture's last run was in January 2026
    expect_equal(fr$row$last_status, "succeeded")
    expect_false(isTRUE(fr$row$connection_tls))  # the test cluster has no TLS
    expect_equal(runs()$run_id, c(3, 2, 1))
    expect_equal(runs()$error, c(NA, "warehouse unreachable", NA))
    r <- rejects_by_reason()
    expect_equal(r$reason_code, c("not_json", "missing_field"))
    expect_equal(r$rejected, c(2, 1))
    # days are UTC days: the range ending the 17th leaves out the rejects of the 18th
    filters(test_filters(end = "2026-01-17"))
    expect_equal(nrow(rejects_by_reason()), 0)
    filters(test_filters())
    rr <- recent_rejects()
    expect_false("raw_line" %in% names(rr))
    expect_equal(rr$line_no, c(9, 3, 7))
    expect_equal(rr$reason[1], "eventName is required")
    expect_equal(nrow(skipped_objects()), 0)
    expect_match(plot_json(output$skipped), "Every raw object read was loaded", fixed = TRUE)
    expect_equal(output$status_value, "stale")
    expect_equal(output$runs_value, "0")  # nothing in the last 24 h of today
    expect_equal(output$connection_value, "not encrypted")
    expect_false(is_empty_plot(output$rejects_chart))
  })
})

test_that("the dashboards' login reads the health views, not the ETL's tables", {
  for (table in c("etl_rejected_events", "etl_object_ledger", "clickstream_events", "clickstream_identity_map")) {
    expect_error(dw_run(dw, paste("SELECT * FROM", table, "LIMIT 1"), list()), "permission denied")
  }
  expect_error(dw_run(dw, "SELECT error FROM etl_runs", list()), "permission denied")
})

test_that("data health lists the raw objects the ETL could not load", {
  owner <- dw$admin()
  on.exit({
    DBI::dbGetQuery(owner, "DELETE FROM etl_object_ledger WHERE status <> 'loaded'")
    DBI::dbDisconnect(owner)
  })
  DBI::dbGetQuery(owner, "INSERT INTO etl_object_ledger (object_key, etag, size_bytes, events_read, events_loaded,
    events_duplicate, events_rejected, run_id, status, reason, detail, storage_class, loaded_at, failed_at, attempts,
    retry_after) VALUES
    ('events/2026/01/18/10/archived.ndjson', 'e4', 2500000, 0, 0, 0, 0, 3, 'skipped', 'archived',
     'InvalidObjectState: The operation is not valid for the object''s storage class', 'GLACIER', NULL,
     '2026-01-18 11:00:30+00', 2, '2026-01-18 13:00:30+00'),
    ('events/2026/01/18/10/broken.ndjson.gz', 'e5', 640, 1, 0, 0, 1, 3, 'rejected', 'unreadable_object',
     'object cannot be decoded: CRC check failed', 'STANDARD', '2026-01-18 11:01:00+00', '2026-01-18 11:00:40+00',
     0, NULL)")
  filters <- reactiveVal(test_filters())
  testServer(health_server, args = list(dw = dw, filters = filters), {
    d <- skipped_objects()
    expect_equal(d$object_key, c("events/2026/01/18/10/broken.ndjson.gz", "events/2026/01/18/10/archived.ndjson"))
    expect_equal(d$reason, c("unreadable_object", "archived"))
    expect_equal(d$size_bytes, c(640, 2500000))
    expect_equal(freshness()$row$objects_not_loaded, 2)
    table <- plot_json(output$skipped)
    expect_match(table, "archived.ndjson", fixed = TRUE)
    expect_match(table, "2.5 MB", fixed = TRUE)
    expect_match(table, "2026-01-18 11:00:30", fixed = TRUE)
    expect_match(as.character(output$rejected_detail$html), "2 not loadable", fixed = TRUE)
  })
})

test_that("sizes read as bytes, kB, MB", {
  expect_equal(format_bytes(c(0, 999, 1000, 2500000, NA)), c("0 B", "999 B", "1.0 kB", "2.5 MB", NA))
})

test_that("every module works on an empty warehouse and shows empty states", {
  filters <- reactiveVal(test_filters())
  testServer(overview_server, args = list(dw = empty_dw, filters = filters), {
    expect_equal(kpis()$current[kpis()$metric == "sessions"], 0)
    expect_match(as.character(output$kpi_sessions_detail$html), "no previous data")
    expect_equal(output$kpi_revenue_value, "0.00")
    expect_true(is_empty_plot(output$trend_sessions))
    expect_true(is_empty_plot(output$trend_purchases))
  })
  testServer(funnel_server, args = list(dw = empty_dw, filters = filters), {
    expect_true(is_empty_plot(output$funnel))
    expect_true(is_empty_plot(output$breakdown_chart))
    expect_match(plot_json(output$breakdown_table), "No data")
  })
  testServer(products_server, args = list(dw = empty_dw, filters = filters), {
    expect_true(is_empty_plot(output$top_products))
    expect_true(is_empty_plot(output$categories))
    expect_true(is_empty_plot(output$brands))
    expect_no_error(output$table)
  })
  testServer(journeys_server, args = list(dw = empty_dw, filters = filters), {
    expect_true(is_empty_plot(output$sankey))
    expect_no_error(output$landing)
    expect_no_error(output$purchase_paths)
  })
  testServer(clicks_server, args = list(dw = empty_dw, filters = filters), {
    expect_true(is_empty_plot(output$chart))
    expect_match(plot_json(output$table), "No data", fixed = TRUE)
    expect_match(as.character(output$page_picker$html), "All pages", fixed = TRUE)
  })
  testServer(funnel_server, args = list(dw = empty_dw, filters = filters), {
    expect_match(as.character(output$abandonment$html), "no session had a cart", fixed = TRUE)
  })
  testServer(retention_server, args = list(dw = empty_dw, filters = filters), {
    expect_true(is_empty_plot(output$heatmap))
    expect_no_error(output$table)
  })
  testServer(trends_server, args = list(dw = empty_dw, filters = filters), {
    expect_true(is_empty_plot(output$heatmap))
    expect_true(is_empty_plot(output$by_type))
  })
  testServer(health_server, args = list(dw = empty_dw, filters = filters), {
    expect_equal(freshness()$status, "no data")
    expect_equal(nrow(skipped_objects()), 0)
    expect_true(is_empty_plot(output$runs_chart))
    expect_true(is_empty_plot(output$rejects_chart))
    expect_equal(output$since_success_value, "never")
    expect_match(as.character(output$status_detail$html), "none")
  })
})

test_that("an unreachable warehouse gives empty states with the reason, not a crash", {
  down <- dw_open(list(host = "127.0.0.1", port = 1L, dbname = "x", user = "nobody", password = "x",
                       sslmode = "disable", sslrootcert = "", statement_timeout_ms = 1000L))
  filters <- reactiveVal(test_filters())
  testServer(trends_server, args = list(dw = down, filters = filters), {
    expect_true(is_empty_plot(output$heatmap))
    expect_match(plot_json(output$heatmap), "Query failed")
  })
  testServer(clicks_server, args = list(dw = down, filters = filters), {
    expect_true(is_empty_plot(output$chart))
    expect_match(plot_json(output$chart), "Query failed")
  })
  testServer(funnel_server, args = list(dw = down, filters = filters), {
    expect_match(as.character(output$abandonment$html), "Query failed")
  })
})

test_that("overview and funnel: segment comparison A vs B, off by default", {
  filters <- reactiveVal(test_filters())
  testServer(overview_server, args = list(dw = dw, filters = filters), {
    session$setInputs(compare = FALSE)
    expect_error(comparison(), class = "shiny.silent.error")  # nothing computed while off
    # A: direct (s1, s3: 2 sessions, 1 user, 1 purchase, 120, no bounce); B: mobile (s2: a bounce).
    session$setInputs(compare = TRUE, a_channel = "direct", b_device_type = "mobile")
    d <- comparison()
    expect_equal(d$Figure, c("Sessions", "Users", "Conversion per session", "Revenue", "Bounce rate (per session)"))
    expect_equal(d$A, c(2, 1, 0.5, 120, 0))
    expect_equal(d$B, c(1, 1, 0, 0, 1))
    expect_equal(d$Change, c(-50, 0, -50, -100, 100))
    expect_equal(d$Unit, c("%", "%", "pp", "%", "pp"))
    html <- as.character(output$compare_table$html)
    expect_match(html, "A: Channel: Direct. B: Device: Mobile.", fixed = TRUE)
    expect_match(html, "\u25bc \u221250.0 pp", fixed = TRUE)
    expect_match(html, "50.0% (2 sessions)", fixed = TRUE)
    csv <- utils::read.csv(output$compare_table_csv, check.names = FALSE)
    expect_equal(csv$A, c(2, 1, 0.5, 120, 0))
  })
  testServer(funnel_server, args = list(dw = dw, filters = filters), {
    # A: direct (s1 purchase, s3 to the cart); B: guest (s4 to begin checkout).
    session$setInputs(compare = TRUE, a_channel = "direct", b_login_state = "guest")
    d <- comparison()
    expect_equal(d$A, c(2, 2, 2, 1, 1, 1, 0.5, 1, 0.5))
    expect_equal(d$B, c(1, 1, 1, 1, 0, 1, 1, 0, 0))
    expect_equal(d$Change[6:9], c(0, 50, -100, -50))
    expect_equal(d$Figure[9], "Conversion per product-view session")
  })
})

test_that("products: the page says why its purchases differ from purchasing sessions", {
  html <- as.character(products_ui("products"))
  expect_match(html, "an order of two products counts for both", fixed = TRUE)
  expect_match(html, "differ from the purchasing sessions of the Overview and the Funnel", fixed = TRUE)
})
