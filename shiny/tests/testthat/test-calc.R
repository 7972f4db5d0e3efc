# The pure calculation functions, on fixture data frames.

test_that("placeholders become positional parameters, casts stay", {
  q <- sql_placeholders("SELECT :a::date, :b, x::int FROM t WHERE y = :a AND z = ':no' AND w = :b_c")
  expect_equal(q$params, c("a", "b", "no", "b_c"))
  expect_equal(q$sql, "SELECT $1::date, $2, x::int FROM t WHERE y = $1 AND z = '$3' AND w = $4")
})

test_that("every stored query compiles and takes only known parameters", {
  known <- c("start", "end", "prev_start", "prev_end", "login_state", "device_type", "channel", "product_category",
             "include_bots", "breakdown", "limit", "max_offset", "grain", "page", "today", "until",
             "steps", "any_order", "window_s", "by_visitor")
  for (name in names(QUERIES)) {
    q <- compiled_query(name)
    expect_true(all(q$params %in% known), info = name)
    expect_false(grepl("clickstream_events\\b", q$sql), info = name)
  }
})

test_that("text arrays are quoted and escaped", {
  expect_equal(pg_text_array(character(0)), "{}")
  expect_equal(pg_text_array(c("a b", "c\"d", "e\\f", NA)), "{\"a b\",\"c\\\"d\",\"e\\\\f\"}")
  expect_equal(pg_param_text(as_pg_array("x"), "p"), "{\"x\"}")
  expect_equal(pg_param_text(as_pg_array(NULL), "p"), "{}")
  expect_equal(pg_param_text("x", "p"), "x")
  expect_equal(pg_param_text(as.Date("2026-01-02"), "p"), "2026-01-02")
  expect_equal(pg_param_text(FALSE, "p"), "false")
  expect_equal(pg_param_text(20, "p"), "20")
  expect_error(pg_param_text(NULL, "p"), "missing value")
})

test_that("settings come from the environment, with safe defaults", {
  s <- dw_settings(c(DW_PG_HOST = "db", DW_PG_PORT = "6432", DW_PG_USER = "reader", DW_PG_PASSWORD = "pw"))
  expect_equal(s$host, "db")
  expect_equal(s$port, 6432L)
  expect_equal(s$sslmode, "verify-full")
  expect_equal(s$dbname, "clickstream_dw")
  expect_error(dw_connect(dw_open(dw_settings(c(DW_PG_HOST = "db")))), "DW_PG_USER")
})

test_that("previous period has the same length and ends the day before", {
  p <- previous_period("2026-01-12", "2026-01-18")
  expect_equal(p$start, as.Date("2026-01-05"))
  expect_equal(p$end, as.Date("2026-01-11"))
  expect_equal(grain_for_range("2026-01-12", "2026-01-18"), "hour")
  expect_equal(grain_for_range("2026-01-01", "2026-01-18"), "day")
})

test_that("overview KPIs compare with the previous period", {
  funnel <- data.frame(period = c("current", "previous"), sessions = c(150, 80), purchase_sessions = c(15, 8),
                       bounced_sessions = c(25, 16), revenue = c(1500, 800))
  users <- data.frame(period = c("current", "previous"), users = c(90, 60))
  k <- overview_kpis(funnel, users)
  row <- function(m) k[k$metric == m, ]
  expect_equal(row("sessions")$change, 0.875)
  expect_equal(row("users")$change, 0.5)
  expect_equal(row("conversion_rate")$current, 0.1)
  expect_equal(row("conversion_rate")$change, 0)
  expect_equal(row("bounce_rate")$current, 25 / 150)
  expect_equal(row("revenue")$previous, 800)
  # Nothing before: no change rather than Inf; an empty warehouse gives zeros and NA rates.
  k2 <- overview_kpis(funnel[1, ], users[1, ])
  expect_true(is.na(k2$change[k2$metric == "sessions"]))
  k3 <- overview_kpis(data.frame(), data.frame())
  expect_equal(k3$current[k3$metric == "sessions"], 0)
  expect_true(is.na(k3$current[k3$metric == "conversion_rate"]))
})

