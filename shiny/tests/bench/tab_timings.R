# Server-side timings of every tab, for bench/bench_shiny.py: runs each tab's module with
# shiny::testServer against the warehouse named by DW_PG_* (default filters: the last 28 complete
# days with data, bots excluded, as the app computes them), renders all its outputs, and records each query's time and the whole render.
# Usage: Rscript shiny/tests/bench/tab_timings.R ITERATIONS [TABS]  -> JSON on stdout
suppressPackageStartupMessages({
  library(shiny)
})
Sys.setenv(TZ = "UTC")
args <- commandArgs(trailingOnly = TRUE)
iterations <- if (length(args)) as.integer(args[1]) else 20L
app_dir <- normalizePath(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))), "..", ".."))
for (f in sort(list.files(file.path(app_dir, "R"), pattern = "\\.R$", full.names = TRUE))) source(f)

OUTPUTS <- list(
  overview = c("kpi_sessions_value", "kpi_sessions_detail", "kpi_users_value", "kpi_conversion_rate_value",
               "trend_sessions", "trend_purchases"),
  funnel = c("funnel", "abandonment", "steps", "breakdown_chart", "breakdown_table"),
  products = c("top_products", "categories", "brands", "table"),
  journeys = c("sankey", "sankey_note", "purchase_paths", "landing", "exit"),
  clicks = c("page_picker", "chart", "table"),
  retention = c("heatmap", "table"),
  trends = c("heatmap", "by_type"),
  health = c("status_value", "status_detail", "connection_value", "runs_chart", "rejects_chart", "runs", "rejects"),
  revenue = c("kpi_revenue_value", "revenue_chart", "orders_chart", "aov_chart", "rps_chart", "table",
              "attribution_chart", "attribution_table"),
  checkout = c("kpi_cart_abandonment_value", "steps_chart", "steps_table", "segment_chart", "segment_table"),
  customers = c("kpi_new_share_value", "kpi_repeat_rate_value", "sessions_chart", "time_chart", "segments_table",
                "time_table"),
  search = c("kpi_searches_value", "kpi_conversion_value", "terms_chart", "terms_table", "no_view_table"),
  custom_funnel = c("kpi_conversion_value", "kpi_median_value", "chart", "table")
)
SERVERS <- list(overview = overview_server, funnel = funnel_server, products = products_server,
                journeys = journeys_server, clicks = clicks_server, retention = retention_server, trends = trends_server,
                health = health_server, revenue = revenue_server, checkout = checkout_server,
                customers = customers_server, search = search_server,
                custom_funnel = custom_funnel_server)

dw <- dw_open()
dw$record_timings <- TRUE
invisible(dw_query(dw, "filter_categories"))  # connect outside the timings
filters <- reactiveVal(dw_default_filters(dw))
floor_ms <- vapply(seq_len(iterations), function(i) {
  t0 <- proc.time()[["elapsed"]]
  dw_run(dw, "SELECT 1", list())
  (proc.time()[["elapsed"]] - t0) * 1000
}, numeric(1))
dw$timings <- dw$timings[0, ]
# The default range's query (data_range), which every page load runs for the filters.
for (i in seq_len(iterations)) invisible(dw_data_range(dw))
default_range_ms <- dw$timings$ms
dw$timings <- dw$timings[0, ]

result <- list(floor_ms = floor_ms, default_range_ms = default_range_ms, tabs = list())
# Optional second argument: the tabs to time, comma-separated (default: all).
only <- if (length(args) > 1 && nzchar(args[2])) strsplit(args[2], ",", fixed = TRUE)[[1]] else names(SERVERS)
for (tab in intersect(names(SERVERS), only)) {
  render_ms <- numeric(0)
  queries <- list()
  for (i in seq_len(iterations)) {
    dw$timings <- dw$timings[0, ]
    t0 <- proc.time()[["elapsed"]]
    testServer(SERVERS[[tab]], args = list(dw = dw, filters = filters), {
      session$flushReact()
      for (o in OUTPUTS[[tab]]) invisible(output[[o]])
    })
    render_ms <- c(render_ms, (proc.time()[["elapsed"]] - t0) * 1000)
    for (k in seq_len(nrow(dw$timings))) {
      q <- dw$timings$query[k]
      queries[[q]] <- c(queries[[q]], dw$timings$ms[k])
    }
  }
  result$tabs[[tab]] <- list(server_render_ms = render_ms, queries = queries)
}
dw_close(dw)
cat(jsonlite::toJSON(result, auto_unbox = FALSE, digits = 6))
