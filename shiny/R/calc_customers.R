# Pure calculations of the Customers tab (no Shiny, no database): data frames in, data frames
# out, checked by hand in tests/testthat/test-calc-customers.R.

CUSTOMER_DAY_COLUMNS <- c("sessions", "new_sessions", "purchase_sessions", "new_purchase_sessions", "revenue",
                          "new_revenue")

# Every day of the range (rows of customers_daily), zero where the warehouse has no row, with
# the returning sessions (all sessions less first visits).
customers_daily_series <- function(rows, start, end) {
  days <- seq(as.Date(start), as.Date(end), by = "day")
  out <- data.frame(day = days)
  for (col in CUSTOMER_DAY_COLUMNS) out[[col]] <- 0
  if (nrow(rows)) {
    at <- match(as.Date(rows$day), days)
    keep <- !is.na(at)
    for (col in CUSTOMER_DAY_COLUMNS) out[[col]][at[keep]] <- as.numeric(rows[[col]][keep])
  }
  out$returning_sessions <- out$sessions - out$new_sessions
  out
}

# New and returning visitors' sessions over the period: a new visitor's session is their first
# visit, every other session is returning. Conversion = sessions with a purchase / sessions of
# the segment; revenue per session = revenue / sessions of the segment.
new_vs_returning <- function(rows) {
  total <- function(col) if (nrow(rows)) sum(as.numeric(rows[[col]])) else 0
  t <- stats::setNames(lapply(CUSTOMER_DAY_COLUMNS, total), CUSTOMER_DAY_COLUMNS)
  out <- data.frame(
    segment = c("new", "returning"),
    sessions = c(t$new_sessions, t$sessions - t$new_sessions),
    purchase_sessions = c(t$new_purchase_sessions, t$purchase_sessions - t$new_purchase_sessions),
    revenue = c(t$new_revenue, t$revenue - t$new_revenue),
    stringsAsFactors = FALSE
  )
  out$session_share <- safe_ratio(out$sessions, sum(out$sessions))
  out$conversion_rate <- safe_ratio(out$purchase_sessions, out$sessions)
  out$revenue_share <- safe_ratio(out$revenue, sum(out$revenue))
  out$revenue_per_session <- safe_ratio(out$revenue, out$sessions)
  out
}

# Time from a visitor's first visit to their first purchase, the ETL's buckets (time_bucket of
# agg_daily_new_customers, sql/dw/history/0039).
TIME_TO_PURCHASE_BUCKETS <- c("under 5 min", "5\u201315 min", "15\u201360 min", "1\u20136 h", "6\u201324 h",
                              "1\u20133 days", "3\u20137 days", "7\u201314 days", "14\u201330 days",
                              "30\u201390 days", "90 days or more")

# Customers by time to first purchase (rows of customers_new: time_bucket, customers, ...):
# every bucket, with its share of the customers and the share up to it.
time_to_purchase_table <- function(rows) {
  out <- data.frame(bucket = seq_along(TIME_TO_PURCHASE_BUCKETS) - 1L, label = TIME_TO_PURCHASE_BUCKETS,
                    customers = 0, stringsAsFactors = FALSE)
  if (nrow(rows)) {
    agg <- tapply(as.numeric(rows$customers), as.integer(rows$time_bucket), sum)
    at <- match(as.integer(names(agg)), out$bucket)
    out$customers[at[!is.na(at)]] <- as.numeric(agg)[!is.na(at)]
  }
  out$share <- safe_ratio(out$customers, sum(out$customers))
  out$cumulative_share <- safe_ratio(cumsum(out$customers), sum(out$customers))
  out
}

# The bucket that holds the median customer: the first whose cumulative share reaches 50 %;
# NA without customers.
median_time_bucket <- function(table) {
  hit <- which(!is.na(table$cumulative_share) & table$cumulative_share >= 0.5)
  if (!length(hit)) NA_character_ else table$label[hit[1]]
}

# New customers of the period (visitors whose first purchase fell in it) and how many of them
# have ordered at least twice so far: repeat purchase rate = repeat customers / new customers.
new_customer_summary <- function(rows) {
  total <- function(col) if (nrow(rows)) sum(as.numeric(rows[[col]])) else 0
  customers <- total("customers")
  list(customers = customers, repeat_customers = total("repeat_customers"), orders = total("orders"),
       revenue = total("revenue"), repeat_rate = safe_ratio(total("repeat_customers"), customers),
       orders_per_customer = safe_ratio(total("orders"), customers))
}
