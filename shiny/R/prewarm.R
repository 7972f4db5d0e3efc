# The default view of every tab (the last 28 days, all values, no bots) is what most visits
# show. Its queries are run at start-up and again whenever an ETL run finishes or the UTC day
# changes, so the cache (see dw_query) already holds them when someone opens a tab. Other filter
# choices are computed on demand and then cached too.

default_filters <- function(today = as.Date(format(Sys.time(), "%Y-%m-%d", tz = "UTC"))) {
  list(start = today - 27, end = today, login_state = NULL, device_type = NULL, channel = NULL,
       product_category = NULL, include_bots = FALSE)
}

# (query, parameters) exactly as the tab modules send them for the default view; the module
# tests check that nothing else is asked for.
default_view_queries <- function(f = default_filters()) {
  prev <- previous_period(f$start, f$end)
  grain <- grain_for_range(f$start, f$end)
  p <- filter_params(f)
  list(
    list("filter_categories", list()),
    list("overview_kpis", filter_params(f, prev_start = prev$start)),
    list("overview_users", filter_params(f, prev_start = prev$start)),
    list(if (grain == "hour") "overview_trend_hour" else "overview_trend_day", p),
    list("funnel_by_segment", filter_params(f, breakdown = "channel")),
    list("products", p),
    list("journey_transitions", p),
    list("journey_pages", p),
    list("journey_purchase_paths", filter_params(f, limit = 20)),
    list("clicks_pages", filter_params(f, limit = CLICKS_MAX_PAGES)),
    list("clicks_elements", filter_params(f, page = as_pg_array(character(0)), limit = CLICKS_TOP_TABLE)),
    list("retention", filter_params(f, max_offset = 12)),
    list("trends_heatmap", p),
    list("trends_by_type", filter_params(f, grain = grain))
  )
}

dw_prewarm <- function(dw, f = default_filters()) {
  for (q in default_view_queries(f)) dw_query(dw, q[[1]], q[[2]])
  dw$warmed_for <- list(version = dw$version, day = f$end)
  invisible(dw)
}

# Re-warms when the warehouse version or the day changed; call it periodically.
dw_prewarm_if_stale <- function(dw, f = default_filters()) {
  if (dw$settings$cache_check_s <= 0) return(invisible(FALSE))
  version <- dw_version(dw)
  if (!identical(dw$warmed_for, list(version = version, day = f$end))) {
    dw_prewarm(dw, f)
    return(invisible(TRUE))
  }
  invisible(FALSE)
}
