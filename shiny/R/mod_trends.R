# Trends: when people are active (weekday x hour, UTC) and events by type over time.

trends_ui <- function(id) {
  ns <- NS(id)
  tagList(
    chart_card("Activity by weekday and hour (UTC)", plotly::plotlyOutput(ns("heatmap"), height = "340px"),
               note = "not filtered by product category"),
    chart_card("Events by type", plotly::plotlyOutput(ns("by_type"), height = "380px"))
  )
}

trends_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    heat_rows <- reactive(dw_query_safe(dw, "trends_heatmap", filter_params(filters())))
    heat <- reactive(activity_heatmap(heat_rows()))
    grain <- reactive(grain_for_range(filters()$start, filters()$end))
    by_type <- reactive(dw_query_safe(dw, "trends_by_type", filter_params(filters(), grain = grain())))

    output$heatmap <- plotly::renderPlotly({
      m <- heat()
      if (sum(m) == 0) return(empty_plot(detail = empty_reason(heat_rows())))
      p <- plotly::plot_ly(x = colnames(m), y = rownames(m), z = m, type = "heatmap", colorscale = "Blues",
                           reversescale = TRUE)
      finish_plot(p, xaxis = list(title = "hour (UTC)", type = "category"),
                  yaxis = list(title = "", autorange = "reversed", type = "category"))
    })
    output$by_type <- plotly::renderPlotly({
      d <- by_type()
      if (!nrow(d)) return(empty_plot(detail = empty_reason(d)))
      d$t <- as.POSIXct(d$t, tz = "UTC")
      p <- plotly::plot_ly(d, x = ~t, y = ~events, color = ~event_type, type = "scatter", mode = "lines")
      finish_plot(p, xaxis = list(title = ""), yaxis = list(title = paste("events per", grain()), rangemode = "tozero"))
    })

    list(heat = heat, by_type = by_type, grain = grain)
  })
}
