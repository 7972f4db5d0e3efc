# Clicks: the most clicked elements, on every page or on one, from agg_daily_element_clicks
# (no product category there, so that filter does not apply).

CLICKS_TOP_TABLE <- 20
CLICKS_TOP_CHART <- 10
CLICKS_MAX_PAGES <- 500  # pages offered in the selector, by clicks

clicks_ui <- function(id) {
  ns <- NS(id)
  tagList(
    # Rendered with the page list, so it costs nothing until the tab is opened.
    uiOutput(ns("page_picker")),
    dw_chart(ns, "chart", "Most clicked elements (top 10)", height = "400px",
             note = "not filtered by product category"),
    dw_table_card(ns, "table", "Most clicked elements (top 20)", note = "share: of all clicks on the element's page")
  )
}

clicks_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    pages <- reactive(dw_query_safe(dw, "clicks_pages", filter_params(filters(), limit = CLICKS_MAX_PAGES)))
    # The chosen pages (none: every page); set only when the choice changes.
    page <- reactiveVal(character(0))
    observeEvent(input$page, page(selected_pages(input$page)))
    rows <- reactive(dw_query_safe(dw, "clicks_elements",
                                   filter_params(filters(), page = as_pg_array(page()), limit = CLICKS_TOP_TABLE)))
    top <- reactive(element_clicks_table(rows(), CLICKS_TOP_TABLE))

    output$page_picker <- renderUI({
      choices <- page_choices(pages())
      current <- isolate(input$page)
      # A page that has no clicks under new filters keeps its place, so the choice survives.
      if (!is.null(current) && !current %in% choices && startsWith(current, "page:")) {
        choices <- c(choices, stats::setNames(current, paste(substring(current, 6), "(no clicks)")))
      }
      selectizeInput(session$ns("page"), "Page", choices = choices, width = "460px",
                     selected = if (is.null(current)) ALL_PAGES else current)
    })

    output$chart <- plotly::renderPlotly({
      t <- head(top(), CLICKS_TOP_CHART)
      if (!nrow(t)) return(empty_plot(detail = empty_reason(rows())))
      axis <- short_label(t$label, 40)
      if (!length(page())) axis <- paste0(axis, "  ·  ", short_label(t$page, 30))
      hover <- sprintf("%s<br>page %s · tag %s<br>%s clicks, %.1f%% of the page's clicks", plotly_text(t$label),
                       plotly_text(t$page), plotly_text(ifelse(nzchar(t$tag), t$tag, "–")),
                       formatC(t$clicks, format = "d", big.mark = ","), 100 * num0(t$share))
      p <- plotly::plot_ly(t, x = ~clicks, y = ~rank, type = "bar", orientation = "h", text = hover,
                           hoverinfo = "text", textposition = "none", marker = list(color = "#0d6efd"))
      # Ranks on the axis, named by ticktext: two elements may share a label.
      finish_plot(p, margin = list(l = min(480, 24 + 6.5 * max(nchar(axis))), r = 20, t = 30, b = 50),
                  xaxis = list(title = "clicks"),
                  yaxis = list(title = "", autorange = "reversed", tickmode = "array", tickvals = t$rank,
                               ticktext = plotly_text(axis)))
    })
    top_display <- function(n) reactive({
      d <- head(top(), n)[, c("rank", "page", "label", "tag", "clicks", "share")]
      names(d) <- c("#", "Page", "Element", "Tag", "Clicks", "Share of page's clicks")
      d
    })
    clicks_format <- function(d) dw_table(d, pct = "Share of page's clicks", int = "Clicks", page_length = CLICKS_TOP_TABLE)
    serve_table(output, "table", top_display(CLICKS_TOP_TABLE), filters, clicks_format, "clicked_elements")
    serve_chart_data(output, "chart", top_display(CLICKS_TOP_CHART), filters, "clicked_elements_top10", clicks_format)

    list(pages = pages, page = page, rows = rows, top = top)
  })
}