test_that("time series are completed with zero buckets", {
  rows <- data.frame(t = as.POSIXct(c("2026-01-12", "2026-01-14"), tz = "UTC"), sessions = c(3, 4))
  d <- fill_time_series(rows, "2026-01-12", "2026-01-15", "day")
  expect_equal(d$sessions, c(3, 0, 4, 0))
  h <- fill_time_series(data.frame(), "2026-01-12", "2026-01-12", "hour", "sessions")
  expect_equal(nrow(h), 24)
  expect_equal(sum(h$sessions), 0)
})

test_that("funnel steps give conversion and drop-off", {
  st <- funnel_steps(list(view_item = 100, add_to_cart = 40, begin_checkout = 20, purchase = 10))
  expect_equal(st$step, FUNNEL_STEPS)
  expect_equal(st$conversion_from_previous, c(1, 0.4, 0.5, 0.5))
  expect_equal(st$conversion_from_first, c(1, 0.4, 0.2, 0.1))
  expect_equal(st$drop_off, c(0, 60, 20, 10))
  expect_equal(st$drop_off_rate, c(0, 0.6, 0.5, 0.5))
  empty <- funnel_steps(list())
  expect_equal(empty$sessions, c(0, 0, 0, 0))
  expect_true(all(is.na(empty$conversion_from_first)))
})

test_that("funnel breakdown orders segments and derives rates", {
  rows <- data.frame(segment = c("email", "direct"), sessions = c(10, 20), view_item = c(5, 10),
                     add_to_cart = c(1, 5), begin_checkout = c(1, 2), purchase = c(0, 1))
  b <- funnel_breakdown(rows)
  expect_equal(b$segment, c("direct", "email"))
  expect_equal(b$view_to_cart, c(0.5, 0.2))
  expect_equal(b$view_to_purchase, c(0.1, 0))
  expect_equal(b$session_conversion, c(0.05, 0))
  expect_equal(nrow(funnel_breakdown(data.frame())), 0)
})

products_fixture <- function() {
  data.frame(product_id = c("p1", "p2", "p3", "p1"), product_name = c("Trail shoe", "Tote", "Pack", "Trail shoe"),
             product_category = c("Shoes", "Bags", "Bags", "Shoes"), product_brand = c("N", "A", "G", "N"),
             views = c(10, 8, 30, 5), add_to_carts = c(4, 2, 3, 1), checkouts = c(2, 1, 1, 0),
             purchases = c(1, 0, 1, 0), quantity_purchased = c(1, 0, 2, 0), revenue = c(120, 0, 90, 0))
}

test_that("product rollups sum counts before dividing", {
  p <- product_rollup(products_fixture(), "product")
  p1 <- p[p$key == "p1", ]
  expect_equal(p1$views, 15)
  expect_equal(p1$add_to_cart_rate, 5 / 15)
  expect_equal(p1$label, "Trail shoe")
  cats <- product_rollup(products_fixture(), "product_category")
  expect_equal(cats$views[cats$key == "Bags"], 38)
  expect_equal(cats$purchase_rate[cats$key == "Bags"], 1 / 38)
  expect_equal(nrow(product_rollup(data.frame(), "product_brand")), 0)
})

test_that("top products rank by the chosen measure, rates only with enough views", {
  p <- product_rollup(products_fixture(), "product")
  expect_equal(top_n_by(p, "views", 2)$key, c("p3", "p1"))
  expect_equal(top_n_by(p, "revenue", 1)$key, "p1")
  expect_equal(top_n_by(p, "add_to_cart_rate", 5, min_views = 10)$key, c("p1", "p3"))
  expect_equal(top_n_by(p, "add_to_cart_rate", 5, min_views = 0)$key, c("p1", "p2", "p3"))
})

