# Data health: is the ETL running and keeping up, what did recent runs do, and which raw lines
# were rejected and why. Unfiltered except rejects by reason, which follow the date range.

health_ui <- function(id) {
  ns <- NS(id)
  tagList(
    uiOutput(ns("status")),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      chart_card("Events per ETL run", plotly::plotlyOutput(ns("runs_chart"), height = "320px")),
      chart_card("Rejected events by reason", plotly::plotlyOutput(ns("rejects_chart"), height = "320px"),
                 note = "in the date range")
    ),
    chart_card("Recent ETL runs", DT::DTOutput(ns("runs"))),
    chart_card("Recent rejected lines", DT::DTOutput(ns("rejects")))
  )
}

health_server <- function(id, dw, filters, refresh_ms = 5 * 60 * 1000) {
  moduleServer(id, function(input, output, session) {
    # The ETL runs every 30 minutes; re-reading its bookkeeping every 5 is plenty.
    tick <- reactiveTimer(refresh_ms)
    freshness <- reactive({
      tick()
      rows <- dw_query_safe(dw, "health_freshness")
      if (!nrow(rows)) return(list(status = "unknown", minutes_since_success = NA, data_lag_minutes = NA, row = rows,
                                   error = attr(rows, "error")))
      c(freshness_status(rows$last_success_at, rows$newest_event_at, rows$checked_at), list(row = rows))
    })
    runs <- reactive({
      tick()
      dw_query_safe(dw, "health_runs", list(limit = 50))
    })
    rejects_by_reason <- reactive({
      f <- filters()
      dw_query_safe(dw, "health_rejects_by_reason", list(start = as.Date(f$start), end = as.Date(f$end)))
    })
    recent_rejects <- reactive({
      tick()
      dw_query_safe(dw, "health_recent_rejects", list(limit = 100))
    })

    output$status <- renderUI({
      fr <- freshness()
      r <- fr$row
      val <- function(col) if (nrow(r) && col %in% names(r)) r[[col]][1] else NA
      color <- switch(fr$status, fresh = "success", late = "warning", stale = "danger", "secondary")
      boxes <- list(
        bslib::value_box("ETL status", fr$status, p(paste("last run:", val("last_status") %||% "none")),
                         theme_color = color, class = "health-status"),
        bslib::value_box("Since last successful run", format_minutes(fr$minutes_since_success),
                         p("runs every 30 min"), theme_color = "light"),
        bslib::value_box("Data lag", format_minutes(fr$data_lag_minutes), p("now − newest loaded event"),
                         theme_color = "light"),
        bslib::value_box("Runs in 24 h", format(num0(val("runs_24h"))),
                         p(sprintf("%d failed", as.integer(num0(val("failed_24h"))))),
                         theme_color = if (num0(val("failed_24h")) > 0) "warning" else "light"),
        bslib::value_box("Rejected in 24 h", format(num0(val("rejected_24h")), big.mark = ","),
                         p(sprintf("%s objects loaded", format(num0(val("objects_24h")), big.mark = ","))),
                         theme_color = "light"),
        bslib::value_box("Warehouse connection", if (isTRUE(as.logical(val("connection_tls")))) "TLS" else
                           if (!is.null(fr$error)) "error" else "not encrypted",
                         p(paste("sslmode", dw$settings$sslmode)), theme_color = "light")
      )
      do.call(bslib::layout_column_wrap, c(list(width = 1 / 6, fill = FALSE, class = "mb-3"), boxes))
    })
    output$runs_chart <- plotly::renderPlotly({
      d <- runs()
      if (!nrow(d)) return(empty_plot("No ETL runs yet", detail = empty_reason(d)))
      d <- d[order(d$run_id), , drop = FALSE]
      d$started_at <- as.POSIXct(d$started_at, tz = "UTC")
      p <- plotly::plot_ly(d, x = ~started_at)
      p <- plotly::add_bars(p, y = ~events_loaded, name = "loaded", marker = list(color = "#198754"))
      p <- plotly::add_bars(p, y = ~events_duplicate, name = "duplicate", marker = list(color = "#adb5bd"))
      p <- plotly::add_bars(p, y = ~events_rejected, name = "rejected", marker = list(color = "#dc3545"))
      finish_plot(p, barmode = "stack", xaxis = list(title = ""), yaxis = list(title = "events"))
    })
    output$rejects_chart <- plotly::renderPlotly({
      d <- rejects_by_reason()
      if (!nrow(d)) return(empty_plot("No rejected events", detail = empty_reason(d)))
      d$reason_code <- factor(d$reason_code, levels = rev(d$reason_code))
      p <- plotly::plot_ly(d, x = ~rejected, y = ~reason_code, type = "bar", orientation = "h",
                           marker = list(color = "#dc3545"))
      finish_plot(p, yaxis = list(title = ""), xaxis = list(title = "lines"), margin = list(l = 130, r = 20, t = 30, b = 50))
    })
    output$runs <- render_table({
      d <- runs()
      if (nrow(d)) {
        for (col in c("started_at", "finished_at", "newest_event_at")) {
          d[[col]] <- format(as.POSIXct(d[[col]], tz = "UTC"), "%Y-%m-%d %H:%M:%S")
        }
      }
      dw_table(d, int = c("run_id", "objects_loaded", "events_read", "events_loaded", "events_duplicate",
                          "events_rejected", "sessions_touched", "duration_ms"), empty = "No ETL runs yet")
    })
    output$rejects <- render_table({
      d <- recent_rejects()
      if (nrow(d)) d$rejected_at <- format(as.POSIXct(d$rejected_at, tz = "UTC"), "%Y-%m-%d %H:%M:%S")
      dw_table(d, empty = "No rejected events")
    })

    list(freshness = freshness, runs = runs, rejects_by_reason = rejects_by_reason, recent_rejects = recent_rejects)
  })
}
