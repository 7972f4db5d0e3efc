# The Customers and Site search tabs' calculations, figures worked out by hand.

test_that("new vs returning: sessions, conversion and revenue per segment, over the days", {
  rows <- data.frame(day = as.Date(c("2026-01-12", "2026-01-14")), sessions = c(10, 30), new_sessions = c(6, 4),
                     purchase_sessions = c(2, 3), new_purchase_sessions = c(1, 0), revenue = c(100, 60),
                     new_revenue = c(40, 0))
  s <- new_vs_returning(rows)
  # new: 10 sessions, 1 purchasing, 40; returning: 30 sessions, 4 purchasing, 120
  expect_equal(s$segment, c("new", "returning"))
  expect_equal(s$sessions, c(10, 30))
  expect_equal(s$purchase_sessions, c(1, 4))
  expect_equal(s$revenue, c(40, 120))
  expect_equal(s$session_share, c(0.25, 0.75))
  expect_equal(s$conversion_rate, c(0.1, 4 / 30))
  expect_equal(s$revenue_share, c(0.25, 0.75))
  expect_equal(s$revenue_per_session, c(4, 4))
  d <- customers_daily_series(rows, "2026-01-12", "2026-01-14")
  expect_equal(d$new_sessions, c(6, 0, 4))
  expect_equal(d$returning_sessions, c(4, 0, 26))
  empty <- new_vs_returning(rows[0, ])
  expect_equal(empty$sessions, c(0, 0))
  expect_true(all(is.na(empty$conversion_rate)))
})

test_that("time to first purchase: every bucket, shares, and the median's bucket", {
  rows <- data.frame(time_bucket = c(0L, 5L, 5L, 10L), customers = c(3, 1, 2, 2), repeat_customers = c(1, 0, 1, 0),
                     orders = c(5, 1, 3, 2), revenue = c(100, 10, 60, 30))
  t <- time_to_purchase_table(rows)
  expect_equal(nrow(t), 11)
  expect_equal(t$label[c(1, 6, 11)], c("under 5 min", "1\u20133 days", "90 days or more"))
  expect_equal(t$customers[c(1, 6, 11)], c(3, 3, 2))
  expect_equal(sum(t$customers), 8)
  expect_equal(t$share[1], 3 / 8)
  expect_equal(t$cumulative_share[c(1, 5, 6, 11)], c(3 / 8, 3 / 8, 6 / 8, 1))
  # 3 of 8 under 5 minutes, 6 of 8 by 3 days: the median customer is in "1-3 days"
  expect_equal(median_time_bucket(t), "1\u20133 days")
  expect_true(is.na(median_time_bucket(time_to_purchase_table(rows[0, ]))))
  # exactly half in the first bucket: the median is there
  expect_equal(median_time_bucket(time_to_purchase_table(data.frame(time_bucket = c(0L, 9L), customers = c(1, 1)))),
               "under 5 min")
  s <- new_customer_summary(rows)
  expect_equal(s[c("customers", "repeat_customers", "repeat_rate", "orders_per_customer", "revenue")],
               list(customers = 8, repeat_customers = 2, repeat_rate = 0.25, orders_per_customer = 11 / 8,
                    revenue = 200))
  expect_true(is.na(new_customer_summary(rows[0, ])$repeat_rate))
})

test_that("search summary: share of sessions, searches per searching session, view and purchase after", {
  totals <- data.frame(search_sessions = 8, searches = 20, view_sessions = 6, purchase_sessions = 2, sessions = 40,
                       all_purchase_sessions = 3)
  s <- search_summary(totals)
  expect_equal(s$search_share, 0.2)
  expect_equal(s$searches_per_session, 2.5)
  expect_equal(s$view_rate, 0.75)
  expect_equal(s$conversion_after_search, 0.25)
  expect_equal(s$conversion_all, 0.075)
  # an empty warehouse: sums are NULL, rates undefined
  none <- search_summary(data.frame(search_sessions = NA_real_, searches = NA_real_, view_sessions = NA_real_,
                                    purchase_sessions = NA_real_, sessions = NA_real_, all_purchase_sessions = NA_real_))
  expect_equal(none$searches, 0)
  expect_true(is.na(none$search_share) && is.na(none$searches_per_session) && is.na(none$conversion_after_search))
})

test_that("search terms: rates per session that searched, no-view sessions, orders, the empty term named", {
  rows <- data.frame(search_term = c("boots", "", "red shoes"), searches = c(5, 1, 5), sessions = c(4, 1, 2),
                     view_sessions = c(1, 0, 2), purchase_sessions = c(1, 0, 1))
  t <- search_terms_table(rows, "searches")
  # equal searches: more sessions first
  expect_equal(t$term, c("boots", "red shoes", "(no term)"))
  expect_equal(t$view_rate, c(0.25, 1, 0))
  expect_equal(t$no_view_sessions, c(3, 0, 1))
  expect_equal(t$no_view_rate, c(0.75, 0, 1))
  expect_equal(t$conversion_rate, c(0.25, 0.5, 0))
  n <- search_terms_table(rows, "no_view_sessions")
  expect_equal(n$term, c("boots", "(no term)", "red shoes"))
  expect_equal(nrow(search_terms_table(rows[0, ])), 0)
})
