# The default view of every tab (the last 28 complete days with data, all values, no bots) is
# what most visits show. Its queries are run at start-up and again whenever an ETL run finishes
# or the UTC day changes, so the cache (see dw_query) already holds them when someone opens a
# tab. Other filter choices are computed on demand and then cached too.

# The default filters: the last 28 complete UTC days with data (default_date_range), no
# dimension filter, bots excluded. `range` is what data_range returned (first and last day
# with sessions before today); NULL or empty means no data.
default_filters <- function(today = utc_today(), range = NULL) {
  first <- if (!is.null(range) && nrow(range)) range$first_day[1] else NA
  last <- if (!is.null(range) && nrow(range)) range$last_day[1] else NA
  has_today <- !is.null(range) && nrow(range) && "has_today" %in% names(range) && isTRUE(range$has_today[1])
  r <- default_date_range(today, first, last, has_today = has_today)
  list(start = r$start, end = r$end, login_state = NULL, device_type = NULL, channel = NULL,
       product_category = NULL, include_bots = FALSE, range = r)
}

# The data's first and last complete day, as the filters and the prewarm ask for it.
dw_data_range <- function(dw, today = utc_today()) dw_query_safe(dw, "data_range", list(today = today))

dw_default_filters <- function(dw, today = utc_today()) default_filters(today, dw_data_range(dw, today))

# (query, parameters) exactly as the tab modules send them for the default view; the module
# tests check that nothing else is asked for.
default_view_queries <- function(f = default_filters(), today = utc_today(), now = Sys.time()) {
  grain <- grain_for_range(f$start, f$end)
  p <- filter_params(f)
  list(
    list("filter_categories", list()),
    list("data_range", list(today = today)),
    list("overview_kpis", overview_kpi_params(f, today)),
    list("overview_users", overview_kpi_params(f, today)),
    list(if (grain == "hour") "overview_trend_hour" else "overview_trend_day", p),
    list("funnel_by_segment", filter_params(f, breakdown = "channel")),
    list("revenue_currencies", p),
    list("revenue_daily", p),
    list("revenue_by_channel", p),
    list("attribution_credit", p),
    list("checkout_by_segment", filter_params(f, breakdown = "channel")),
    list("products", p),
    list("journey_transitions", p),
    list("journey_pages", p),
    list("journey_purchase_paths", filter_params(f, limit = 20)),
    list("clicks_pages", filter_params(f, limit = CLICKS_MAX_PAGES)),
    list("clicks_elements", filter_params(f, page = as_pg_array(character(0)), limit = CLICKS_TOP_TABLE)),
    list("retention", filter_params(f, max_offset = 12)),
    list("trends_heatmap", filter_params(f, until = heatmap_until(f$end, now))),
    list("trends_by_type", filter_params(f, grain = grain)),
    list("customers_daily", p),
    list("customers_new", p),
    list("search_totals", p),
    list("search_terms", filter_params(f, limit = SEARCH_TERM_LIMIT)),
    list("search_terms_no_view", filter_params(f, limit = SEARCH_TERM_LIMIT)),
    list("custom_funnel", filter_params(f, steps = as_pg_array(CUSTOM_FUNNEL_DEFAULT_STEPS), any_order = FALSE,
                                        window_s = window_seconds(1, "days"), by_visitor = FALSE))
  )
}

dw_prewarm <- function(dw, today = utc_today(), f = dw_default_filters(dw, today)) {
  for (q in default_view_queries(f, today)) dw_query(dw, q[[1]], q[[2]])
  dw$warmed_for <- list(version = dw$version, today = today, start = f$start, end = f$end)
  invisible(dw)
}

# Re-warms when the warehouse version, the UTC day or the default range changed; call it
# periodically.
dw_prewarm_if_stale <- function(dw, today = utc_today(), f = dw_default_filters(dw, today)) {
  if (dw$settings$cache_check_s <= 0) return(invisible(FALSE))
  version <- dw_version(dw)
  if (!identical(dw$warmed_for, list(version = version, today = today, start = f$start, end = f$end))) {
    dw_prewarm(dw, today, f)
    return(invisible(TRUE))
  }
  invisible(FALSE)
}
