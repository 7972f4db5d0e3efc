# The Customers and Site search tabs with shiny::testServer against a scratch warehouse holding
# the rows written below (figures worked out by hand in the comments).

dw <- scratch_dw(NULL, env = testthat::teardown_env())
empty_dw <- scratch_dw(NULL, env = testthat::teardown_env())
local({
  owner <- dw$admin()
  on.exit(DBI::dbDisconnect(owner))
  # 2026-01-12: direct desktop 30 sessions, 20 first visits; 4 purchasing (1 new); 200 (50 new).
  # 2026-01-13: email mobile 10 sessions, 2 first visits; 1 purchasing (0 new); 30.
  # A bot row (5 sessions, all first visits) counts only with bots.
  DBI::dbGetQuery(owner, "INSERT INTO agg_daily_funnel (session_date, channel, device_type, login_state, product_category,
    is_bot, sessions, view_item_sessions, add_to_cart_sessions, begin_checkout_sessions, purchase_sessions,
    engaged_sessions, bounced_sessions, revenue, visitors, new_sessions, new_purchase_sessions, new_revenue) VALUES
    ('2026-01-12', 'direct', 'desktop', 'anonymous', '(none)', false, 30, 10, 6, 5, 4, 20, 5, 200, hll_empty(14, 5, -1, 1), 20, 1, 50),
    ('2026-01-13', 'email', 'mobile', 'logged_in', 'Shoes', false, 10, 4, 2, 1, 1, 8, 1, 30, hll_empty(14, 5, -1, 1), 2, 0, 0),
    ('2026-01-13', 'direct', 'bot', 'anonymous', '(none)', true, 5, 0, 0, 0, 0, 0, 5, 0, hll_empty(14, 5, -1, 1), 5, 0, 0)")
  # New customers: 3 within 5 minutes (1 ordered again), 1 after 1-3 days (bucket 5), 2 after
  # 30-90 days (bucket 9, both again); one more, from email, on a day outside the range.
  DBI::dbGetQuery(owner, "INSERT INTO agg_daily_new_customers VALUES
    ('2026-01-12', 'direct', 'desktop', false, 0, 3, 1, 4, 90),
    ('2026-01-13', 'direct', 'desktop', false, 5, 1, 0, 1, 20),
    ('2026-01-14', 'email', 'mobile', false, 9, 2, 2, 5, 150),
    ('2026-01-20', 'email', 'mobile', false, 0, 1, 0, 1, 10)")
  # Search: 8 sessions with 14 searches, 5 viewed a product and 2 bought after searching.
  DBI::dbGetQuery(owner, "INSERT INTO agg_daily_search VALUES
    ('2026-01-12', 'direct', 'desktop', 'anonymous', false, 6, 10, 4, 2),
    ('2026-01-13', 'email', 'mobile', 'logged_in', false, 2, 4, 1, 0)")
  DBI::dbGetQuery(owner, "INSERT INTO agg_daily_search_terms VALUES
    ('2026-01-12', 'boots', 'direct', 'desktop', 'anonymous', false, 6, 5, 1, 1),
    ('2026-01-13', 'boots', 'email', 'mobile', 'logged_in', false, 2, 1, 0, 0),
    ('2026-01-12', 'red shoes', 'direct', 'desktop', 'anonymous', false, 3, 2, 2, 1),
    ('2026-01-13', '', 'email', 'mobile', 'logged_in', false, 2, 1, 1, 0)")
})

html <- function(x) as.character(x$html)
is_empty_plot <- function(x) grepl("empty-state", paste(as.character(x), collapse = ""), fixed = TRUE)

test_that("customers: new vs returning, repeat purchase rate and time to first purchase", {
  filters <- reactiveVal(test_filters())
  testServer(customers_server, args = list(dw = dw, filters = filters), {
    s <- segments()
    # new: 22 sessions, 1 purchasing, 50; returning: 18, 4, 180
    expect_equal(s$sessions, c(22, 18))
    expect_equal(s$purchase_sessions, c(1, 4))
    expect_equal(s$revenue, c(50, 180))
    expect_match(html(output$kpi_new_share_value), "55.0%", fixed = TRUE)
    # 1 of 22 sessions: greyed, with its count (under 30)
    expect_match(html(output$kpi_conversion_new_value), "4.5% (22 sessions)", fixed = TRUE)
    expect_match(html(output$kpi_conversion_new_value), "low-n", fixed = TRUE)
    expect_match(html(output$kpi_conversion_returning_detail), "4 with a purchase of 18 returning sessions; revenue EUR 180.00",
                 fixed = TRUE)
    # 6 new customers in the range, 3 of them with two orders or more
    cs <- customers()
    expect_equal(c(cs$customers, cs$repeat_customers, cs$repeat_rate), c(6, 3, 0.5))
    expect_match(html(output$kpi_repeat_rate_value), "50.0% (6 customers)", fixed = TRUE)
    # 3 of 6 under 5 minutes: the median customer's bucket
    expect_match(html(output$kpi_median_time_value), "under 5 min", fixed = TRUE)
    expect_false(is_empty_plot(output$sessions_chart))
    expect_false(is_empty_plot(output$time_chart))
    csv <- utils::read.csv(output$segments_csv, check.names = FALSE)
    expect_equal(names(csv), c("Visitors", "Sessions", "Share of sessions", "Sessions with a purchase",
                               "Conversion rate", "Revenue", "Share of revenue", "Revenue per session"))
    expect_equal(csv$Sessions, c(22, 18))
    expect_equal(csv$Revenue, c(50, 180))
    csv <- utils::read.csv(output$time_csv, check.names = FALSE)
    expect_equal(csv[["New customers"]][c(1, 6, 10)], c(3, 1, 2))
    # Channel email: a visitor's first channel; 2 customers, both repeat.
    filters(test_filters(channel = "email"))
    session$flushReact()
    expect_equal(c(customers()$customers, customers()$repeat_customers), c(2, 2))
    expect_equal(segments()$sessions, c(2, 8))
    # Bots: their 5 first visits join the new visitors.
    filters(test_filters(include_bots = TRUE))
    session$flushReact()
    expect_equal(segments()$sessions, c(27, 18))
  })
  testServer(customers_server, args = list(dw = empty_dw, filters = reactiveVal(test_filters())), {
    expect_true(is_empty_plot(output$sessions_chart))
    expect_true(is_empty_plot(output$time_chart))
    expect_match(html(output$kpi_repeat_rate_value), "\u2013", fixed = TRUE)
  })
})

test_that("site search: totals, terms and terms without a product view", {
  filters <- reactiveVal(test_filters())
  testServer(search_server, args = list(dw = dw, filters = filters), {
    s <- summary()
    # 8 of 40 sessions (bots excluded) searched; 14 searches; 5 viewed, 2 bought after
    expect_equal(c(s$sessions, s$search_sessions, s$searches, s$view_sessions, s$purchase_sessions), c(40, 8, 14, 5, 2))
    expect_match(html(output$kpi_search_share_value), "20.0%", fixed = TRUE)
    expect_match(html(output$kpi_per_session_value), "1.75", fixed = TRUE)
    expect_match(html(output$kpi_view_rate_value), "62.5% (8 sessions)", fixed = TRUE)
    expect_match(html(output$kpi_conversion_detail), "2 of 8 sessions with a search bought after it; all sessions: 12.5%",
                 fixed = TRUE)
    t <- terms()
    expect_equal(t$term, c("boots", "red shoes", "(no term)"))
    expect_equal(t$searches, c(8, 3, 2))
    expect_equal(t$sessions, c(6, 2, 1))
    expect_equal(t$view_rate, c(1 / 6, 1, 1))
    n <- no_view()
    # only boots had sessions without a product view after it (5 of 6)
    expect_equal(n$term, "boots")
    expect_equal(n$no_view_sessions, 5)
    expect_false(is_empty_plot(output$terms_chart))
    csv <- utils::read.csv(output$terms_csv, check.names = FALSE)
    expect_equal(csv$Term, c("boots", "red shoes", "(no term)"))
    expect_equal(csv[["Product view after"]], c(1 / 6, 1, 1))
    csv <- utils::read.csv(output$no_view_csv, check.names = FALSE)
    expect_equal(csv[["Sessions without a product view after"]], 5)
    filters(test_filters(channel = "email"))
    session$flushReact()
    expect_equal(terms()$term, c("(no term)", "boots"))
  })
  testServer(search_server, args = list(dw = empty_dw, filters = reactiveVal(test_filters())), {
    expect_true(is_empty_plot(output$terms_chart))
    expect_equal(summary()$searches, 0)
  })
})
