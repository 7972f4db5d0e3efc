# Overview: sessions, users, conversion rate, revenue and bounce rate against the previous
# period of the same length, and their trend by hour or day: sessions and purchasing sessions
# as two charts, each with its own single y-axis (two scales on one chart make 0–20 purchases
# look as large as 0–370 sessions). A range through today compares like for like: the previous
# period's last day up to today's time of day.

KPI_LABELS <- c(sessions = "Sessions", users = "Users", conversion_rate = "Conversion per session",
                revenue = "Revenue", bounce_rate = "Bounce rate (per session)")

overview_ui <- function(id) {
  ns <- NS(id)
  boxes <- lapply(names(KPI_LABELS), function(m) stat_box(ns, paste0("kpi_", m), KPI_LABELS[[m]], paste0("kpi kpi-", m),
                                                          html = m %in% RATE_METRICS))
  tagList(
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 5, fill = FALSE, class = "mb-3"), boxes)),
    compare_ui(ns),
    radioButtons(ns("grain"), "Time step", inline = TRUE, choices = c(Auto = "auto", Hour = "hour", Day = "day"),
                 selected = "auto"),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      dw_chart(ns, "trend_sessions", "Sessions"),
      dw_chart(ns, "trend_purchases", "Sessions with a purchase")
    )
  )
}

overview_server <- function(id, dw, filters, now = function() Sys.time()) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
    kpis <- reactive({
      f <- filters()
      p <- overview_kpi_params(f, as.Date(now(), tz = "UTC"))
      rows <- dw_query_safe(dw, "overview_kpis", p)
      structure(overview_kpis(rows, dw_query_safe(dw, "overview_users", p)),
                previous_cut_at = previous_cut_at(rows))
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
      structure(mark_partial(filled, g, now()), error = attr(rows, "error"), has_data = nrow(rows) > 0)
    })

    lapply(names(KPI_LABELS), function(m) {
      row <- reactive({
        k <- kpis()
        k[k$metric == m, , drop = FALSE]
      })
      sessions <- reactive({
        k <- kpis()
        k[k$metric == "sessions", c("current", "previous")]
      })
      output[[paste0("kpi_", m, "_value")]] <- if (m %in% RATE_METRICS) {
        renderUI({
          n <- sessions()$current
          span(class = if (low_n(n, min_n)) "low-n" else NULL,
               title = if (low_n(n, min_n)) sprintf("fewer than %s sessions: read with care", format(min_n)),
               format_rate(row()$current, n, min_n))
        })
      } else {
        renderText(format_metric(m, row()$current))
      }
      output[[paste0("kpi_", m, "_detail")]] <- renderUI({
        r <- row()
        d <- kpi_delta(m, r$current, r$previous)
        few <- m %in% RATE_METRICS && (low_n(sessions()$current, min_n) || low_n(sessions()$previous, min_n))
        previous <- if (m %in% RATE_METRICS) format_rate(r$previous, sessions()$previous, min_n) else
          format_metric(m, r$previous)
        tagList(
          p(class = paste0("kpi-change mb-0 kpi-", d$tone, if (few) " low-n" else ""), `data-direction` = d$direction,
            d$text),
          p(class = "small kpi-previous mb-0", paste0(previous_label(attr(kpis(), "previous_cut_at")), ": ", previous))
        )
      })
    })

    trend_plot <- function(y, name, color) {
      d <- trend()
      if (!isTRUE(attr(d, "has_data"))) return(empty_plot(detail = empty_reason(d)))
      band <- partial_band(d, grain())
      p <- add_partial_lines(plotly::plot_ly(), d, y, name, color)
      finish_plot(p, xaxis = list(title = ""), yaxis = list(title = paste(name, "per", grain()), rangemode = "tozero"),
                  shapes = band$shapes, annotations = band$annotations, showlegend = any(d$partial),
                  margin = list(l = 60, r = 20, t = 30, b = 40))
    }
    output$trend_sessions <- plotly::renderPlotly(trend_plot("sessions", "sessions", "#0d6efd"))
    output$trend_purchases <- plotly::renderPlotly(trend_plot("purchase_sessions", "sessions with a purchase",
                                                              "#198754"))

    trend_table <- function(col, label) reactive({
      d <- trend()
      series_frame(if (isTRUE(attr(d, "has_data"))) d else d[0, , drop = FALSE], stats::setNames(col, label), grain())
    })
    serve_chart_data(output, "trend_sessions", trend_table("sessions", "Sessions"), filters, "overview_sessions")
    serve_chart_data(output, "trend_purchases", trend_table("purchase_sessions", "Sessions with a purchase"), filters,
                     "overview_purchase_sessions")

    comparison <- compare_server(input, output, filters, function(f) {
      p <- overview_kpi_params(f, as.Date(now(), tz = "UTC"))
      overview_compare_metrics(overview_kpis(dw_query_safe(dw, "overview_kpis", p),
                                             dw_query_safe(dw, "overview_users", p)))
    }, "overview_a_vs_b", min_n, dw$settings$store_currency %||% "EUR")

    list(kpis = kpis, trend = trend, grain = grain, comparison = comparison)
  })
}
