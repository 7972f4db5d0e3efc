# Clickstream dashboards. Run: R -e "shiny::runApp('shiny', host='127.0.0.1', port=3838)"
# Connection settings come from DW_PG_* environment variables (an .Renviron written by
# Ansible on the warehouse host); nothing secret lives in this directory.
# Shiny sources R/*.R (queries, calculations, one module per tab) before this file.

suppressPackageStartupMessages({
  library(shiny)
  library(bslib)
  library(plotly)
})
Sys.setenv(TZ = "UTC")
# Every browser session creates fresh module closures; R's JIT would byte-compile them on
# their first call, i.e. while a tab is rendering. Package code is compiled already.
compiler::enableJIT(0)

TABS <- list(
  list(title = "Overview", id = "overview", ui = overview_ui, server = overview_server),
  list(title = "Funnel", id = "funnel", ui = funnel_ui, server = funnel_server),
  list(title = "Revenue", id = "revenue", ui = revenue_ui, server = revenue_server),
  list(title = "Checkout", id = "checkout", ui = checkout_ui, server = checkout_server),
  list(title = "Custom funnel", id = "custom_funnel", ui = custom_funnel_ui, server = custom_funnel_server),
  list(title = "Products", id = "products", ui = products_ui, server = products_server),
  list(title = "User journeys", id = "journeys", ui = journeys_ui, server = journeys_server),
  list(title = "Clicks", id = "clicks", ui = clicks_ui, server = clicks_server),
  list(title = "Retention", id = "retention", ui = retention_ui, server = retention_server),
  list(title = "Customers", id = "customers", ui = customers_ui, server = customers_server),
  list(title = "Site search", id = "search", ui = search_ui, server = search_server),
  list(title = "Trends", id = "trends", ui = trends_ui, server = trends_server),
  list(title = "Data health", id = "health", ui = health_ui, server = health_server)
)

# One connection per R process, shared by every browser session.
DW <- dw_open()
onStop(function() dw_close(DW))

# Keep the default view of every tab in the cache: now, and after each ETL run or new UTC day.
# (Shiny serves requests from this same R thread, so this runs between them.)
keep_warm <- function() {
  tryCatch(dw_prewarm_if_stale(DW), error = function(e) message("prewarm failed: ", conditionMessage(e)))
  later::later(keep_warm, max(30, DW$settings$cache_check_s))
}
if (DW$settings$cache_check_s > 0) later::later(keep_warm, 0)

TAB_IDS <- vapply(TABS, `[[`, "", "id")

# Change colours (DELTA_COLOURS) and greyed low-count rates keep >= 4.5:1 contrast on white
# and on the value boxes' #f8f9fa.
APP_CSS <- paste0(
  ".dw-filters .form-group{margin-bottom:.25rem}",
  ".dw-range-caption{color:#495057;margin:0 0 .25rem .1rem}",
  ".kpi-value{font-size:1.6rem;font-weight:500;line-height:1.2}",
  # bslib's value boxes make every inner element inherit the box's colour (.value-box-area *).
  ".kpi-good,.bslib-value-box .value-box-area .kpi-good{color:", DELTA_COLOURS[["good"]], "}",
  ".kpi-bad,.bslib-value-box .value-box-area .kpi-bad{color:", DELTA_COLOURS[["bad"]], "}",
  ".kpi-neutral,.bslib-value-box .value-box-area .kpi-neutral,",
  ".bslib-value-box .value-box-area .kpi-previous{color:", DELTA_COLOURS[["neutral"]], "}",
  ".low-n,.rate-none,.bslib-value-box .value-box-area .low-n{color:", LOW_N_COLOUR, "}.kpi-value .low-n{font-size:1.1rem}"
)

# Each tab's panel opens with its name as a heading (h2; the app's name is the h1).
tab_panels <- function() {
  lapply(TABS, function(t) bslib::nav(t$title, value = t$id, div(
    class = "container-fluid py-3", tags$h2(class = "visually-hidden", t$title), t$ui(t$id))))
}
# The panels are the same for every page load, except when a shared link's inputs are being
# restored into them, so they are built once: building them took much of each page load.
TAB_PANELS <- NULL
cached_tab_panels <- function() {
  if (is.null(TAB_PANELS)) TAB_PANELS <<- tab_panels()
  TAB_PANELS
}

ui <- function(request) {
  # ?tab=<id> opens that tab directly (links from runbooks and alerts), as does a bookmarked
  # view's URL (share.R); the other tabs render only when opened.
  query <- parseQueryString(if (is.null(request$QUERY_STRING)) "" else request$QUERY_STRING)
  selected <- tab_from_query(query, TAB_IDS) %||% "overview"
  panels <- if ("_inputs_" %in% names(query)) tab_panels() else cached_tab_panels()
  do.call(bslib::page_navbar, c(
    list(title = tags$h1(class = "dw-app-title", "Clickstream"), id = "tab", selected = selected,
         theme = bslib::bs_theme(version = 5), lang = "en",
         header = tagList(tags$style(HTML(APP_CSS)), a11y_head(),
                          tags$section(`aria-label` = "Filters", filters_ui("filters", dw_default_filters(DW)),
                                       div(class = "container-fluid pb-1", share_control()))),
         window_title = "Clickstream dashboards"),
    panels
  ))
}

server <- function(input, output, session) {
  filters <- filters_server("filters", DW)
  for (t in TABS) t$server(t$id, DW, filters)
  share_server(input, session)
}

shinyApp(ui, server, enableBookmarking = "url")
