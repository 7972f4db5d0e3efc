# Retention: share of each first-visit week's visitors active again N weeks later.

retention_ui <- function(id) {
  ns <- NS(id)
  tagList(
    chart_card("Weekly retention by first-visit cohort", plotly::plotlyOutput(ns("heatmap"), height = "480px"),
               sliderInput(ns("max_offset"), "Weeks after first visit", min = 4, max = 26, value = 12,
                           width = "300px"),
               note = "cohorts whose first week falls in the date range; filtered by channel, device and bots only"),
    chart_card("Cohorts", DT::DTOutput(ns("table")))
  )
}

retention_server <- function(id, dw, filters, today = function() Sys.Date()) {
  moduleServer(id, function(input, output, session) {
    max_offset <- reactive(if (is.null(input$max_offset)) 12 else input$max_offset)
    rows <- reactive(dw_query_safe(dw, "retention", filter_params(filters(), max_offset = max_offset())))
    matrix_data <- reactive(retention_matrix(rows(), max_offset(), as_of = today()))

    output$heatmap <- plotly::renderPlotly({
      m <- matrix_data()
      if (!length(m$cohorts)) return(empty_plot(detail = empty_reason(rows())))
      x <- paste0("W", m$offsets)
      y <- paste0(m$cohorts, " (", format(m$size, big.mark = ",", trim = TRUE), ")")
      p <- plotly::plot_ly(x = x, y = y, z = m$rate, type = "heatmap", colorscale = "Blues", reversescale = TRUE,
                           zmin = 0, zmax = 1)
      # Cell labels as annotations (plotly.js 1.31 has no heatmap texttemplate).
      cells <- which(!is.na(m$rate), arr.ind = TRUE)
      notes <- if (nrow(cells) <= 400) lapply(seq_len(nrow(cells)), function(k) {
        v <- m$rate[cells[k, 1], cells[k, 2]]
        list(x = x[cells[k, 2]], y = y[cells[k, 1]], text = sprintf("%.0f%%", 100 * v), showarrow = FALSE,
             font = list(size = 10, color = if (v > 0.5) "white" else "black"))
      })
      finish_plot(p, margin = list(l = 130, r = 20, t = 50, b = 20), xaxis = list(title = "", side = "top"),
                  yaxis = list(title = "", autorange = "reversed", type = "category"), annotations = notes)
    })
    output$table <- render_table({
      m <- matrix_data()
      d <- data.frame(Cohort = m$cohorts, Visitors = m$size)
      for (j in seq_along(m$offsets)) d[[paste0("W", m$offsets[j])]] <- if (length(m$cohorts)) m$rate[, j] else numeric(0)
      dw_table(d, pct = paste0("W", m$offsets), int = "Visitors", page_length = 15)
    })

    list(rows = rows, matrix = matrix_data)
  })
}
