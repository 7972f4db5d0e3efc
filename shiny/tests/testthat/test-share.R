# Sharing and export helpers (share.R, ui_helpers.R) and the accessibility markup (ui_a11y.R).

test_that("a link keeps the filters and tab controls, not tables' and charts' own inputs", {
  names <- c("tab", "filters-dates", "filters-channel", "funnel-breakdown", "overview-grain",
             "funnel-steps_rows_current", "funnel-steps_rows_all", "funnel-steps_state", "funnel-steps_search",
             "funnel-steps_cell_clicked", "funnel-steps_rows_selected", "funnel-steps_columns_selected",
             "funnel-steps_cells_selected", "funnel-steps_row_last_clicked", "funnel-steps_search_columns",
             "plotly_hover-A", "plotly_afterplot-A", ".clientValue-default-plotlyCrosstalkOpts",
             "filters-channel-selectized", "revenue-model")
  expect_equal(bookmark_inputs(names),
               c("filters-channel", "filters-dates", "funnel-breakdown", "overview-grain", "revenue-model", "tab"))
  expect_equal(bookmark_inputs(character(0)), character(0))
})

test_that("the tab comes from ?tab=<id> or from a bookmark's JSON-encoded input", {
  ids <- c("overview", "funnel")
  expect_equal(tab_from_query(list(tab = "funnel"), ids), "funnel")
  expect_equal(tab_from_query(list(tab = "\"funnel\""), ids), "funnel")
  expect_null(tab_from_query(list(tab = "\"nope\""), ids))
  expect_null(tab_from_query(list(tab = "nope"), ids))
  expect_null(tab_from_query(list(tab = "\"unterminated"), ids))
  expect_null(tab_from_query(list(), ids))
})

test_that("a CSV holds the data frame without the tables' hidden helper columns, headed as shown", {
  d <- data.frame(a = 1:2, "Rate" = c(0.5, NA), .n1 = c(3, 4), check.names = FALSE)
  expect_equal(names(csv_frame(d)), c("A", "Rate"))
  expect_equal(names(csv_frame(data.frame(run_id = 1, events_loaded = 2, "Share of revenue" = 0.5, check.names = FALSE))),
               c("Run", "Events loaded", "Share of revenue"))
  expect_equal(nrow(csv_frame(d[0, ])), 0)
})

test_that("a time series table names its buckets and marks the partial one", {
  d <- data.frame(t = as.POSIXct(c("2026-01-01 00:00:00", "2026-01-01 01:00:00"), tz = "UTC"), sessions = c(5, 2),
                  partial = c(FALSE, TRUE))
  out <- series_frame(d, c(Sessions = "sessions"), "hour")
  expect_equal(out, data.frame(Time = c("2026-01-01 00:00", "2026-01-01 01:00"), Sessions = c(5, 2),
                               Partial = c("", "partial, so far"), check.names = FALSE))
  expect_equal(series_frame(d, c(Sessions = "sessions"), "day")$Time, c("2026-01-01", "2026-01-01"))
  expect_equal(nrow(series_frame(d[0, ], c(Sessions = "sessions"))), 0)
})

test_that("a chart card has a heading, its chart, a closed Data section with a table and a named CSV button", {
  html <- as.character(dw_chart(NS("t"), "c", "Sessions per day"))
  expect_match(html, "<h3 class=\"dw-card-title\">Sessions per day</h3>", fixed = TRUE)
  expect_match(html, "id=\"t-c\"", fixed = TRUE)
  expect_match(html, "<details class=\"dw-data mt-2\">", fixed = TRUE)
  expect_match(html, "id=\"t-c_data\"", fixed = TRUE)
  expect_match(html, "id=\"t-c_csv\"", fixed = TRUE)
  expect_match(html, "aria-label=\"Download CSV: Sessions per day\"", fixed = TRUE)
  expect_no_match(html, "download icon", fixed = TRUE)
  table <- as.character(dw_table_card(NS("t"), "x", "All products"))
  expect_match(table, "id=\"t-x_csv\"", fixed = TRUE)
  expect_match(table, "id=\"t-x\"", fixed = TRUE)
})

test_that("the colours the accessibility CSS sets keep 4.5:1 on white and on the card headers", {
  for (colour in c("#5c636a", "#b02a37", "#7a5a00")) {
    expect_match(A11Y_CSS, colour, fixed = TRUE)
    for (bg in c("#ffffff", "#f7f7f7", "#f8f9fa")) expect_gte(contrast_ratio(colour, bg), 4.5)
  }
})

test_that("a segment replaces the global login state, device and channel, nothing else", {
  f <- list(start = as.Date("2026-01-12"), end = as.Date("2026-01-18"), login_state = "guest", device_type = NULL,
            channel = c("email", "direct"), product_category = "Shoes", include_bots = TRUE)
  s <- segment_filters(f, list(channel = "social", device_type = NULL, login_state = NULL))
  expect_equal(s$channel, "social")
  expect_null(s$login_state)
  expect_null(s$device_type)
  expect_equal(s[c("start", "end", "product_category", "include_bots")], f[c("start", "end", "product_category", "include_bots")])
  expect_equal(describe_segment(list(channel = c("email", "organic_search"), device_type = "mobile")),
               "Device: Mobile; Channel: Email, Organic search")
  expect_equal(describe_segment(list()), "All sessions")
})

test_that("A vs B: rates change in pp, counts and amounts in %, each with an arrow", {
  a <- compare_metrics(c("sessions", "conversion_rate", "revenue"), c("Sessions", "Conversion", "Revenue"),
                       c(200, 0.05, 0), c("count", "rate", "money"), c(NA, 200, NA))
  b <- compare_metrics(c("sessions", "conversion_rate", "revenue"), c("Sessions", "Conversion", "Revenue"),
                       c(150, 0.062, 10), c("count", "rate", "money"), c(NA, 150, NA))
  d <- compare_frame(a, b)
  expect_equal(d$Difference, c(-50, 0.012, 10))
  expect_equal(d$Change, c(-25, 1.2, NA))
  expect_equal(format_compare_change(d$Change, d$Unit), c("\u25bc \u221225.0%", "\u25b2 +1.2 pp", "\u2013"))
  expect_equal(format_compare_change(0, "%"), "\u25ac \u00b10.0%")
  expect_equal(names(csv_frame(d)), c("Figure", "A", "B", "Difference", "Change", "Unit"))
  html <- as.character(compare_table_html(d, "Channel: Email", "All sessions", min_n = 30, currency = "EUR"))
  expect_match(html, "<th scope=\"row\">Conversion</th>", fixed = TRUE)
  expect_match(html, "A: Channel: Email. B: All sessions.", fixed = TRUE)
  expect_match(html, "EUR 10.00", fixed = TRUE)
  expect_no_match(html, "low-n", fixed = TRUE)
  few <- compare_frame(compare_metrics("r", "Rate", 0.5, "rate", 2), compare_metrics("r", "Rate", 1, "rate", 1))
  expect_match(as.character(compare_table_html(few, "a", "b")), "50.0% (2 sessions)", fixed = TRUE)
})
