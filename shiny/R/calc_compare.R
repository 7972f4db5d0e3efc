# Segment comparison (Overview and Funnel): the same figures for two filter sets, A and B, and
# B's difference from A (rates in percentage points, counts and amounts in %), each with an arrow.

COMPARE_DIMENSIONS <- c(login_state = "Login state", device_type = "Device", channel = "Channel")

# The global filters with a segment's login state, device and channel in place of the global
# ones (empty: all); dates, product category and bots stay global.
segment_filters <- function(f, segment) {
  for (d in names(COMPARE_DIMENSIONS)) {
    v <- segment[[d]]
    f[d] <- list(if (length(v)) as.character(v) else NULL)
  }
  f
}

# One line per figure: metric, label, value, n (the rate's denominator; NA for counts), kind
# (count, rate or money).
compare_metrics <- function(metric, label, value, kind, n = NA_real_) {
  data.frame(metric = metric, label = label, value = as.numeric(value), n = rep_len(as.numeric(n), length(metric)),
             kind = kind, stringsAsFactors = FALSE)
}

# The Overview's figures from overview_kpis().
overview_compare_metrics <- function(k) {
  v <- function(m) { x <- k$current[k$metric == m]; if (length(x)) x[1] else NA_real_ }
  sessions <- v("sessions")
  compare_metrics(c("sessions", "users", "conversion_rate", "revenue", "bounce_rate"),
                  c("Sessions", "Users", "Conversion per session", "Revenue", "Bounce rate (per session)"),
                  c(sessions, v("users"), v("conversion_rate"), v("revenue"), v("bounce_rate")),
                  c("count", "count", "rate", "money", "rate"), c(NA, NA, sessions, NA, sessions))
}

# The Funnel's figures from the summed step counts (counts: sessions and one per FUNNEL_STEPS).
funnel_compare_metrics <- function(counts) {
  st <- funnel_steps(counts)
  n <- st$sessions
  prev <- c(NA, utils::head(n, -1))
  compare_metrics(
    c("sessions", FUNNEL_STEPS, paste0(FUNNEL_STEPS[-1], "_rate"), "conversion_per_view"),
    c("Sessions", paste("Sessions with", tolower(display_name(FUNNEL_STEPS))),
      paste0(display_name(FUNNEL_STEPS[-1]), " per session at the step before"),
      "Conversion per product-view session"),
    c(sum(num0(counts$sessions)), n, safe_div(n[-1], prev[-1]), safe_div(n[4], n[1])),
    c(rep("count", 5), rep("rate", 4)),
    c(rep(NA, 5), prev[-1], n[1]))
}

# A and B side by side with B's difference from A: the numbers (for CSV: "Difference" is B - A in
# the figure's unit, "Change" the same in pp or %) and their display text.
compare_frame <- function(a, b) {
  stopifnot(identical(a$metric, b$metric))
  diff <- b$value - a$value
  change <- ifelse(a$kind == "rate", round(100 * diff, 1), round(100 * safe_div(diff, a$value), 1))
  data.frame(Figure = a$label, A = a$value, B = b$value, Difference = diff, Change = change,
             Unit = ifelse(a$kind == "rate", "pp", "%"),
             .kind = a$kind, .n_a = a$n, .n_b = b$n, check.names = FALSE, stringsAsFactors = FALSE)
}

# The change as text with its arrow: "▲ +1.2 pp", "▼ −12.5%", "▬ ±0.0%"; "–" when undefined.
format_compare_change <- function(change, unit) {
  vapply(seq_along(change), function(i) {
    v <- change[i]
    if (is.na(v)) return("\u2013")
    arrow <- if (v > 0) "\u25b2" else if (v < 0) "\u25bc" else "\u25ac"
    sign <- if (v > 0) "+" else if (v < 0) "\u2212" else "\u00b1"
    sprintf("%s %s%.1f%s", arrow, sign, abs(v), if (unit[i] == "pp") " pp" else "%")
  }, "")
}

# A segment's choices as a short description: "Channel: Email; Device: Mobile" or "All sessions".
describe_segment <- function(segment) {
  parts <- unlist(lapply(names(COMPARE_DIMENSIONS), function(d) {
    v <- segment[[d]]
    if (length(v)) paste0(COMPARE_DIMENSIONS[[d]], ": ", paste(display_name(v), collapse = ", "))
  }))
  if (length(parts)) paste(parts, collapse = "; ") else "All sessions"
}
