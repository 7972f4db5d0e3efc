# Overview: sessions, users, conversion rate, revenue and bounce rate against the previous
# period of the same length, and their trend by hour or day.

KPI_LABELS <- c(sessions = "Sessions", users = "Users", conversion_rate = "Conversion rate",
                revenue = "Revenue", bounce_rate = "Bounce rate")

overview_ui <- function(id) {
  ns <- NS(id)
  boxes <- lapply(names(KPI_LABELS), function(m) stat_box(ns, paste0("kpi_", m), KPI_LABELS[[m]], paste0("kpi kpi-", m)))
  tagList(
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 5, fill = FALSE, class = "mb-3"), boxes)),
    chart_card("Sessions and purchases over time", plotly::plotlyOutput(ns("trend"), height = "380px"),
               radioButtons(ns("grain"), NULL, inline = TRUE,
                            choices = c(Auto = "auto", Hour = "hour", Day = "day"), selected = "auto"))
  )
}

overview_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    kpis <- reactive({
      f <- filters()
      prev <- previous_period(f$start, f$end)
      p <- filter_params(f, prev_start = prev$start)
      overview_kpis(dw_query_safe(dw, "overview_kpis", p), dw_query_safe(dw, "overview_users", p))
    })
    grain <- reactive({
      g <- input$grain
      if (is.null(g) || g == "auto") grain_for_range(filters()$start, filters()$end) else g
    })
    trend <- reactive({
      f <- filters()
      g <- grain()
      rows <- dw_query_safe(dw, if (g == "hour") "overview_trend_hour" else "overview_trend_day", filter_params(f))
      filled <- fill_time_series(rows, f$start, f$end, g, c("sessions", "purchase_sessions", "revenue"))
      structure(filled, error = attr(rows, "error"), has_data = nrow(rows) > 0)
    })

    lapply(names(KPI_LABELS), function(m) {
      row <- reactive({
        k <- kpis()
        k[k$metric == m, , drop = FALSE]
      })
      output[[paste0("kpi_", m, "_value")]] <- renderText(format_metric(m, row()$current))
      output[[paste0("kpi_", m, "_detail")]] <- renderUI({
        r <- row()
        # Up is good except for the bounce rate.
        good <- if (is.na(r$change)) NA else if (m == "bounce_rate") r$change <= 0 else r$change >= 0
        tagList(
          p(class = paste("kpi-change mb-0", if (is.na(good)) "text-muted" else if (good) "text-success" else "text-danger"),
            format_change(r$change)),
          p(class = "small text-muted mb-0", paste("previous:", format_metric(m, r$previous)))
        )
      })
    })

    output$trend <- plotly::renderPlotly({
      d <- trend()
      if (!isTRUE(attr(d, "has_data"))) return(empty_plot(detail = empty_reason(d)))
      p <- plotly::plot_ly(d, x = ~t)
      p <- plotly::add_lines(p, y = ~sessions, name = "Sessions", line = list(color = "#0d6efd"))
      p <- plotly::add_lines(p, y = ~purchase_sessions, name = "Sessions with a purchase", yaxis = "y2",
                             line = list(color = "#198754"))
      finish_plot(p, xaxis = list(title = ""), yaxis = list(title = "sessions", rangemode = "tozero"),
                  yaxis2 = list(title = "purchasing sessions", overlaying = "y", side = "right",
                                rangemode = "tozero", showgrid = FALSE))
    })

    list(kpis = kpis, trend = trend, grain = grain)
  })
}