test_that("sankey keeps the busiest pages and folds the rest into Other", {
  tr <- data.frame(
    from_page = c("(entrance)", "/", "/p/1", "/p/2", "/cart", "/p/3", "/p/3", "/p/2"),
    to_page = c("/", "/p/1", "/cart", "/p/3", "(exit)", "(exit)", "/p/2", "/p/3"),
    transitions = c(10, 8, 5, 2, 5, 1, 1, 0))
  s <- sankey_data(tr, max_pages = 2)
  expect_setequal(s$nodes, c("(entrance)", "/", "/p/1", "Other", "(exit)"))
  expect_equal(s$nodes[1], "(entrance)")
  expect_equal(tail(s$nodes, 1), "(exit)")
  # Total flow is kept except Other -> Other (2 + 1 between /p/2 and /p/3).
  expect_equal(sum(s$links$value), sum(tr$transitions) - 3)
  expect_equal(s$dropped, 3)
  expect_false(any(s$links$from == "Other" & s$links$to == "Other"))
  # Every link goes forward: the drawing has no cycle.
  expect_true(all(s$links$source < s$links$target))
  other_exit <- s$links[s$links$from == "Other" & s$links$to == "(exit)", ]
  expect_equal(other_exit$value, 6)
  expect_equal(s$nodes[other_exit$source + 1], "Other")
  expect_equal(nrow(sankey_data(tr[0, ])$links), 0)
  all_pages <- sankey_data(tr, max_pages = 50)
  expect_length(all_pages$nodes, 7)
  # /p/2 <-> /p/3 is a cycle: the heavier direction (2) is drawn, the other (1) is dropped.
  expect_equal(all_pages$dropped, 1)
  expect_equal(all_pages$links$value[all_pages$links$from == "/p/2" & all_pages$links$to == "/p/3"], 2)
  expect_true(all(all_pages$links$source < all_pages$links$target))
})

test_that("forward order puts sources first and sinks last", {
  expect_equal(forward_order(c("a", "b", "c"), c("b", "c", "d"), c(1, 1, 1)), c("a", "b", "c", "d"))
  o <- forward_order(c("a", "b", "b"), c("b", "a", "c"), c(5, 1, 2))
  expect_true(match("a", o) < match("b", o))
  expect_equal(tail(o, 1), "c")
})

test_that("landing and exit tables", {
  rows <- data.frame(kind = c("landing", "landing", "exit"), page = c("/", "/p", "/cart"),
                     sessions = c(10, 30, 5), bounces = c(5, 3, 0), purchases = c(1, 3, 0))
  l <- page_table(rows, "landing")
  expect_equal(l$page, c("/p", "/"))
  expect_equal(l$bounce_rate, c(0.1, 0.5))
  expect_equal(page_table(rows, "exit")$conversion_rate, 0)
})

test_that("retention matrix divides by the cohort's size and leaves unobservable weeks blank", {
  rows <- data.frame(cohort_week = c("2026-01-05", "2026-01-05", "2026-01-05", "2026-01-12", "2026-01-12"),
                     week_offset = c(0, 1, 2, 0, 1), cohort_size = c(15, 15, 10, 8, 8),
                     active_visitors = c(15, 5, 2, 8, 3))
  # Yesterday was Sunday 2026-01-25: the weeks up to 01-19..01-25 are over.
  m <- retention_matrix(rows, max_offset = 3, observed_until = retention_observed_until(as.Date("2026-01-26")))
  expect_equal(m$cohorts, c("2026-01-05", "2026-01-12"))
  expect_equal(m$size, c(15, 8))
  expect_equal(m$rate[1, 1:3], c(1, 1 / 3, 2 / 15))
  expect_equal(m$rate[1, 4], NA_real_)
  expect_equal(m$rate[2, 2], 0.375)
  expect_equal(m$observable[2, ], c(TRUE, TRUE, FALSE, FALSE))
  # An observable week without a row is a real zero, not a blank.
  m <- retention_matrix(rows[rows$week_offset != 2, ], max_offset = 3, observed_until = as.Date("2026-01-25"))
  expect_equal(m$rate[1, 3], 0)
  # On Tuesday 01-20 the week of 01-19 is not over: blank, not 0 %.
  m <- retention_matrix(rows, max_offset = 3, observed_until = retention_observed_until(as.Date("2026-01-20")))
  expect_equal(m$rate[1, 1:2], c(1, 1 / 3))
  expect_true(is.na(m$rate[1, 3]))
  expect_false(m$observable[1, 3])
  expect_true(is.na(m$rate[2, 2]))
  # Nor after the data's last day, even when the calendar week is over.
  expect_equal(retention_observed_until(as.Date("2026-02-10"), as.Date("2026-01-18")), as.Date("2026-01-18"))
  expect_equal(retention_observed_until(as.Date("2026-02-10"), NA), as.Date("2026-02-09"))
  m <- retention_matrix(rows, max_offset = 3, observed_until = as.Date("2026-01-18"))
  expect_equal(m$observable[1, ], c(TRUE, TRUE, FALSE, FALSE))
  expect_equal(dim(retention_matrix(rows[0, ])$rate), c(0, 13))
  expect_equal(dim(retention_matrix(rows[0, ])$observable), c(0, 13))
})

