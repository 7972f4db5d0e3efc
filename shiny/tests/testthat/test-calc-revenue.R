# The Revenue and Checkout tabs' calculations, figures worked out by hand.

test_that("daily revenue series: every day, AOV and revenue per session undefined without orders or sessions", {
  rows <- data.frame(day = as.Date(c("2026-01-12", "2026-01-14")), sessions = c(4, 2), purchase_sessions = c(1, 0),
                     revenue = c(120, 0), orders = c(2, 0))
  d <- revenue_daily_series(rows, "2026-01-12", "2026-01-14")
  expect_equal(d$day, as.Date(c("2026-01-12", "2026-01-13", "2026-01-14")))
  expect_equal(d$revenue, c(120, 0, 0))
  expect_equal(d$aov, c(60, NA, NA))
  expect_equal(d$revenue_per_session, c(30, NA, 0))
  t <- revenue_totals(rows)
  expect_equal(t[c("revenue", "orders", "sessions", "aov", "revenue_per_session", "conversion_rate")],
               list(revenue = 120, orders = 2, sessions = 6, aov = 60, revenue_per_session = 20, conversion_rate = 1 / 6))
  empty <- revenue_totals(rows[0, ])
  expect_true(is.na(empty$aov) && is.na(empty$revenue_per_session) && is.na(empty$conversion_rate))
  expect_equal(nrow(revenue_daily_series(rows[0, ], "2026-01-12", "2026-01-18")), 7)
})

test_that("money, counts and rates are formatted with the currency and a dash when undefined", {
  expect_equal(format_money(c(1234.5, NA), "EUR"), c("EUR 1,234.50", "\u2013"))
  expect_equal(format_money(0, "USD"), "USD 0.00")
  expect_equal(format_share(c(1 / 3, NA)), c("33.3%", "\u2013"))
  expect_equal(format_count(12345), "12,345")
})

test_that("revenue by channel: conversion, AOV and revenue share", {
  rows <- data.frame(channel = c("email", "direct", "social"), sessions = c(10, 20, 0), purchase_sessions = c(1, 4, 0),
                     revenue = c(50, 150, 0), orders = c(1, 5, 0))
  t <- revenue_channel_table(rows)
  expect_equal(t$channel, c("direct", "email", "social"))
  expect_equal(t$conversion_rate, c(0.2, 0.1, NA))
  expect_equal(t$aov, c(30, 50, NA))
  expect_equal(t$revenue_share, c(0.75, 0.25, 0))
  expect_equal(nrow(revenue_channel_table(rows[0, ])), 0)
})

credit_rows <- function() {
  data.frame(
    model = c("first_touch", "last_touch", rep("linear", 3), rep("position_based", 3)),
    channel = c("email", "direct", "email", "organic_search", "direct", "email", "organic_search", "direct"),
    utm_source = c("newsletter", "(none)", "newsletter", "(none)", "(none)", "newsletter", "(none)", "(none)"),
    utm_medium = c("email", "(none)", "email", "(none)", "(none)", "email", "(none)", "(none)"),
    utm_campaign = c("winter_sale", "(none)", "winter_sale", "(none)", "(none)", "winter_sale", "(none)", "(none)"),
    conversions = c(1, 1, 1 / 3, 1 / 3, 1 / 3, 0.4, 0.2, 0.4),
    orders = c(1, 1, 1 / 3, 1 / 3, 1 / 3, 0.4, 0.2, 0.4),
    revenue = c(120, 120, 40, 40, 40, 48, 24, 48),
    stringsAsFactors = FALSE
  )
}

test_that("attribution: each model's credit by channel adds up to the conversions and revenue, shares to 1", {
  credit <- credit_rows()
  for (m in ATTRIBUTION_MODELS) {
    a <- attribution_split(credit, m, "channel")
    expect_equal(sum(a$conversions), 1, tolerance = 1e-9)
    expect_equal(sum(a$revenue), 120)
    expect_equal(sum(a$revenue_share), 1)
    expect_equal(sum(a$conversion_share), 1)
  }
  pb <- attribution_split(credit, "position_based", "channel")
  expect_equal(pb$channel, c("direct", "email", "organic_search"))
  expect_equal(pb$revenue, c(48, 48, 24))
  expect_equal(pb$revenue_share, c(0.4, 0.4, 0.2))
  camp <- attribution_split(credit, "linear", c("utm_source", "utm_medium", "utm_campaign"))
  expect_equal(camp$utm_campaign, c("(none)", "winter_sale"))
  expect_equal(camp$revenue, c(80, 40))
  expect_equal(nrow(attribution_split(credit, "first_touch", "channel")), 1)
  expect_equal(nrow(attribution_split(credit[0, ], "linear", "channel")), 0)
  expect_match(attribution_explanation("position_based", 30), "Position-based (40/20/40): 40%", fixed = TRUE)
  expect_match(attribution_explanation("linear", 14), "within 14 days", fixed = TRUE)
})

