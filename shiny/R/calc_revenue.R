# Pure calculations of the Revenue and Checkout tabs (no Shiny, no database): data frames in,
# data frames out, so that tests/testthat/test-calc-revenue.R checks them by hand.

# A ratio that is NA, not Inf or NaN, when its denominator is zero or missing.
safe_ratio <- function(num, den) {
  n <- if (length(num) && length(den)) max(length(num), length(den)) else 0L
  num <- rep_len(as.numeric(num), n)
  den <- rep_len(as.numeric(den), n)
  out <- num / den
  out[is.na(den) | den == 0] <- NA_real_
  out
}

# An amount in the store's currency: "EUR 1,234.56"; a missing one as a dash.
format_money <- function(x, currency = "EUR") {
  out <- paste(currency, formatC(x, format = "f", digits = 2, big.mark = ","))
  out[is.na(x)] <- "\u2013"
  out
}

format_count <- function(x) {
  out <- formatC(x, format = "f", digits = 0, big.mark = ",")
  out[is.na(x)] <- "\u2013"
  out
}

format_share <- function(x) {
  out <- sprintf("%.1f%%", 100 * x)
  out[is.na(x)] <- "\u2013"
  out
}

# -- Revenue -------------------------------------------------------------------------------

REVENUE_COLUMNS <- c("sessions", "purchase_sessions", "revenue", "orders")

# Every day of the range, zero where the warehouse has no row, with AOV (revenue per order)
# and revenue per session; both are NA on a day without orders or sessions.
revenue_daily_series <- function(rows, start, end) {
  days <- seq(as.Date(start), as.Date(end), by = "day")
  out <- data.frame(day = days)
  for (col in REVENUE_COLUMNS) out[[col]] <- 0
  if (nrow(rows)) {
    at <- match(as.Date(rows$day), days)
    keep <- !is.na(at)
    for (col in REVENUE_COLUMNS) out[[col]][at[keep]] <- as.numeric(rows[[col]][keep])
  }
  out$aov <- safe_ratio(out$revenue, out$orders)
  out$revenue_per_session <- safe_ratio(out$revenue, out$sessions)
  out
}

# The period's totals: AOV = revenue / orders, revenue per session = revenue / sessions,
# conversion rate = sessions with a purchase / sessions.
revenue_totals <- function(rows) {
  total <- function(col) if (nrow(rows)) sum(as.numeric(rows[[col]])) else 0
  t <- stats::setNames(lapply(REVENUE_COLUMNS, total), REVENUE_COLUMNS)
  t$aov <- safe_ratio(t$revenue, t$orders)
  t$revenue_per_session <- safe_ratio(t$revenue, t$sessions)
  t$conversion_rate <- safe_ratio(t$purchase_sessions, t$sessions)
  t
}

# Revenue, orders and conversion by channel (rows of revenue_by_channel), the largest revenue
# first.
revenue_channel_table <- function(rows) {
  if (!nrow(rows)) {
    return(data.frame(channel = character(0), sessions = numeric(0), purchase_sessions = numeric(0),
                      conversion_rate = numeric(0), orders = numeric(0), revenue = numeric(0), aov = numeric(0),
                      revenue_share = numeric(0)))
  }
  out <- data.frame(channel = rows$channel, sessions = rows$sessions, purchase_sessions = rows$purchase_sessions,
                    conversion_rate = safe_ratio(rows$purchase_sessions, rows$sessions), orders = rows$orders,
                    revenue = rows$revenue, aov = safe_ratio(rows$revenue, rows$orders),
                    revenue_share = safe_ratio(rows$revenue, sum(rows$revenue)))
  out[order(-out$revenue, -out$sessions, out$channel), , drop = FALSE]
}

ATTRIBUTION_MODELS <- c("First touch" = "first_touch", "Last touch" = "last_touch", "Linear" = "linear",
                        "Position-based (40/20/40)" = "position_based")

# What the selected model does, and how far back a conversion's touchpoints go.
attribution_explanation <- function(model, lookback_days = 30) {
  how <- switch(model,
    first_touch = "all of a conversion's credit goes to the first of its touchpoints",
    last_touch = "all of a conversion's credit goes to its last touchpoint, the converting session itself",
    linear = "a conversion's credit is shared equally among all of its touchpoints",
    position_based = paste("40% of a conversion's credit goes to the first touchpoint, 40% to the last and",
                           "the other 20% is shared by those in between (one touchpoint: all of it; two: half each)"),
    "unknown model"
  )
  sprintf(paste("%s: %s. Touchpoints are the visitor's sessions (joined across devices once they log in) that",
                "started within %d days before the conversion, the converting session included; credit is",
                "counted on the conversion's day, so one conversion's credits add up to 1 and to its revenue."),
          names(ATTRIBUTION_MODELS)[match(model, ATTRIBUTION_MODELS)] %||% model, how, as.integer(lookback_days))
}