test_that("activity heatmap is 7 x 24 with Monday first", {
  m <- activity_heatmap(data.frame(dow = c(1, 7, 1), hour = c(10, 23, 10), events = c(5, 2, 3)))
  expect_equal(dim(m), c(7, 24))
  expect_equal(m["Mon", "10"], 8)
  expect_equal(m["Sun", "23"], 2)
  expect_equal(sum(activity_heatmap(data.frame())), 0)
})

test_that("freshness grades the time since the last successful run", {
  now <- as.POSIXct("2026-01-18 12:00:00", tz = "UTC")
  f <- freshness_status(now - 20 * 60, now - 25 * 60, now)
  expect_equal(f$status, "fresh")
  expect_equal(f$data_lag_minutes, 25)
  expect_equal(freshness_status(now - 60 * 60, NA, now)$status, "late")
  expect_equal(freshness_status(now - 3 * 3600, NA, now)$status, "stale")
  expect_equal(freshness_status(NA, NA, now)$status, "no data")
  expect_equal(format_minutes(90), "90 min")
  expect_equal(format_minutes(NA), "never")
  expect_equal(format_metric("conversion_rate", 0.1234), "12.3%")
})

test_that("cart abandonment sums the rows before dividing", {
  rows <- data.frame(segment = c("direct", "email", "social"), cart_sessions = c(2, 1, 0),
                     abandoned_cart_sessions = c(1, 1, 0))
  a <- cart_abandonment(rows)
  expect_equal(a$cart_sessions, 3)
  expect_equal(a$abandoned, 2)
  expect_equal(a$rate, 2 / 3)
  expect_equal(format_abandonment(a), "Cart abandonment: 66.7% (2 of 3 sessions with a cart)")
  expect_equal(format_abandonment(cart_abandonment(rows[2, ])), "Cart abandonment: 100.0% (1 of 1 session with a cart)")
  big <- cart_abandonment(data.frame(cart_sessions = 12345, abandoned_cart_sessions = 9000))
  expect_equal(format_abandonment(big), "Cart abandonment: 72.9% (9,000 of 12,345 sessions with a cart)")
  # No session with a cart (or no rows, or a result without the columns): no rate, an empty state.
  for (none in list(rows[3, ], data.frame(), data.frame(segment = "all", sessions = 4))) {
    expect_true(is.na(cart_abandonment(none)$rate))
    expect_equal(format_abandonment(cart_abandonment(none)), "Cart abandonment: no session had a cart for these filters")
  }
})

test_that("the funnel's revenue sums the rows' purchasing sessions and revenue", {
  rows <- data.frame(segment = c("direct", "email"), purchase = c(2, 1), revenue = c(2580000, 1234.5))
  r <- funnel_revenue(rows)
  expect_equal(c(r$purchase_sessions, r$revenue), c(3, 2581234.5))
  expect_equal(format_funnel_revenue(r), "Revenue: 2,581,234.50 from 3 purchasing sessions")
  expect_equal(format_funnel_revenue(funnel_revenue(rows[2, ])), "Revenue: 1,234.50 from 1 purchasing session")
  expect_equal(format_funnel_revenue(funnel_revenue(data.frame())), "Revenue: no purchase for these filters")
})

test_that("an element is called by its text, else its id, else its tag", {
  cut <- paste0(strrep("x", 297), "…")
  expect_equal(element_label(c("button", "div", "img", "", NA, "a", "a"),
                             c("buy", "size-picker", "", "", NA, "x", "  "),
                             c("Add to cart", "", "", "", NA, "  Two\n  lines ", cut)),
               c("Add to cart", "size-picker", "<img>", "<element>", "<element>", "Two lines", cut))
  # The ETL's cut marker stays as it is.
  expect_true(endsWith(element_label("a", "", cut), "…"))
  expect_equal(short_label(c("short", strrep("y", 50)), 10), c("short", paste0(strrep("y", 9), "…")))
  # plotly.js would draw <b> as bold and &lt; as <: a zero-width space keeps them text.
  expect_equal(plotly_text("<b>Tom &lt; Jerry</b>"), "<\u200bb>Tom &\u200blt; Jerry<\u200b/b>")
})

