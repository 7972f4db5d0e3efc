# The Custom funnel tab's calculations (R/calc_custom_funnel.R), on rows worked out by hand.

test_that("the conversion window is a positive number of minutes, hours or days, at most 90 days", {
  expect_equal(window_seconds(30, "minutes"), 1800L)
  expect_equal(window_seconds(2, "hours"), 7200L)
  expect_equal(window_seconds(1.5, "days"), 129600L)
  expect_equal(window_seconds(90, "days"), 7776000L)
  for (bad in list(list(0, "days"), list(-1, "hours"), list(NA, "days"), list("x", "days"), list(91, "days"),
                   list(1, "weeks"), list(0.001, "minutes")))
    expect_true(is.na(window_seconds(bad[[1]], bad[[2]])), label = paste(bad, collapse = " "))
})

test_that("a funnel has 2 to 6 distinct steps of the contract's event types", {
  expect_null(custom_funnel_problem(c("view_item", "purchase")))
  expect_null(custom_funnel_problem(CUSTOM_FUNNEL_EVENTS[1:6]))
  expect_match(custom_funnel_problem("view_item"), "at least two")
  expect_match(custom_funnel_problem(CUSTOM_FUNNEL_EVENTS[1:7]), "at most 6")
  expect_match(custom_funnel_problem(c("view_item", "view_item")), "one step only")
  expect_match(custom_funnel_problem(c("view_item", "newsletter")), "contract")
  # Every step has a display name.
  expect_false(any(display_name(CUSTOM_FUNNEL_EVENTS) == CUSTOM_FUNNEL_EVENTS))
})

test_that("per step: units, share of step 1 and of the step before, drop-off, times", {
  rows <- data.frame(step = 1:3, event_type = c("view_item", "add_to_cart", "purchase"), units = c(5, 5, 3),
                     median_s = c(NA, 60, 240), p75_s = c(NA, 200, 720), p90_s = c(NA, 680, 1008))
  t <- custom_funnel_table(rows, c("view_item", "add_to_cart", "purchase"))
  expect_equal(t$label, c("Product view", "Add to cart", "Purchase"))
  expect_equal(t$units, c(5, 5, 3))
  expect_equal(t$of_first, c(1, 1, 0.6))
  expect_equal(t$from_previous, c(NA, 1, 0.6))
  expect_equal(t$drop_off, c(NA, 0, 2))
  expect_equal(t$drop_off_rate, c(NA, 0, 0.4))
  expect_equal(t$median_s, c(NA, 60, 240))
  s <- custom_funnel_summary(t)
  expect_equal(c(s$started, s$converted, s$rate, s$median_s, s$p75_s, s$p90_s), c(5, 3, 0.6, 240, 720, 1008))
  # Nobody at step 1: zero units, no rates (not 0 %, not NaN).
  none <- custom_funnel_table(data.frame(), c("search", "purchase"))
  expect_equal(none$units, c(0, 0))
  expect_true(all(is.na(none$of_first)))
  expect_true(is.na(custom_funnel_summary(none)$rate))
})

test_that("durations read as people say them", {
  expect_equal(format_duration(c(0, 45, 60, 200, 720.4, 3600, 7500, 86400, 97200, NA)),
               c("0 s", "45 s", "1 min", "3 min 20 s", "12 min", "1 h", "2 h 5 min", "1 d", "1 d 3 h", "\u2013"))
})

test_that("the definition says the order, the window, the unit and the cap", {
  d <- custom_funnel_definition(FALSE, 1800, FALSE)
  expect_match(d, "first event of its type after the step before", fixed = TRUE)
  expect_match(d, "within 30 min of it; within one session. Units: sessions.", fixed = TRUE)
  expect_match(d, "first 200 events", fixed = TRUE)
  d <- custom_funnel_definition(TRUE, 86400, TRUE)
  expect_match(d, "in any order", fixed = TRUE)
  expect_match(d, "Units: visitors", fixed = TRUE)
})