# One model's credit (rows of attribution_credit) summed by `by`, with each group's share of
# the model's conversions and revenue (the shares add up to 1), the largest revenue first.
attribution_split <- function(credit, model, by = "channel") {
  rows <- credit[credit$model == model, , drop = FALSE]
  empty <- data.frame(matrix(character(0), 0, length(by), dimnames = list(NULL, by)), stringsAsFactors = FALSE)
  if (!nrow(rows)) {
    return(cbind(empty, conversions = numeric(0), orders = numeric(0), revenue = numeric(0),
                 conversion_share = numeric(0), revenue_share = numeric(0)))
  }
  out <- stats::aggregate(rows[, c("conversions", "orders", "revenue")], by = rows[, by, drop = FALSE], FUN = sum)
  out$conversion_share <- safe_ratio(out$conversions, sum(out$conversions))
  out$revenue_share <- safe_ratio(out$revenue, sum(out$revenue))
  out <- out[do.call(order, c(list(-out$revenue, -out$conversions), unname(as.list(out[by])))), , drop = FALSE]
  rownames(out) <- NULL
  out
}

# Sessions by UTM fields (rows of revenue_sessions_by_utm: sessions with at least one) and a
# row for those with none, the rest of all `sessions` of the period.
revenue_with_untagged <- function(rows, sessions) {
  untagged <- sessions - (if (nrow(rows)) sum(rows$sessions) else 0)
  if (untagged <= 0) return(rows)
  none <- data.frame(utm_source = "(none)", utm_medium = "(none)", utm_campaign = "(none)", sessions = untagged)
  if (!nrow(rows)) return(none)
  rbind(rows[, names(none)], none)
}

# Revenue, orders and conversion by UTM fields (`by`): last-touch credit (the converting
# session's own source, medium and campaign) over the sessions with those values.
revenue_utm_table <- function(sessions, credit, by = c("utm_source", "utm_medium")) {
  conv <- attribution_split(credit, "last_touch", by)[, c(by, "conversions", "orders", "revenue"), drop = FALSE]
  sess <- if (nrow(sessions)) {
    stats::aggregate(sessions[, "sessions", drop = FALSE], by = sessions[, by, drop = FALSE], FUN = sum)
  } else {
    cbind(conv[0, by, drop = FALSE], sessions = numeric(0))
  }
  out <- merge(sess, conv, by = by, all = TRUE)
  for (col in c("sessions", "conversions", "orders", "revenue")) out[[col]][is.na(out[[col]])] <- 0
  out$conversion_rate <- safe_ratio(out$conversions, out$sessions)
  out$aov <- safe_ratio(out$revenue, out$orders)
  out <- out[do.call(order, c(list(-out$revenue, -out$sessions), unname(as.list(out[by])))),
             c(by, "sessions", "conversions", "conversion_rate", "orders", "revenue", "aov"), drop = FALSE]
  rownames(out) <- NULL
  out
}

# -- Checkout ------------------------------------------------------------------------------

CHECKOUT_STEPS <- c("begin_checkout", "add_shipping_info", "add_payment_info", "purchase")
CHECKOUT_STEP_LABELS <- c(begin_checkout = "Begin checkout", add_shipping_info = "Add shipping info",
                          add_payment_info = "Add payment info", purchase = "Purchase")