test_that("top elements rank by clicks with their share of the page", {
  rows <- data.frame(page = c("/", "/p", "/", "/p", "(none)"), element_tag = c("a", "button", "button", "img", "button"),
                     element_id = c("", "buy", "hero", "", ""), element_text = c("Shoes", "Add to cart", "", "", ""),
                     clicks = c(5, 8, 6, 2, 1), page_clicks = c(11, 10, 11, 10, 1))
  t <- element_clicks_table(rows)
  expect_equal(t$rank, 1:5)
  expect_equal(t$label, c("Add to cart", "hero", "Shoes", "<img>", "<button>"))
  expect_equal(t$page, c("/p", "/", "/", "/p", "(none)"))
  expect_equal(t$tag, c("button", "button", "a", "img", "button"))
  expect_equal(t$share, c(0.8, 6 / 11, 5 / 11, 0.2, 1))
  expect_equal(nrow(element_clicks_table(rows, n = 2)), 2)
  # Without page totals, the rows' own pages are summed.
  expect_equal(element_clicks_table(rows[-3, names(rows) != "page_clicks"])$share, c(0.8, 1, 0.2, 1))
  # Ties: by page, then label.
  tie <- data.frame(page = c("/b", "/a", "/a"), element_tag = "a", element_id = "", element_text = c("x", "z", "y"),
                    clicks = 3, page_clicks = 3)
  expect_equal(paste(element_clicks_table(tie)$page, element_clicks_table(tie)$label), c("/a y", "/a z", "/b x"))
  expect_equal(nrow(element_clicks_table(data.frame())), 0)
  expect_equal(names(element_clicks_table(data.frame())), names(t))
})

test_that("the page selector offers all pages first, then pages by clicks", {
  ch <- page_choices(data.frame(page = c("/product/p1", "all"), clicks = c(1300, 7)))
  expect_equal(unname(ch), c(ALL_PAGES, "page:/product/p1", "page:all"))
  expect_equal(names(ch), c("All pages", "/product/p1 (1,300 clicks)", "all (7 clicks)"))
  expect_equal(page_choices(data.frame()), c("All pages" = ALL_PAGES))
  # A page literally called "all" is still a page.
  expect_equal(selected_pages("page:all"), "all")
  expect_equal(selected_pages(ALL_PAGES), character(0))
  expect_equal(selected_pages(NULL), character(0))
  expect_equal(selected_pages("page:(none)"), "(none)")
})

test_that("the default range is the last 28 complete days with data", {
  today <- as.Date("2026-12-06")
  r <- default_date_range(today, as.Date("2026-01-01"), as.Date("2026-12-05"))
  expect_equal(c(r$start, r$end), as.Date(c("2026-11-08", "2026-12-05")))
  expect_true(r$has_data)
  expect_equal(range_caption(r, today = today), "Last 28 complete days with data: 2026-11-08 – 2026-12-05")
  # Data stopped three days ago: the range ends there, not in a run of empty days.
  r <- default_date_range(today, as.Date("2026-01-01"), as.Date("2026-12-02"))
  expect_equal(c(r$start, r$end), as.Date(c("2026-11-05", "2026-12-02")))
  # Only three days of data: those three days, not 25 days of zeros.
  r <- default_date_range(today, as.Date("2026-12-03"), as.Date("2026-12-05"))
  expect_equal(c(r$start, r$end), as.Date(c("2026-12-03", "2026-12-05")))
  expect_equal(range_caption(r, today = today), "All 3 complete days with data: 2026-12-03 – 2026-12-05")
  # Today is never complete, even if a last day at or after it is passed in.
  expect_equal(default_date_range(today, NA, today)$end, as.Date("2026-12-05"))
  # No data at all: the last 28 days ending yesterday.
  # Only today holds data: today, partial, not 28 empty days.
  r <- default_date_range(today, NA, NA, has_today = TRUE)
  expect_equal(c(r$start, r$end), c(today, today))
  expect_true(r$has_data)
  expect_equal(range_caption(r, today = today),
               "No complete day with data yet: today so far, 2026-12-06. Today (UTC) is not complete: drawn dashed as partial")
  r <- default_date_range(today, NA, NA)
  expect_equal(c(r$start, r$end), as.Date(c("2026-11-08", "2026-12-05")))
  expect_false(r$has_data)
  expect_match(range_caption(r, today = today), "^No complete day with data yet")
  # A chosen range that includes today says that today is partial.
  r <- default_date_range(today, as.Date("2026-01-01"), as.Date("2026-12-05"))
  caption <- range_caption(r, as.Date("2026-11-30"), today, today)
  expect_match(caption, "^Default: last 28 complete days")
  expect_match(caption, "Today (UTC) is not complete", fixed = TRUE)
  f <- default_filters(today, data.frame(first_day = as.Date("2026-01-01"), last_day = as.Date("2026-12-05")))
  expect_equal(c(f$start, f$end), c(r$start, r$end))
  expect_false(f$include_bots)
  expect_equal(default_filters(today, data.frame())$end, today - 1)
})

