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

TABS <- list(
  list(title = "Overview", id = "overview", ui = overview_ui, server = overview_server),
  list(title = "Funnel", id = "funnel", ui = funnel_ui, server = funnel_server),
  list(title = "Products", id = "products", ui = products_ui, server = products_server),
  list(title = "User journeys", id = "journeys", ui = journeys_ui, server = journeys_server),
  list(title = "Retention", id = "retention", ui = retention_ui, server = retention_server),
  list(title = "Trends", id = "trends", ui = trends_ui, server = trends_server),
  list(title = "Data health", id = "health", ui = health_ui, server = health_server)
)

# One connection per R process, shared by every browser session.
DW <- dw_open()
onStop(function() dw_close(DW))

ui <- function(request) {
  panels <- lapply(TABS, function(t) bslib::nav(t$title, value = t$id, div(class = "container-fluid py-3", t$ui(t$id))))
  do.call(bslib::page_navbar, c(
    list(title = "Clickstream", id = "tab", theme = bslib::bs_theme(version = 5),
         header = tagList(tags$style(HTML(".dw-filters .form-group{margin-bottom:.25rem}
                                           .value-box .value-box-value{font-size:1.6rem}")),
                          filters_ui("filters")),
         window_title = "Clickstream dashboards"),
    panels
  ))
}

server <- function(input, output, session) {
  filters <- filters_server("filters", DW)
  for (t in TABS) t$server(t$id, DW, filters)
  # ?tab=<id> opens a tab directly (links from runbooks and alerts).
  observe({
    query <- parseQueryString(session$clientData$url_search)
    if (!is.null(query$tab) && query$tab %in% vapply(TABS, `[[`, "", "id")) {
      bslib::nav_select("tab", query$tab, session = session)
    }
  }) |> bindEvent(session$clientData$url_search, once = TRUE)
}

shinyApp(ui, server)