# The checkout steps from sessions per step (a named list or vector). A step before the
# purchase that no session reached in the range is one the store does not send: "not tracked",
# skipped by the rates, which compare each step with the last tracked one before it. The first
# rate is against begin_checkout (or the first tracked step).
checkout_steps <- function(counts) {
  sessions <- vapply(CHECKOUT_STEPS, function(s) as.numeric(counts[[s]] %||% 0), numeric(1))
  tracked <- sessions > 0 | CHECKOUT_STEPS == "purchase"
  if (!any(sessions > 0)) tracked[] <- TRUE
  prev <- rep(NA_integer_, length(sessions))
  for (i in seq_along(sessions)[-1]) {
    before <- which(tracked[seq_len(i - 1)])
    if (length(before)) prev[i] <- max(before)
  }
  first <- which(tracked)[1]
  prev_sessions <- ifelse(is.na(prev), NA_real_, sessions[pmax(prev, 1L)])
  out <- data.frame(
    step = CHECKOUT_STEPS, label = unname(CHECKOUT_STEP_LABELS[CHECKOUT_STEPS]), sessions = unname(sessions),
    tracked = unname(tracked),
    previous = unname(ifelse(is.na(prev), NA_character_, CHECKOUT_STEP_LABELS[CHECKOUT_STEPS[pmax(prev, 1L)]])),
    from_previous = safe_ratio(sessions, prev_sessions),
    from_first = safe_ratio(sessions, sessions[first]),
    stringsAsFactors = FALSE
  )
  out$drop_off <- ifelse(is.na(prev_sessions), NA_real_, prev_sessions - sessions)
  out$drop_off_rate <- 1 - out$from_previous
  for (col in c("from_previous", "from_first", "drop_off", "drop_off_rate")) out[[col]][!out$tracked] <- NA
  out$from_first[out$tracked & seq_along(sessions) == first] <- safe_ratio(sessions[first], sessions[first])
  rownames(out) <- NULL
  out
}

CHECKOUT_COLUMNS <- c(CHECKOUT_STEPS, "cart_sessions", "abandoned_cart_sessions", "abandoned_cart_value",
                      "cart_removals")

checkout_totals <- function(rows) {
  stats::setNames(lapply(CHECKOUT_COLUMNS, function(c) if (nrow(rows)) sum(as.numeric(rows[[c]])) else 0),
                  CHECKOUT_COLUMNS)
}

# Cart abandonment = sessions whose cart was left without a purchase / sessions with a cart.
cart_summary <- function(totals) {
  list(cart_sessions = totals$cart_sessions, abandoned = totals$abandoned_cart_sessions,
       rate = safe_ratio(totals$abandoned_cart_sessions, totals$cart_sessions),
       abandoned_value = totals$abandoned_cart_value, removals = totals$cart_removals,
       removals_per_cart = safe_ratio(totals$cart_removals, totals$cart_sessions))
}

# Per segment: the steps, each tracked step's share of begin_checkout, checkout conversion
# (purchase / begin_checkout), cart abandonment and removals. A step not tracked in the whole
# range (`tracked`, from checkout_steps on the totals) has NA rates in every segment.
checkout_segment_table <- function(rows, tracked = stats::setNames(rep(TRUE, 4), CHECKOUT_STEPS)) {
  if (!nrow(rows)) rows <- as.data.frame(c(list(segment = character(0)),
                                           stats::setNames(rep(list(numeric(0)), length(CHECKOUT_COLUMNS)),
                                                           CHECKOUT_COLUMNS)))
  out <- rows[, c("segment", CHECKOUT_COLUMNS)]
  out$shipping_rate <- if (isTRUE(tracked[["add_shipping_info"]])) safe_ratio(out$add_shipping_info, out$begin_checkout) else rep(NA_real_, nrow(out))
  out$payment_rate <- if (isTRUE(tracked[["add_payment_info"]])) safe_ratio(out$add_payment_info, out$begin_checkout) else rep(NA_real_, nrow(out))
  out$checkout_conversion <- safe_ratio(out$purchase, out$begin_checkout)
  out$abandonment_rate <- safe_ratio(out$abandoned_cart_sessions, out$cart_sessions)
  out <- out[order(-out$begin_checkout, -out$cart_sessions, out$segment), , drop = FALSE]
  rownames(out) <- NULL
  out
}

# A warning when the range's purchases were sent in currencies other than the store's: their
# amounts are in the sums as sent, unconverted. NULL when there is nothing to warn about
# (amounts sent without a currency are the store's).
currency_mix_note <- function(rows, store_currency = "EUR") {
  if (is.null(rows) || !nrow(rows)) return(NULL)
  other <- rows[!rows$currency %in% c(store_currency, "(none)"), , drop = FALSE]
  if (!nrow(other)) return(NULL)
  other <- other[order(-other$purchases, other$currency), , drop = FALSE]
  each <- sprintf("%s in %s (%s)", format_count(other$purchases), other$currency,
                  format_money(other$revenue, other$currency))
  sprintf(paste("%s of %s purchases in these days were sent in a currency other than %s: %s.",
                "Their amounts are summed as sent, without conversion, in every revenue figure here."),
          format_count(sum(other$purchases)), format_count(sum(rows$purchases)), store_currency,
          paste(each, collapse = ", "))
}
