# Retention: share of each first-visit week's visitors active again N weeks later. A cell whose
# week has not ended, or ends after the data's last day, cannot be observed yet: it is left blank
# and says so, rather than drawn as 0 %.

retention_ui <- function(id) {
  ns <- NS(id)
  tagList(
    dw_chart(ns, "heatmap", "Weekly retention by first-visit cohort", height = "480px",
               sliderInput(ns("max_offset"), "Weeks after first visit", min = 4, max = 26, value = 12,
                           width = "300px"),
               textOutput(ns("observable_note"), container = tags$small),
               note = paste("% of the cohort's visitors active again; cohorts whose first week falls in the date",
                            "range; filtered by channel, device and bots only")),
    dw_table_card(ns, "table", "Cohorts")
  )
}

retention_server <- function(id, dw, filters, today = function() utc_today()) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
    max_offset <- reactive(if (is.null(input$max_offset)) 12 else input$max_offset)
    rows <- reactive(dw_query_safe(dw, "retention", filter_params(filters(), max_offset = max_offset())))
    observed_until <- reactive({
      range <- dw_data_range(dw, today())
      retention_observed_until(today(), if (nrow(range)) range$last_day[1] else NA)
    })
    matrix_data <- reactive(retention_matrix(rows(), max_offset(), observed_until()))

    output$observable_note <- renderText(sprintf(paste(
      "Blank cells: not yet observable (the week is not over, or ends after the data's last complete day, %s).",
      "Cohorts under %s visitors are greyed in the table."), format(observed_until(), "%Y-%m-%d"), format(min_n)))

    output$heatmap <- plotly::renderPlotly({
      m <- matrix_data()
      if (!length(m$cohorts)) return(empty_plot(detail = empty_reason(rows())))
      if (!any(m$observable)) {
        return(empty_plot("No cohort week is over yet", detail = "cells are not yet observable"))
      }
      x <- paste0("W", m$offsets)
      y <- paste0(m$cohorts, " (", format(m$size, big.mark = ",", trim = TRUE), ")")
      # Week 0 is 100 % by definition; the colours span the later weeks so that their differences show.
      later <- m$rate[, -1, drop = FALSE]
      zmax <- max(c(0.05, later[!is.na(later)]))
      hover <- matrix(ifelse(m$observable, sprintf("cohort %s, week %s: %s active again", rep(m$cohorts, length(x)),
                                                   rep(m$offsets, each = length(m$cohorts)),
                                                   ifelse(is.na(m$rate), "–", sprintf("%.1f%%", 100 * m$rate))),
                             "not yet observable"), nrow = length(m$cohorts))
      p <- plotly::plot_ly(x = x, y = y, z = m$rate, type = "heatmap", colorscale = "Blues", reversescale = TRUE,
                           zmin = 0, zmax = zmax, text = hover, hoverinfo = "text",
                           colorbar = list(tickformat = ".0%", title = "active"))
      # Cell labels as annotations (plotly.js 1.31 has no heatmap texttemplate).
      cells <- which(!is.na(m$rate), arr.ind = TRUE)
      notes <- if (nrow(cells) <= 400) lapply(seq_len(nrow(cells)), function(k) {
        v <- m$rate[cells[k, 1], cells[k, 2]]
        list(x = x[cells[k, 2]], y = y[cells[k, 1]], text = sprintf("%.0f%%", 100 * v), showarrow = FALSE,
             font = list(size = 10, color = if (v > zmax / 2) "white" else "black"))
      })
      finish_plot(p, margin = list(l = 130, r = 20, t = 50, b = 20), xaxis = list(title = "", side = "top"),
                  yaxis = list(title = "", autorange = "reversed", type = "category"), annotations = notes)
    })
    cohorts <- reactive({
      m <- matrix_data()
      d <- data.frame(Cohort = m$cohorts, Visitors = m$size, check.names = FALSE)
      for (j in seq_along(m$offsets)) d[[paste0("Week ", m$offsets[j])]] <- if (length(m$cohorts)) m$rate[, j] else numeric(0)
      d
    })
    cohort_format <- function(d) {
      weeks <- grep("^Week ", names(d), value = TRUE)
      rates <- stats::setNames(lapply(weeks, function(w) list(n = d$Visitors, unit = "visitors")), weeks)
      dw_table(d, int = "Visitors", page_length = 15, rates = rates, min_n = min_n, na_text = "not yet observable")
    }
    serve_table(output, "table", cohorts, filters, cohort_format, "retention_cohorts")
    serve_chart_data(output, "heatmap", cohorts, filters, "retention_cohorts", cohort_format)

    list(rows = rows, matrix = matrix_data, observed_until = observed_until)
  })
}
