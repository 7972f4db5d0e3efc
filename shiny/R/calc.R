# Pure calculations behind the charts: data frames in, data frames or lists out, no database
# and no Shiny, so they are tested directly on fixture data (tests/testthat/test-calc.R).

FUNNEL_STEPS <- c("view_item", "add_to_cart", "begin_checkout", "purchase")
LOGIN_STATES <- c("logged_in", "anonymous", "guest")
DEVICE_TYPES <- c("desktop", "mobile", "tablet", "bot", "other")
CHANNELS <- c("direct", "organic_search", "paid_search", "social", "email", "referral", "internal")
WEEKDAYS <- c("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

`%||%` <- function(a, b) if (is.null(a) || !length(a) || (length(a) == 1 && is.na(a))) b else a

safe_div <- function(num, den) {
  if (!length(num) || !length(den)) return(numeric(0))
  n <- max(length(num), length(den))
  num <- rep_len(as.numeric(num), n)
  den <- rep_len(as.numeric(den), n)
  out <- num / den
  out[is.na(den) | den == 0] <- NA_real_
  out
}

# Relative change; NA when there is nothing to compare with.
pct_change <- function(current, previous) safe_div(current - previous, previous)

# The period of the same length that ends the day before `start`.
previous_period <- function(start, end) {
  start <- as.Date(start)
  end <- as.Date(end)
  days <- as.integer(end - start) + 1L
  list(start = start - days, end = start - 1L)
}

# Parameters of overview_kpis/overview_users: the previous period, and today for the cut of its
# last day when the range reaches today.
overview_kpi_params <- function(f, today) {
  prev <- previous_period(f$start, f$end)
  filter_params(f, prev_start = prev$start, prev_end = prev$end, today = as.Date(today))
}

# The previous period's cut from overview_kpis' rows: a POSIXct, or NULL for whole days.
previous_cut_at <- function(rows) {
  if (!nrow(rows) || !"previous_cut_at" %in% names(rows)) return(NULL)
  at <- rows$previous_cut_at[!is.na(rows$previous_cut_at)]
  if (!length(at)) NULL else as.POSIXct(at[1], tz = "UTC")
}

# What the previous figure covers: whole days, or its last day up to the cut.
previous_label <- function(cut_at) {
  if (is.null(cut_at)) "previous" else
    sprintf("previous, to %s UTC on %s", format(cut_at, "%H:%M", tz = "UTC"), format(cut_at, "%d %b", tz = "UTC"))
}

# Hourly points for short ranges, daily beyond (hourly over months is unreadable and slow).
grain_for_range <- function(start, end, max_hourly_days = 7) {
  if (as.integer(as.Date(end) - as.Date(start)) + 1L <= max_hourly_days) "hour" else "day"
}

# Numbers with NA as 0; NULL (a missing column) as 0, an empty column as numeric(0).
num0 <- function(x) {
  if (is.null(x)) return(0)
  x <- suppressWarnings(as.numeric(x))
  x[is.na(x)] <- 0
  x
}

# KPI table for the Overview: one row per metric with current, previous and relative change.
overview_kpis <- function(funnel_rows, user_rows) {
  pick <- function(df, period, column) {
    if (!nrow(df) || !column %in% names(df)) return(0)
    sum(num0(df[[column]][df$period == period]))
  }
  metrics <- function(period) {
    sessions <- pick(funnel_rows, period, "sessions")
    c(
      sessions = sessions,
      users = pick(user_rows, period, "users"),
      conversion_rate = safe_div(pick(funnel_rows, period, "purchase_sessions"), sessions),
      revenue = pick(funnel_rows, period, "revenue"),
      bounce_rate = safe_div(pick(funnel_rows, period, "bounced_sessions"), sessions)
    )
  }
  cur <- metrics("current")
  prev <- metrics("previous")
  data.frame(
    metric = names(cur),
    current = unname(cur),
    previous = unname(prev),
    change = unname(pct_change(cur, prev)),
    stringsAsFactors = FALSE
  )
}

# Completes a time series with zero rows for the buckets without data, so a quiet day shows
# as a dip and not as a straight line across it.
fill_time_series <- function(rows, start, end, grain = c("day", "hour"), value_cols = NULL) {
  grain <- match.arg(grain)
  from <- as.POSIXct(paste(as.Date(start), "00:00:00"), tz = "UTC")
  to <- as.POSIXct(paste(as.Date(end), "00:00:00"), tz = "UTC") + if (grain == "day") 0 else 23 * 3600
  step <- if (grain == "day") 86400 else 3600
  grid <- data.frame(t = seq(from, to, by = step))
  if (is.null(value_cols)) value_cols <- setdiff(names(rows), "t")
  if (!nrow(rows)) {
    for (col in value_cols) grid[[col]] <- 0
    return(grid)
  }
  rows$t <- as.POSIXct(format(as.POSIXct(rows$t, tz = "UTC"), "%Y-%m-%d %H:%M:%S", tz = "UTC"), tz = "UTC")
  key <- format(grid$t, "%Y-%m-%d %H", tz = "UTC")
  idx <- match(key, format(rows$t, "%Y-%m-%d %H", tz = "UTC"))
  for (col in value_cols) grid[[col]] <- ifelse(is.na(idx), 0, num0(rows[[col]])[idx])
  grid
}

# Funnel steps from one row of stage counts: conversion from the previous and the first
# step, and the drop-off between consecutive steps.
funnel_steps <- function(counts) {
  n <- vapply(FUNNEL_STEPS, function(s) if (s %in% names(counts)) sum(num0(counts[[s]])) else 0, numeric(1))
  prev <- c(NA_real_, head(n, -1))
  data.frame(
    step = FUNNEL_STEPS,
    sessions = unname(n),
    conversion_from_previous = unname(ifelse(is.na(prev), 1, safe_div(n, prev))),
    conversion_from_first = unname(safe_div(n, n[[1]])),
    drop_off = unname(ifelse(is.na(prev), 0, prev - n)),
    drop_off_rate = unname(ifelse(is.na(prev), 0, 1 - safe_div(n, prev))),
    stringsAsFactors = FALSE
  )
}

# Per-segment step counts and conversion rates, largest segments first.
funnel_breakdown <- function(rows) {
  if (!nrow(rows)) {
    return(data.frame(segment = character(0), sessions = numeric(0), view_item = numeric(0),
                      add_to_cart = numeric(0), begin_checkout = numeric(0), purchase = numeric(0),
                      view_to_cart = numeric(0), cart_to_checkout = numeric(0),
                      checkout_to_purchase = numeric(0), view_to_purchase = numeric(0),
                      session_conversion = numeric(0)))
  }
  out <- data.frame(segment = as.character(rows$segment), stringsAsFactors = FALSE)
  for (col in c("sessions", FUNNEL_STEPS)) out[[col]] <- num0(rows[[col]])
  out$view_to_cart <- safe_div(out$add_to_cart, out$view_item)
  out$cart_to_checkout <- safe_div(out$begin_checkout, out$add_to_cart)
  out$checkout_to_purchase <- safe_div(out$purchase, out$begin_checkout)
  out$view_to_purchase <- safe_div(out$purchase, out$view_item)
  out$session_conversion <- safe_div(out$purchase, out$sessions)
  out <- out[order(-out$sessions, out$segment), , drop = FALSE]
  rownames(out) <- NULL
  out
}

# Sums product rows to one level (product, category or brand) and derives the rates from
# the summed counts (rates of rows are never averaged).
product_rollup <- function(rows, level = c("product", "product_category", "product_brand")) {
  level <- match.arg(level)
  measures <- c("views", "add_to_carts", "checkouts", "purchases", "quantity_purchased", "revenue")
  if (!nrow(rows)) {
    out <- data.frame(key = character(0), label = character(0))
    if (level == "product") out$product_category <- out$product_brand <- character(0)
    for (m in measures) out[[m]] <- numeric(0)
    out$add_to_cart_rate <- numeric(0)
    out$purchase_rate <- numeric(0)
    return(out)
  }
  if (level == "product") {
    key <- as.character(rows$product_id)
    label <- ifelse(is.na(rows$product_name) | rows$product_name == "", key, as.character(rows$product_name))
  } else {
    key <- as.character(rows[[level]])
    label <- key
  }
  groups <- split(seq_len(nrow(rows)), key)
  out <- data.frame(key = names(groups), stringsAsFactors = FALSE)
  out$label <- vapply(groups, function(i) label[i[1]], character(1))
  if (level == "product") {
    out$product_category <- vapply(groups, function(i) as.character(rows$product_category[i[1]]), character(1))
    out$product_brand <- vapply(groups, function(i) as.character(rows$product_brand[i[1]]), character(1))
  }
  for (m in measures) out[[m]] <- vapply(groups, function(i) sum(num0(rows[[m]][i])), numeric(1))
  out$add_to_cart_rate <- safe_div(out$add_to_carts, out$views)
  out$purchase_rate <- safe_div(out$purchases, out$views)
  rownames(out) <- NULL
  out
}

# Top n rows by a measure; rates only rank items with at least `min_views` views so that a
# product viewed once and bought once does not top the list.
top_n_by <- function(rolled, by = "views", n = 10, min_views = 20) {
  if (!nrow(rolled)) return(rolled)
  if (by %in% c("add_to_cart_rate", "purchase_rate")) rolled <- rolled[num0(rolled$views) >= min_views, , drop = FALSE]
  value <- num0(rolled[[by]])
  rolled <- rolled[order(-value, -num0(rolled$views), rolled$key), , drop = FALSE]
  rownames(rolled) <- NULL
  head(rolled, n)
}

# Orders the pages of a weighted directed graph so that as much flow as possible goes forward
# (the greedy feedback-arc-set heuristic of Eades, Lin and Smyth): sinks go last, sources
# first, otherwise the page with the largest out-minus-in flow next.
forward_order <- function(from, to, value) {
  nodes <- unique(c(from, to))
  front <- character(0)
  back <- character(0)
  while (length(nodes)) {
    inside <- from %in% nodes & to %in% nodes & from != to
    out_w <- vapply(nodes, function(n) sum(value[inside & from == n]), numeric(1))
    in_w <- vapply(nodes, function(n) sum(value[inside & to == n]), numeric(1))
    sinks <- nodes[out_w == 0]
    if (length(sinks)) {
      back <- c(sort(sinks), back)
      nodes <- setdiff(nodes, sinks)
      next
    }
    sources <- nodes[in_w == 0]
    if (length(sources)) {
      front <- c(front, sort(sources))
      nodes <- setdiff(nodes, sources)
      next
    }
    delta <- out_w - in_w
    pick <- sort(nodes[delta == max(delta)])[1]
    front <- c(front, pick)
    nodes <- setdiff(nodes, pick)
  }
  c(front, back)
}

# Sankey input from page transitions: the `max_pages` busiest pages keep their name, the
# rest become "Other"; links are re-summed after bucketing. A Sankey cannot draw cycles
# (the plotly.js Debian ships has no circular links), so pages are put in a forward order and
# backward links (back-navigation, and Other -> Other) are left out and counted in `dropped`.
# Node indices are 0-based for plotly.
sankey_data <- function(transitions, max_pages = 8, other = "Other") {
  empty <- list(nodes = character(0), dropped = 0,
                links = data.frame(source = integer(0), target = integer(0), value = numeric(0),
                                   from = character(0), to = character(0)))
  if (!nrow(transitions)) return(empty)
  tr <- data.frame(from = as.character(transitions$from_page), to = as.character(transitions$to_page),
                   value = num0(transitions$transitions), stringsAsFactors = FALSE)
  tr <- tr[tr$value > 0, , drop = FALSE]
  if (!nrow(tr)) return(empty)
  framing <- c("(entrance)", "(exit)")
  flow <- tapply(c(tr$value, tr$value), c(tr$from, tr$to), sum)
  pages <- setdiff(names(flow), framing)
  pages <- pages[order(-flow[pages], pages)]
  keep <- c(framing, head(pages, max_pages))
  tr$from[!tr$from %in% keep] <- other
  tr$to[!tr$to %in% keep] <- other
  agg <- aggregate(value ~ from + to, data = tr, FUN = sum)
  inner <- !agg$from %in% framing & !agg$to %in% framing
  order <- c("(entrance)", forward_order(agg$from[inner], agg$to[inner], agg$value[inner]), "(exit)")
  order <- c(order[1], setdiff(unique(c(order, agg$from, agg$to)), framing), "(exit)")
  forward <- match(agg$from, order) < match(agg$to, order)
  dropped <- sum(agg$value[!forward])
  agg <- agg[forward, , drop = FALSE]
  agg <- agg[order(-agg$value, agg$from, agg$to), , drop = FALSE]
  nodes <- order[order %in% c(agg$from, agg$to)]
  links <- data.frame(source = match(agg$from, nodes) - 1L, target = match(agg$to, nodes) - 1L,
                      value = agg$value, from = agg$from, to = agg$to, stringsAsFactors = FALSE)
  rownames(links) <- NULL
  list(nodes = nodes, links = links, dropped = dropped)
}

# Landing or exit page table with bounce and conversion rates.
page_table <- function(rows, kind = c("landing", "exit"), n = 15) {
  kind <- match.arg(kind)
  if (!nrow(rows)) return(data.frame(page = character(0), sessions = numeric(0), bounce_rate = numeric(0),
                                     conversion_rate = numeric(0)))
  rows <- rows[rows$kind == kind, , drop = FALSE]
  out <- data.frame(page = as.character(rows$page), sessions = num0(rows$sessions),
                    bounce_rate = safe_div(num0(rows$bounces), num0(rows$sessions)),
                    conversion_rate = safe_div(num0(rows$purchases), num0(rows$sessions)),
                    stringsAsFactors = FALSE)
  out <- out[order(-out$sessions, out$page), , drop = FALSE]
  rownames(out) <- NULL
  head(out, n)
}

# Cohort x week-offset retention matrix. The cohort size is taken from offset 0 (everyone is
# active in their first week). A cell is observable once its whole week (Monday to Sunday) lies
# on or before `observed_until` (see retention_observed_until: yesterday, or the data's last day);
# the others stay NA and are marked in `observable`, so they are not read as zero.
retention_matrix <- function(rows, max_offset = 12, observed_until = Sys.Date() - 1L) {
  offsets <- 0:max_offset
  if (!nrow(rows)) return(list(cohorts = character(0), offsets = offsets,
                               rate = matrix(numeric(0), 0, max_offset + 1), size = numeric(0),
                               observable = matrix(logical(0), 0, max_offset + 1)))
  rows$cohort_week <- as.Date(rows$cohort_week)
  cohorts <- sort(unique(rows$cohort_week))
  size <- vapply(cohorts, function(c) {
    r <- rows[rows$cohort_week == c, , drop = FALSE]
    s0 <- sum(num0(r$cohort_size[r$week_offset == 0]))
    if (s0 > 0) s0 else max(c(0, tapply(num0(r$cohort_size), r$week_offset, sum)))
  }, numeric(1))
  rate <- matrix(NA_real_, length(cohorts), length(offsets))
  observable <- matrix(FALSE, length(cohorts), length(offsets))
  for (i in seq_along(cohorts)) {
    for (j in seq_along(offsets)) {
      if (cohorts[i] + 7L * offsets[j] + 6L > as.Date(observed_until)) next
      observable[i, j] <- TRUE
      hit <- rows$cohort_week == cohorts[i] & rows$week_offset == offsets[j]
      rate[i, j] <- safe_div(sum(num0(rows$active_visitors[hit])), size[i])
    }
  }
  list(cohorts = format(cohorts, "%Y-%m-%d"), offsets = offsets, rate = rate, size = size, observable = observable)
}

# 7 x 24 matrix of events by ISO weekday (rows, Monday first) and UTC hour (columns).
activity_heatmap <- function(rows) {
  m <- matrix(0, 7, 24, dimnames = list(WEEKDAYS, sprintf("%02d", 0:23)))
  if (!nrow(rows)) return(m)
  for (i in seq_len(nrow(rows))) {
    d <- as.integer(rows$dow[i])
    h <- as.integer(rows$hour[i])
    if (!is.na(d) && !is.na(h) && d >= 1 && d <= 7 && h >= 0 && h <= 23) m[d, h + 1] <- m[d, h + 1] + num0(rows$events[i])
  }
  m
}

# ETL freshness: minutes since the last successful run and since the newest loaded event,
# graded against the 30-minute schedule.
freshness_status <- function(last_success_at, newest_event_at, now, warn_minutes = 45, stale_minutes = 90) {
  minutes <- function(t) {
    if (is.null(t) || !length(t) || is.na(t)) return(NA_real_)
    as.numeric(difftime(as.POSIXct(now, tz = "UTC"), as.POSIXct(t, tz = "UTC"), units = "mins"))
  }
  since_run <- minutes(last_success_at)
  lag <- minutes(newest_event_at)
  status <- if (is.na(since_run)) "no data" else if (since_run <= warn_minutes) "fresh" else
    if (since_run <= stale_minutes) "late" else "stale"
  list(status = status, minutes_since_success = since_run, data_lag_minutes = lag)
}

format_minutes <- function(m) {
  if (is.na(m)) return("never")
  if (m < 1) return("< 1 min")
  if (m < 120) return(sprintf("%d min", as.integer(round(m))))
  if (m < 48 * 60) return(sprintf("%.1f h", m / 60))
  sprintf("%.1f days", m / 1440)
}

format_metric <- function(metric, value) {
  if (is.na(value)) return("–")
  switch(metric,
    conversion_rate = , bounce_rate = sprintf("%.1f%%", 100 * value),
    revenue = formatC(value, format = "f", digits = 2, big.mark = ","),
    formatC(value, format = "d", big.mark = ",")
  )
}

# Cart abandonment from the funnel's cart columns summed over the filtered rows: the share of
# sessions with a cart (an add_to_cart) that had no purchase after their last add_to_cart.
cart_abandonment <- function(rows) {
  carts <- if (nrow(rows) && "cart_sessions" %in% names(rows)) sum(num0(rows$cart_sessions)) else 0
  abandoned <- if (nrow(rows) && "abandoned_cart_sessions" %in% names(rows)) sum(num0(rows$abandoned_cart_sessions)) else 0
  list(cart_sessions = carts, abandoned = abandoned, rate = safe_div(abandoned, carts))
}

format_abandonment <- function(a) {
  if (!length(a$rate) || is.na(a$rate)) return("Cart abandonment: no session had a cart for these filters")
  sprintf("Cart abandonment: %.1f%% (%s of %s %s with a cart)", 100 * a$rate,
          formatC(a$abandoned, format = "d", big.mark = ","), formatC(a$cart_sessions, format = "d", big.mark = ","),
          if (a$cart_sessions == 1) "session" else "sessions")
}

# Revenue of the funnel's filtered rows: what its purchasing sessions paid.
funnel_revenue <- function(rows) {
  has <- function(col) nrow(rows) && col %in% names(rows)
  list(purchase_sessions = if (has("purchase")) sum(num0(rows$purchase)) else 0,
       revenue = if (has("revenue")) sum(num0(rows$revenue)) else 0)
}

format_funnel_revenue <- function(r) {
  if (!r$purchase_sessions) return("Revenue: no purchase for these filters")
  sprintf("Revenue: %s from %s purchasing %s", format_metric("revenue", r$revenue),
          formatC(r$purchase_sessions, format = "d", big.mark = ","),
          if (r$purchase_sessions == 1) "session" else "sessions")
}

# What to call a clicked element: its text, else its id, else its tag as "<tag>". Runs of
# white space become one space; a text the ETL cut (about 300 bytes ending in "…") is shown
# with its marker as it is.
element_label <- function(tag, id, text) {
  clean <- function(x) {
    x <- as.character(x)
    x[is.na(x)] <- ""
    trimws(gsub("[[:space:]]+", " ", x))
  }
  tag <- clean(tag)
  id <- clean(id)
  text <- clean(text)
  ifelse(nzchar(text), text, ifelse(nzchar(id), id, paste0("<", ifelse(nzchar(tag), tag, "element"), ">")))
}

# The most clicked elements, each with its share of its page's clicks, ranked by clicks
# (ties by page, then label, in a fixed byte order).
element_clicks_table <- function(rows, n = 20) {
  if (!nrow(rows)) {
    return(data.frame(rank = integer(0), page = character(0), label = character(0), tag = character(0),
                      clicks = numeric(0), share = numeric(0)))
  }
  out <- data.frame(
    page = as.character(rows$page),
    label = element_label(rows$element_tag, rows$element_id, rows$element_text),
    tag = ifelse(is.na(rows$element_tag), "", as.character(rows$element_tag)),
    clicks = num0(rows$clicks),
    stringsAsFactors = FALSE
  )
  page_clicks <- if ("page_clicks" %in% names(rows)) num0(rows$page_clicks) else
    unname(tapply(out$clicks, out$page, sum)[out$page])
  out$share <- safe_div(out$clicks, page_clicks)
  out <- out[order(-out$clicks, out$page, out$label, method = "radix"), , drop = FALSE]
  out <- head(out, n)
  out <- cbind(rank = seq_len(nrow(out)), out)
  rownames(out) <- NULL
  out
}

# A label cut to `width` characters for a chart axis (the table shows it whole).
short_label <- function(x, width = 40) {
  x <- as.character(x)
  long <- nchar(x) > width
  x[long] <- paste0(substr(x[long], 1, width - 1), "…")
  x
}

# Page selector choices: "All pages" first, then pages by clicks. Values carry a prefix so
# that no page path can be mistaken for "all".
ALL_PAGES <- "all"
page_choices <- function(pages) {
  if (!nrow(pages)) return(c("All pages" = ALL_PAGES))
  labels <- sprintf("%s (%s clicks)", pages$page, formatC(num0(pages$clicks), format = "d", big.mark = ","))
  c(c("All pages" = ALL_PAGES), stats::setNames(paste0("page:", pages$page), labels))
}

# The pages a selector value stands for: none means every page.
selected_pages <- function(value) {
  if (is.null(value) || !length(value) || is.na(value[1]) || !startsWith(value[1], "page:")) return(character(0))
  substring(value[1], 6)
}

# -- Display names ------------------------------------------------------------------------------
# One mapping from the warehouse's raw values and column names to what people read, used by
# every chart, table and filter. A raw name without an entry is shown as it is (values) or with
# its underscores as spaces (column names).
DISPLAY_NAMES <- c(
  # event types
  page_view = "Page view", view_item_list = "Product list view", view_item = "Product view",
  add_to_cart = "Add to cart", begin_checkout = "Begin checkout", purchase = "Purchase", click = "Click",
  # channels
  direct = "Direct", organic_search = "Organic search", paid_search = "Paid search", social = "Social",
  email = "Email", referral = "Referral", internal = "Internal",
  # devices
  desktop = "Desktop", mobile = "Mobile", tablet = "Tablet", bot = "Bot", other = "Other",
  # login states
  logged_in = "Logged in", anonymous = "Anonymous", guest = "Guest",
  # columns of the tables shown
  run_id = "Run", started_at = "Started (UTC)", finished_at = "Finished (UTC)", status = "Status",
  trigger = "Trigger", objects_loaded = "Objects loaded", objects_skipped = "Objects skipped",
  events_read = "Events read", events_loaded = "Events loaded", events_duplicate = "Duplicates",
  events_rejected = "Rejected", sessions_touched = "Sessions touched", duration_ms = "Duration (ms)",
  newest_event_at = "Newest event (UTC)", error = "Error", rejected_at = "Rejected (UTC)",
  reason_code = "Reason code", field = "Field", reason = "Reason", object_key = "Object key", line_no = "Line",
  failed_at = "Failed (UTC)", size = "Size", size_bytes = "Size (bytes)", storage_class = "Storage class",
  attempts = "Attempts", retry_after = "Retry after (UTC)", detail = "Detail",
  # Customers and Site search
  search = "Search", search_term = "Search term", new_sessions = "First visits",
  repeat_customers = "Repeat customers", time_bucket = "Time to first purchase",
  # the other event types of the contract (the custom funnel's steps)
  select_item = "Select item", remove_from_cart = "Remove from cart", view_cart = "Cart view",
  add_shipping_info = "Add shipping info", add_payment_info = "Add payment info", refund = "Refund",
  add_to_wishlist = "Add to wishlist", remove_from_wishlist = "Remove from wishlist",
  login = "Login", logout = "Logout", sign_up = "Sign-up"
)

display_name <- function(x) {
  x <- as.character(x)
  hit <- match(x, names(DISPLAY_NAMES))
  ifelse(is.na(hit), x, unname(DISPLAY_NAMES[hit]))
}

# Column headers: the mapping, else the raw name with spaces and a capital first letter.
column_label <- function(x) {
  x <- as.character(x)
  hit <- match(x, names(DISPLAY_NAMES))
  raw <- grepl("^[a-z0-9_]+$", x)
  human <- ifelse(raw, paste0(toupper(substr(x, 1, 1)), gsub("_", " ", substring(x, 2))), x)
  ifelse(is.na(hit), human, unname(DISPLAY_NAMES[hit]))
}

# Choices for a select input: raw values, display labels.
display_choices <- function(values) stats::setNames(as.character(values), display_name(values))

# -- Default date range --------------------------------------------------------------------------
utc_today <- function(now = Sys.time()) as.Date(format(now, "%Y-%m-%d", tz = "UTC"))

# The last `days` complete UTC days that hold data: the range ends on the latest day before
# today with sessions (today is never complete) and starts no earlier than the first day with
# sessions. Without any data: the last `days` days ending yesterday.
default_date_range <- function(today, first_day = NA, last_day = NA, days = 28L, has_today = FALSE) {
  today <- as.Date(today)
  missing_day <- function(d) is.null(d) || !length(d) || is.na(d[1])
  if (missing_day(last_day)) {
    # Only today holds data (a platform started today): today, drawn as partial, rather than
    # 28 empty days.
    if (isTRUE(has_today)) return(list(start = today, end = today, has_data = TRUE, only_today = TRUE, days = days))
    end <- today - 1L
    return(list(start = end - (days - 1L), end = end, has_data = FALSE, days = days))
  }
  end <- min(as.Date(last_day[1]), today - 1L)
  start <- end - (days - 1L)
  if (!missing_day(first_day)) start <- max(start, min(as.Date(first_day[1]), end))
  list(start = start, end = end, has_data = TRUE, days = days)
}

# The caption under the filters: what the default range is, and a warning when the chosen
# range includes today, which is not complete.
range_caption <- function(default, start = default$start, end = default$end, today = utc_today()) {
  fmt <- function(d) format(as.Date(d), "%Y-%m-%d")
  n <- as.integer(default$end - default$start) + 1L
  base <- if (isTRUE(default$only_today)) {
    sprintf("No complete day with data yet: today so far, %s", fmt(default$start))
  } else if (!isTRUE(default$has_data)) {
    sprintf("No complete day with data yet: the last %d days ending yesterday, %s – %s", n, fmt(default$start),
            fmt(default$end))
  } else if (n < default$days) {
    sprintf("All %d complete %s with data: %s – %s", n, if (n == 1) "day" else "days", fmt(default$start),
            fmt(default$end))
  } else {
    sprintf("Last %d complete days with data: %s – %s", n, fmt(default$start), fmt(default$end))
  }
  chosen <- !(as.Date(start) == default$start && as.Date(end) == default$end)
  if (chosen) base <- paste0("Default: ", sub("^(.)", "\\L\\1", base, perl = TRUE))
  if (as.Date(end) >= as.Date(today) && as.Date(start) <= as.Date(today)) {
    base <- paste0(base, ". Today (UTC) is not complete: drawn dashed as partial")
  }
  base
}

# -- Partial periods -----------------------------------------------------------------------------
# Marks the time bucket that holds `now` as partial and drops the buckets after it (a day or
# hour that has not happened is not a zero). Rows have a POSIXct-like column t.
mark_partial <- function(rows, grain = c("day", "hour"), now = Sys.time()) {
  grain <- match.arg(grain)
  step <- if (grain == "day") 86400 else 3600
  if (!nrow(rows)) {
    rows$partial <- logical(0)
    return(rows)
  }
  t <- as.POSIXct(rows$t, tz = "UTC")
  now <- as.POSIXct(now, tz = "UTC")
  rows <- rows[t <= now, , drop = FALSE]
  t <- t[t <= now]
  rows$partial <- as.numeric(t) + step > as.numeric(now)
  rownames(rows) <- NULL
  rows
}

# -- KPI changes ---------------------------------------------------------------------------------
RATE_METRICS <- c("conversion_rate", "bounce_rate")

# Colours of a KPI's change, each at least 4.5:1 on white and on the value boxes' #f8f9fa.
DELTA_COLOURS <- c(good = "#146c43", bad = "#b02a37", neutral = "#495057")
LOW_N_COLOUR <- "#5c636a"  # greyed, still 4.5:1

# A change against the previous period: rates in percentage points, counts and amounts in %,
# with an arrow (▲ up, ▼ down, ▬ unchanged) so that colour is never the only cue. `good` is
# TRUE/FALSE/NA (up is good except for the bounce rate).
kpi_delta <- function(metric, current, previous) {
  none <- list(text = "no previous data", direction = "none", good = NA, tone = "neutral")
  if (!length(current) || !length(previous) || is.na(current) || is.na(previous)) return(none)
  if (metric %in% RATE_METRICS) {
    value <- round(100 * (current - previous), 1)
    unit <- " pp"
  } else {
    change <- pct_change(current, previous)
    if (is.na(change)) return(none)
    value <- round(100 * change, 1)
    unit <- "%"
  }
  direction <- if (value > 0) "up" else if (value < 0) "down" else "flat"
  arrow <- c(up = "\u25b2", down = "\u25bc", flat = "\u25ac")[[direction]]
  good <- if (direction == "flat") NA else (direction == "up") != (metric == "bounce_rate")
  text <- sprintf("%s %s%.1f%s vs previous period", arrow, if (value > 0) "+" else if (value < 0) "\u2212" else "\u00b1",
                  abs(value), unit)
  list(text = text, direction = direction, good = good,
       tone = if (is.na(good)) "neutral" else if (good) "good" else "bad")
}

# WCAG contrast ratio of two #rrggbb colours.
contrast_ratio <- function(fg, bg) {
  lum <- function(hex) {
    v <- strtoi(c(substr(hex, 2, 3), substr(hex, 4, 5), substr(hex, 6, 7)), 16L) / 255
    v <- ifelse(v <= 0.03928, v / 12.92, ((v + 0.055) / 1.055)^2.4)
    sum(c(0.2126, 0.7152, 0.0722) * v)
  }
  l <- sort(c(lum(fg), lum(bg)), decreasing = TRUE)
  (l[1] + 0.05) / (l[2] + 0.05)
}

# -- Rates from few sessions ---------------------------------------------------------------------
# A rate whose denominator is below `min_n` is shown greyed with its count.
low_n <- function(n, min_n = 30) {
  n <- suppressWarnings(as.numeric(n))
  !is.na(n) & n < min_n
}

format_rate <- function(rate, n, min_n = 30, unit = "sessions") {
  vapply(seq_along(rate), function(i) {
    r <- rate[i]
    if (is.na(r)) return("–")
    base <- sprintf("%.1f%%", 100 * r)
    if (!low_n(n[i], min_n)) return(base)
    k <- num0(n[i])
    sprintf("%s (%s %s)", base, formatC(k, format = "d", big.mark = ","), if (k == 1) sub("s$", "", unit) else unit)
  }, character(1))
}

# -- Activity heatmap averages -------------------------------------------------------------------
# The end (exclusive) of the complete hours of a date range: the day after `end`, or the start of
# the current hour when the range reaches it.
heatmap_until <- function(end, now = Sys.time()) {
  day_after <- as.POSIXct(paste(as.Date(end) + 1L, "00:00:00"), tz = "UTC")
  hour_now <- as.POSIXct(trunc(as.numeric(as.POSIXct(now, tz = "UTC")) / 3600) * 3600, origin = "1970-01-01",
                         tz = "UTC")
  min(day_after, hour_now)
}

# 7 x 24 count of the hours in [start's midnight, until) per ISO weekday and UTC hour.
weekday_hour_slots <- function(start, until) {
  m <- matrix(0, 7, 24, dimnames = list(WEEKDAYS, sprintf("%02d", 0:23)))
  from <- as.numeric(as.POSIXct(paste(as.Date(start), "00:00:00"), tz = "UTC"))
  to <- as.numeric(as.POSIXct(until, tz = "UTC"))
  if (to <= from) return(m)
  hours <- seq(from, to - 3600, by = 3600)
  t <- as.POSIXct(hours, origin = "1970-01-01", tz = "UTC")
  dow <- as.integer(format(t, "%u", tz = "UTC"))
  hr <- as.integer(format(t, "%H", tz = "UTC"))
  counts <- table(factor(dow, levels = 1:7), factor(hr, levels = 0:23))
  m[] <- as.numeric(counts)
  m
}

# Average events per weekday x hour over the complete hours of the range: the summed events of
# each cell divided by how many such hours the range holds (NA where it holds none).
activity_heatmap_avg <- function(rows, start, until) {
  sums <- activity_heatmap(rows)
  slots <- weekday_hour_slots(start, until)
  avg <- sums / slots
  avg[slots == 0] <- NA_real_
  avg
}

# -- Retention observability ---------------------------------------------------------------------
# The last day whose activity can be counted: yesterday, or the data's last day if earlier.
retention_observed_until <- function(today, data_end = NA) {
  limit <- as.Date(today) - 1L
  if (length(data_end) && !is.na(data_end[1])) limit <- min(limit, as.Date(data_end[1]))
  limit
}