test_that("the current day or hour is marked partial and later buckets are dropped", {
  now <- as.POSIXct("2026-12-06 14:20:00", tz = "UTC")
  days <- fill_time_series(data.frame(t = as.POSIXct(c("2026-12-04", "2026-12-06"), tz = "UTC"), sessions = c(5, 2)),
                           "2026-12-04", "2026-12-06", "day", "sessions")
  d <- mark_partial(days, "day", now)
  expect_equal(d$sessions, c(5, 0, 2))
  expect_equal(d$partial, c(FALSE, FALSE, TRUE))
  hours <- fill_time_series(data.frame(t = as.POSIXct("2026-12-06 14:00", tz = "UTC"), sessions = 1),
                            "2026-12-06", "2026-12-06", "hour", "sessions")
  h <- mark_partial(hours, "hour", now)
  expect_equal(nrow(h), 15)  # 00:00 .. 14:00; the hours after now are not zeros
  expect_equal(which(h$partial), 15)
  # A range that ends before today has nothing partial.
  expect_false(any(mark_partial(days, "day", as.POSIXct("2026-12-08 01:00", tz = "UTC"))$partial))
  expect_equal(nrow(mark_partial(days[0, ], "day", now)), 0)
})

test_that("rates change in percentage points, counts in per cent, with an arrow", {
  d <- kpi_delta("conversion_rate", 0.057, 0.045)
  expect_equal(d$text, "\u25b2 +1.2 pp vs previous period")
  expect_true(d$good)
  d <- kpi_delta("bounce_rate", 0.40, 0.45)
  expect_equal(d$text, "\u25bc \u22125.0 pp vs previous period")
  expect_equal(d$tone, "good")  # a lower bounce rate is good
  d <- kpi_delta("sessions", 50, 100)
  expect_equal(d$text, "\u25bc \u221250.0% vs previous period")
  expect_equal(d$direction, "down")
  expect_false(d$good)
  expect_equal(kpi_delta("revenue", 10, 10)$text, "\u25ac \u00b10.0% vs previous period")
  expect_equal(kpi_delta("revenue", 10, 10)$tone, "neutral")
  expect_equal(kpi_delta("sessions", 5, 0)$text, "no previous data")
  expect_equal(kpi_delta("conversion_rate", 0.1, NA)$text, "no previous data")
  # Colours keep 4.5:1 on white and on the value boxes' background.
  for (colour in c(DELTA_COLOURS, LOW_N_COLOUR)) {
    expect_gte(contrast_ratio(colour, "#ffffff"), 4.5)
    expect_gte(contrast_ratio(colour, "#f8f9fa"), 4.5)
  }
  expect_equal(round(contrast_ratio("#000000", "#ffffff"), 1), 21)
})

