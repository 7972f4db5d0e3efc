# Pure calculations of the Custom funnel tab (no Shiny, no database), checked by hand in
# tests/testthat/test-calc-custom-funnel.R. The funnel itself is computed in the warehouse
# (dw_custom_funnel, sql/dw/history/0038); these shape its rows for the page.

# The contract's event types (x-canonical-events), in the order of clickstream_event_types.
CUSTOM_FUNNEL_EVENTS <- c(
  "page_view", "view_item_list", "select_item", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
  "begin_checkout", "add_shipping_info", "add_payment_info", "purchase", "refund", "add_to_wishlist",
  "remove_from_wishlist", "search", "click", "login", "logout", "sign_up"
)
CUSTOM_FUNNEL_DEFAULT_STEPS <- c("view_item", "add_to_cart", "begin_checkout", "purchase")
CUSTOM_FUNNEL_MAX_STEPS <- 6L
# What a session keeps of its events (sql/dw/history/0038): later events are not in its sequence.
CUSTOM_FUNNEL_EVENT_CAP <- 200L
WINDOW_UNITS <- c(minutes = 60, hours = 3600, days = 86400)
# The longest window: 90 days, as the date picker's usual reach.
WINDOW_MAX_SECONDS <- 90 * 86400

# The conversion window in seconds: a positive number of minutes, hours or days, at most 90
# days; NA when it is not one.
window_seconds <- function(value, unit) {
  value <- suppressWarnings(as.numeric(value))
  if (length(value) != 1 || is.na(value) || value <= 0 || !unit %in% names(WINDOW_UNITS)) return(NA_integer_)
  s <- round(value * WINDOW_UNITS[[unit]])
  if (s < 1 || s > WINDOW_MAX_SECONDS) return(NA_integer_)
  as.integer(s)
}

# Why the chosen steps cannot make a funnel, or NULL when they can: 2 to 6 distinct event
# types of the contract.
custom_funnel_problem <- function(steps) {
  steps <- as.character(steps)
  if (length(steps) < 2) return("Pick at least two steps.")
  if (length(steps) > CUSTOM_FUNNEL_MAX_STEPS) return(sprintf("Pick at most %d steps.", CUSTOM_FUNNEL_MAX_STEPS))
  if (anyDuplicated(steps)) return("Each event type can be one step only.")
  if (!all(steps %in% CUSTOM_FUNNEL_EVENTS)) return("Only the contract's event types can be steps.")
  NULL
}

# The funnel's rows (step, event_type, units, median_s, p75_s, p90_s; one per step, in order)
# as a table: units at each step, their share of step 1 (the conversion so far), of the step
# before, the drop-off from the step before in units and as a share of it, and the times from
# step 1. Rates are NA when their denominator is zero.
custom_funnel_table <- function(rows, steps) {
  steps <- as.character(steps)
  units <- numeric(length(steps))
  times <- matrix(NA_real_, nrow = length(steps), ncol = 3)
  if (!is.null(rows) && nrow(rows)) {
    hit <- match(steps, rows$event_type)
    units <- ifelse(is.na(hit), 0, as.numeric(rows$units[hit]))
    for (j in 1:3) times[, j] <- ifelse(is.na(hit), NA_real_, as.numeric(rows[[c("median_s", "p75_s", "p90_s")[j]]][hit]))
  }
  previous <- c(NA_real_, head(units, -1))
  data.frame(
    step = seq_along(steps), event_type = steps, label = display_name(steps), units = units,
    of_first = safe_ratio(units, units[1]), previous = previous, from_previous = safe_ratio(units, previous),
    drop_off = previous - units, drop_off_rate = safe_ratio(previous - units, previous),
    median_s = times[, 1], p75_s = times[, 2], p90_s = times[, 3],
    stringsAsFactors = FALSE
  )
}

# The headline: how many units did step 1, how many reached the last step, the conversion
# between them, and the time to convert (median, p75, p90 from step 1 to the last step).
custom_funnel_summary <- function(table) {
  n <- nrow(table)
  if (!n) return(list(started = 0, converted = 0, rate = NA_real_, median_s = NA_real_, p75_s = NA_real_,
                      p90_s = NA_real_))
  list(started = table$units[1], converted = table$units[n], rate = safe_ratio(table$units[n], table$units[1]),
       median_s = table$median_s[n], p75_s = table$p75_s[n], p90_s = table$p90_s[n])
}

# A duration in seconds as people read it: "45 s", "3 min 20 s", "2 h 5 min", "1 d 3 h" (two
# units at most, a zero second one left out); NA as a dash. Fractions (percentiles between
# two units) are rounded to the second.
format_duration <- function(seconds) {
  vapply(seconds, function(s) {
    if (is.na(s)) return("\u2013")
    s <- round(s)
    two <- function(a, unit_a, b, unit_b) {
      if (b == 0) sprintf("%d %s", as.integer(a), unit_a) else sprintf("%d %s %d %s", as.integer(a), unit_a, as.integer(b), unit_b)
    }
    if (s < 60) return(sprintf("%d s", as.integer(s)))
    if (s < 3600) return(two(s %/% 60, "min", s %% 60, "s"))
    if (s < 86400) return(two(s %/% 3600, "h", (s %% 3600) %/% 60, "min"))
    two(s %/% 86400, "d", (s %% 86400) %/% 3600, "h")
  }, character(1), USE.NAMES = FALSE)
}

# "sessions" or "visitors": what the funnel counts.
custom_funnel_unit <- function(by_visitor) if (isTRUE(by_visitor)) "visitors" else "sessions"

# What the chosen order means, in words, for the page.
custom_funnel_definition <- function(any_order, window_s, by_visitor) {
  unit <- custom_funnel_unit(by_visitor)
  order_text <- if (isTRUE(any_order)) {
    "each later step occurs after the first step-1 event, in any order"
  } else {
    "each step is the first event of its type after the step before (other events may come in between)"
  }
  scope <- if (isTRUE(by_visitor)) {
    "across a visitor's sessions in the range, their events in time order (slower: every event of those visitors is read)"
  } else {
    "within one session"
  }
  sprintf(paste("Counted from each unit's first step-1 event: %s, within %s of it; %s. Units: %s.",
                "A session keeps its first %d events."),
          order_text, format_duration(window_s), scope, unit, CUSTOM_FUNNEL_EVENT_CAP)
}
