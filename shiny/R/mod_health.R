# Data health: is the ETL running and keeping up, what did recent runs do, which raw lines
# were rejected and why, and which raw objects could not be loaded at all (archived, deleted or
# rewritten while a run read them, or not decodable). Unfiltered except rejects by reason,
# which follow the date range. Everything comes from the health views (sql/dw/history/0033).

# A byte count for people: 1.2 MB, 340 B.
format_bytes <- function(x) {
  units <- c("kB", "MB", "GB", "TB")
  vapply(as.numeric(x), function(v) {
    if (is.na(v)) return(NA_character_)
    if (v < 1000) return(sprintf("%d B", as.integer(v)))
    i <- 1
    v <- v / 1000
    while (v >= 1000 && i < length(units)) {
      v <- v / 1000
      i <- i + 1
    }
    sprintf("%.1f %s", v, units[i])
  }, character(1))
}

health_ui <- function(id) {
  ns <- NS(id)
  boxes <- list(
    stat_box(ns, "status", "ETL status", "health-status"),
    stat_box(ns, "since_success", "Since last successful run"),
    stat_box(ns, "lag", "Data lag"),
    stat_box(ns, "runs", "Runs in 24 h"),
    stat_box(ns, "rejected", "Rejected in 24 h"),
    stat_box(ns, "connection", "Warehouse connection")
  )
  tagList(
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 6, fill = FALSE, class = "mb-3"), boxes)),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      dw_chart(ns, "runs_chart", "Events per ETL run"),
      dw_chart(ns, "rejects_chart", "Rejected events by reason", note = "in the date range")
    ),
    dw_table_card(ns, "runs", "Recent ETL runs"),
    dw_table_card(ns, "skipped", "Raw objects not loaded", note = "skipped ones are read again when restored or rewritten"),
    dw_table_card(ns, "rejects", "Recent rejected lines")
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
    skipped_objects <- reactive({
      tick()
      dw_query_safe(dw, "health_skipped_objects", list(limit = 100))
    })

    row_value <- function(col) {
      r <- freshness()$row
      if (nrow(r) && col %in% names(r)) r[[col]][1] else NA
    }
    detail <- function(text, class = "small text-muted mb-0") renderUI(p(class = class, text))
    output$status_value <- renderText(freshness()$status)
    output$status_detail <- renderUI({
      color <- switch(freshness()$status, fresh = "success", late = "warning", stale = "danger", "secondary")
      p(class = "small mb-0", span(class = paste0("badge bg-", color), freshness()$status),
        paste(" last run:", row_value("last_status") %||% "none"))
    })
    output$since_success_value <- renderText(format_minutes(freshness()$minutes_since_success))
    output$since_success_detail <- detail("runs every 30 min")
    output$lag_value <- renderText(format_minutes(freshness()$data_lag_minutes))
    output$lag_detail <- detail("now − newest loaded event")
    output$runs_value <- renderText(format(num0(row_value("runs_24h"))))
    output$runs_detail <- renderUI({
      failed <- as.integer(num0(row_value("failed_24h")))
      p(class = paste("small mb-0", if (failed > 0) "text-danger" else "text-muted"), sprintf("%d failed", failed))
    })
    output$rejected_value <- renderText(format(num0(row_value("rejected_24h")), big.mark = ","))
    output$rejected_detail <- renderUI({
      loaded <- sprintf("%s objects loaded", format(num0(row_value("objects_24h")), big.mark = ","))
      not_loaded <- as.integer(num0(row_value("objects_not_loaded")))
      if (not_loaded > 0) {
        p(class = "small mb-0 text-warning", sprintf("%s; %s not loadable", loaded, format(not_loaded, big.mark = ",")))
      } else {
        p(class = "small text-muted mb-0", loaded)
      }
    })
    output$connection_value <- renderText({
      if (isTRUE(as.logical(row_value("connection_tls")))) "TLS" else if (!is.null(freshness()$error)) "error" else
        "not encrypted"
    })
    output$connection_detail <- detail(paste("sslmode", dw$settings$sslmode))

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
    runs_display <- reactive({
      d <- runs()
      if (nrow(d)) {
        for (col in c("started_at", "finished_at", "newest_event_at")) {
          d[[col]] <- format(as.POSIXct(d[[col]], tz = "UTC"), "%Y-%m-%d %H:%M:%S")
        }
      }
      d
    })
    runs_format <- function(d) {
      dw_table(d, int = c("run_id", "objects_loaded", "objects_skipped", "events_read", "events_loaded",
                          "events_duplicate", "events_rejected", "sessions_touched", "duration_ms"),
               empty = "No ETL runs yet")
    }
    # The CSV keeps the raw column names (as the table's headers before display names).
    serve_table(output, "runs", runs_display, filters, runs_format, "etl_runs")
    serve_chart_data(output, "runs_chart", reactive({
      d <- runs_display()
      d[, intersect(c("run_id", "started_at", "events_loaded", "events_duplicate", "events_rejected"), names(d)),
        drop = FALSE]
    }), filters, "etl_run_events", runs_format)
    serve_chart_data(output, "rejects_chart", rejects_by_reason, filters, "rejects_by_reason",
                     function(d) dw_table(d, int = "rejected", empty = "No rejected events"))
    rejects_display <- reactive({
      d <- recent_rejects()
      if (nrow(d)) d$rejected_at <- format(as.POSIXct(d$rejected_at, tz = "UTC"), "%Y-%m-%d %H:%M:%S")
      d
    })
    serve_table(output, "rejects", rejects_display, filters, function(d) dw_table(d, empty = "No rejected events"),
                "rejected_lines")

    skipped_display <- reactive({
      d <- skipped_objects()
      if (nrow(d)) {
        for (col in c("failed_at", "retry_after")) d[[col]] <- format(as.POSIXct(d[[col]], tz = "UTC"), "%Y-%m-%d %H:%M:%S")
        d$size <- format_bytes(d$size_bytes)
        d <- d[, c("failed_at", "object_key", "status", "reason", "size", "storage_class", "attempts", "retry_after",
                   "detail")]
      }
      d
    })
    serve_table(output, "skipped", skipped_display, filters,
                function(d) dw_table(d, int = "attempts", empty = "Every raw object read was loaded"), "objects_not_loaded")

    list(freshness = freshness, runs = runs, rejects_by_reason = rejects_by_reason, recent_rejects = recent_rejects,
         skipped_objects = skipped_objects)
  })
}