test_that("revenue by source / medium: last-touch conversions over the sessions with those values", {
  sessions <- data.frame(utm_source = c("(none)", "newsletter", "newsletter"), utm_medium = c("(none)", "email", "email"),
                         utm_campaign = c("(none)", "winter_sale", "spring"), sessions = c(3, 1, 4))
  t <- revenue_utm_table(sessions, credit_rows(), c("utm_source", "utm_medium"))
  expect_equal(t$utm_source, c("(none)", "newsletter"))
  expect_equal(t$sessions, c(3, 5))
  expect_equal(t$conversions, c(1, 0))
  expect_equal(t$conversion_rate, c(1 / 3, 0))
  expect_equal(t$aov, c(120, NA))
  c3 <- revenue_utm_table(sessions, credit_rows(), c("utm_source", "utm_medium", "utm_campaign"))
  expect_equal(nrow(c3), 3)
  expect_equal(nrow(revenue_utm_table(sessions[0, ], credit_rows()[0, ], c("utm_source", "utm_medium"))), 0)
})

test_that("checkout steps: drop-off against the previous step, untracked steps skipped", {
  st <- checkout_steps(list(begin_checkout = 200, add_shipping_info = 150, add_payment_info = 120, purchase = 90))
  expect_equal(st$sessions, c(200, 150, 120, 90))
  expect_true(all(st$tracked))
  expect_equal(st$from_previous, c(NA, 0.75, 0.8, 0.75))
  expect_equal(st$drop_off, c(NA, 50, 30, 30))
  expect_equal(st$drop_off_rate, c(NA, 0.25, 0.2, 0.25))
  expect_equal(st$from_first, c(1, 0.75, 0.6, 0.45))
  # A store that sends neither shipping nor payment steps: not a 100 % drop-off.
  st <- checkout_steps(list(begin_checkout = 200, add_shipping_info = 0, add_payment_info = 0, purchase = 90))
  expect_equal(st$tracked, c(TRUE, FALSE, FALSE, TRUE))
  expect_equal(st$previous, c(NA, "Begin checkout", "Begin checkout", "Begin checkout"))
  expect_equal(st$from_previous, c(NA, NA, NA, 0.45))
  expect_equal(st$drop_off_rate, c(NA, NA, NA, 0.55))
  # No purchase at all is a real drop-off, not an untracked step.
  st <- checkout_steps(list(begin_checkout = 10, add_shipping_info = 4, add_payment_info = 2, purchase = 0))
  expect_equal(st$drop_off_rate, c(NA, 0.6, 0.5, 1))
  # Nothing in the range: every step shown, no rates.
  st <- checkout_steps(list(begin_checkout = 0, add_shipping_info = 0, add_payment_info = 0, purchase = 0))
  expect_true(all(st$tracked))
  expect_true(all(is.na(st$from_previous)))
})

test_that("cart abandonment and checkout by segment", {
  rows <- data.frame(segment = c("direct", "email"), begin_checkout = c(1, 1), add_shipping_info = c(1, 1),
                     add_payment_info = c(1, 0), purchase = c(1, 0), cart_sessions = c(2, 1),
                     abandoned_cart_sessions = c(1, 1), abandoned_cart_value = c(30, 45.5), cart_removals = c(1, 2))
  totals <- checkout_totals(rows)
  c <- cart_summary(totals)
  expect_equal(c$rate, 2 / 3)
  expect_equal(c$abandoned_value, 75.5)
  expect_equal(c$removals, 3)
  expect_equal(c$removals_per_cart, 1)
  s <- checkout_segment_table(rows)
  expect_equal(s$checkout_conversion, c(1, 0))
  expect_equal(s$payment_rate, c(1, 0))
  expect_equal(s$abandonment_rate, c(0.5, 1))
  untracked <- checkout_segment_table(rows, c(begin_checkout = TRUE, add_shipping_info = TRUE, add_payment_info = FALSE,
                                              purchase = TRUE))
  expect_true(all(is.na(untracked$payment_rate)))
  expect_true(is.na(cart_summary(checkout_totals(rows[0, ]))$rate))
})

test_that("sessions without UTM fields are the rest of the period's sessions", {
  rows <- data.frame(utm_source = "newsletter", utm_medium = "email", utm_campaign = "winter_sale", sessions = 1)
  out <- revenue_with_untagged(rows, 4)
  expect_equal(out$utm_source, c("newsletter", "(none)"))
  expect_equal(out$sessions, c(1, 3))
  expect_equal(nrow(revenue_with_untagged(rows, 1)), 1)
  expect_equal(revenue_with_untagged(rows[0, ], 2)$sessions, 2)
  expect_equal(nrow(revenue_with_untagged(rows[0, ], 0)), 0)
})

test_that("purchases in other currencies than the store's are named, with their unconverted amounts", {
  rows <- data.frame(currency = c("EUR", "USD", "(none)", "GBP"), purchases = c(40, 2, 3, 1),
                     revenue = c(4000, 42.5, 0, 10))
  expect_equal(currency_mix_note(rows, "EUR"), paste(
    "3 of 46 purchases in these days were sent in a currency other than EUR: 2 in USD (USD 42.50), 1 in GBP (GBP 10.00).",
    "Their amounts are summed as sent, without conversion, in every revenue figure here."))
  # The store's own currency, and amounts sent without one (the store's), need no warning.
  expect_null(currency_mix_note(rows[c(1, 3), ], "EUR"))
  expect_null(currency_mix_note(data.frame(currency = character(0), purchases = numeric(0), revenue = numeric(0))))
  expect_match(currency_mix_note(rows, "USD"), "^41 of 46 purchases .* other than USD: 40 in EUR \\(EUR 4,000.00\\)")
})
