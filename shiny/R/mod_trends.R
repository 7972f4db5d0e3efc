# Trends: when people are active (the average per weekday x hour, UTC, over the complete hours of
# the range) and events by type over time, the current day or hour drawn as partial.

trends_ui <- function(id) {
  ns <- NS(id)
  tagList(
    dw_chart(ns, "heatmap", "Average events per hour, by weekday and hour (UTC)", height = "340px",
             note = paste("complete hours of the range only, each cell divided by how many such hours it",
                            "holds; not filtered by product category")),
    dw_chart(ns, "by_type", "Events by type", height = "380px")
  )
}

TREND_COLOURS <- c("#0d6efd", "#6610f2", "#d63384", "#fd7e14", "#198754", "#20c997", "#6c757d", "#0dcaf0")

trends_server <- function(id, dw, filters, now = function() Sys.time()) {
  moduleServer(id, function(input, output, session) {
    until <- reactive(heatmap_until(filters()$end, now()))
    heat_rows <- reactive(dw_query_safe(dw, "trends_heatmap", filter_params(filters(), until = until())))
    heat <- reactive(activity_heatmap_avg(heat_rows(), filters()$start, until()))
    grain <- reactive(grain_for_range(filters()$start, filters()$end))
    by_type <- reactive({
      rows <- dw_query_safe(dw, "trends_by_type", filter_params(filters(), grain = grain()))
      if (!nrow(rows)) return(rows)
      rows$t <- as.POSIXct(rows$t, tz = "UTC")
      structure(mark_partial(rows, grain(), now()), error = attr(rows, "error"))
    })

    output$heatmap <- plotly::renderPlotly({
      m <- heat()
      if (sum(m, na.rm = TRUE) == 0) return(empty_plot(detail = empty_reason(heat_rows())))
      hover <- matrix(sprintf("%s %s:00 UTC: %s events per hour on average", rep(rownames(m), 24),
                              rep(colnames(m), each = 7), ifelse(is.na(m), "–", formatC(m, format = "f", digits = 1))),
                      nrow = 7)
      p <- plotly::plot_ly(x = colnames(m), y = rownames(m), z = m, type = "heatmap", colorscale = "Blues",
                           reversescale = TRUE, text = hover, hoverinfo = "text",
                           colorbar = list(title = "avg events<br>per hour"))
      finish_plot(p, xaxis = list(title = "hour (UTC)", type = "category"),
                  yaxis = list(title = "", autorange = "reversed", type = "category"))
    })
    output$by_type <- plotly::renderPlotly({
      d <- by_type()
      if (!nrow(d)) return(empty_plot(detail = empty_reason(d)))
      types <- sort(unique(d$event_type))
      p <- plotly::plot_ly()
      for (k in seq_along(types)) {
        rows <- d[d$event_type == types[k], , drop = FALSE]
        colour <- TREND_COLOURS[(k - 1) %% length(TREND_COLOURS) + 1]
        p <- add_partial_lines(p, rows, "events", display_name(types[k]), colour, showlegend_partial = k == 1,
                               partial_name = paste(if (grain() == "day") "today" else "this hour", "(partial, so far)"))
      }
      band <- partial_band(d, grain())
      finish_plot(p, xaxis = list(title = ""), yaxis = list(title = paste("events per", grain()), rangemode = "tozero"),
                  shapes = band$shapes, annotations = band$annotations)
    })

    heat_display <- reactive({
      m <- heat()
      d <- data.frame(Weekday = rownames(m), check.names = FALSE)
      for (h in colnames(m)) d[[paste0(h, ":00")]] <- round(m[, h], 1)
      d
    })
    serve_chart_data(output, "heatmap", heat_display, filters, "events_per_weekday_hour",
                     function(d) dw_table(d, page_length = 7))
    by_type_display <- reactive({
      d <- by_type()
      out <- series_frame(d, c(Events = "events"), grain())
      if (nrow(d)) out <- data.frame(Time = out$Time, "Event type" = display_name(d$event_type), Events = out$Events,
                                     Partial = out$Partial, check.names = FALSE)
      out
    })
    serve_chart_data(output, "by_type", by_type_display, filters, "events_by_type",
                     function(d) dw_table(d, int = "Events"))

    list(heat = heat, by_type = by_type, grain = grain)
  })
}