test_that("rates from few sessions are flagged with their count", {
  expect_equal(low_n(c(2, 29, 30, NA), 30), c(TRUE, TRUE, FALSE, FALSE))
  expect_equal(format_rate(c(1, 0.5, 0.0451, NA), c(2, 1, 400, 5), 30),
               c("100.0% (2 sessions)", "50.0% (1 session)", "4.5%", "–"))
  expect_equal(format_rate(0.25, 12, 10, "views"), "25.0%")
  expect_equal(format_rate(0.25, 8, 10, "views"), "25.0% (8 views)")
  expect_equal(dw_settings(c(DW_MIN_RATE_SESSIONS = "50"))$min_rate_sessions, 50)
  expect_equal(dw_settings(c(DW_PG_HOST = "db"))$min_rate_sessions, 30)
})

test_that("the activity heatmap averages over the complete hours of the range", {
  # Mon 2026-11-30 .. Sun 2026-12-06, now Sunday 14:20: Sunday's 14:00 hour is not complete.
  now <- as.POSIXct("2026-12-06 14:20:00", tz = "UTC")
  until <- heatmap_until(as.Date("2026-12-06"), now)
  expect_equal(until, as.POSIXct("2026-12-06 14:00:00", tz = "UTC"))
  expect_equal(heatmap_until(as.Date("2026-12-05"), now), as.POSIXct("2026-12-06 00:00:00", tz = "UTC"))
  slots <- weekday_hour_slots(as.Date("2026-11-23"), until)  # two weeks, the second without Sunday afternoon
  expect_equal(slots["Mon", "10"], 2)
  expect_equal(slots["Sun", "13"], 2)
  expect_equal(slots["Sun", "14"], 1)
  expect_equal(sum(slots), 13 * 24 + 14)
  rows <- data.frame(dow = c(1, 1, 7), hour = c(10, 10, 14), events = c(30, 10, 6))
  m <- activity_heatmap_avg(rows, as.Date("2026-11-23"), until)
  expect_equal(m["Mon", "10"], 20)  # 40 events over two Monday 10:00 hours
  expect_equal(m["Sun", "14"], 6)   # one complete Sunday 14:00 hour
  expect_equal(m["Tue", "03"], 0)
  expect_true(all(is.na(activity_heatmap_avg(rows, as.Date("2026-12-06"), as.POSIXct("2026-12-06", tz = "UTC")))))
})

test_that("raw names are shown by their display names", {
  expect_equal(display_name(c("view_item", "organic_search", "logged_in", "/cart")),
               c("Product view", "Organic search", "Logged in", "/cart"))
  expect_equal(column_label(c("object_key", "newest_event_at", "some_new_column", "Sessions")),
               c("Object key", "Newest event (UTC)", "Some new column", "Sessions"))
  expect_equal(display_choices(c("direct", "email")), c(Direct = "direct", Email = "email"))
  # Every funnel step, event type, channel, device and login state has one.
  for (x in c(FUNNEL_STEPS, CHANNELS, DEVICE_TYPES, LOGIN_STATES, "page_view", "view_item_list", "click")) {
    expect_true(x %in% names(DISPLAY_NAMES), info = x)
  }
})

test_that("tables flag low-count rates and show no raw column names", {
  d <- data.frame(page = c("/", "/p"), sessions = c(2, 400), conversion_rate = c(1, 0.05))
  dt <- dw_table(d, int = "sessions", rates = list(conversion_rate = list(n = d$sessions)), min_n = 30)
  expect_equal(names(dt$x$data)[1:3], c("Page", "Sessions", "Conversion rate"))
  json <- paste(as.character(htmlwidgets:::toJSON(dt$x)), collapse = "")
  expect_match(json, "low-n", fixed = TRUE)
  expect_match(json, "n >= 30", fixed = TRUE)
})

test_that("the previous period's label says where its last day is cut", {
  expect_equal(previous_label(NULL), "previous")
  expect_equal(previous_label(as.POSIXct("2026-03-01 09:05:00", tz = "UTC")), "previous, to 09:05 UTC on 01 Mar")
  expect_null(previous_cut_at(data.frame()))
  expect_null(previous_cut_at(data.frame(period = "current", previous_cut_at = as.POSIXct(NA))))
  p <- overview_kpi_params(list(start = as.Date("2026-03-02"), end = as.Date("2026-03-08")), as.Date("2026-03-08"))
  expect_equal(c(p$prev_start, p$prev_end, p$today), as.Date(c("2026-02-23", "2026-03-01", "2026-03-08")))
})
