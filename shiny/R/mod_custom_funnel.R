# Custom funnel: 2-6 steps picked from the contract's event types, in this order or in any
# order, within a conversion window, over sessions or visitors: units at each step, conversion
# and drop-off, and the time to convert. Computed in the warehouse from the sessions' event
# sequences (dw_custom_funnel); see docs/dashboards.md for the definitions.

custom_funnel_ui <- function(id) {
  ns <- NS(id)
  choices <- stats::setNames(CUSTOM_FUNNEL_EVENTS, display_name(CUSTOM_FUNNEL_EVENTS))
  tagList(
    bslib::card(
      bslib::card_header("Funnel steps", tags$small(class = "text-muted ms-2", "pick 2 to 6 event types, in the order of the funnel")),
      fluidRow(
        column(5, selectizeInput(ns("steps"), "Steps", choices = choices, selected = CUSTOM_FUNNEL_DEFAULT_STEPS,
                                 multiple = TRUE, width = "100%",
                                 options = list(maxItems = CUSTOM_FUNNEL_MAX_STEPS, plugins = list("remove_button")))),
        column(2, radioButtons(ns("order"), "Order", choices = c("In this order" = "ordered", "Any order" = "any"),
                               selected = "ordered")),
        column(3, div(class = "d-flex gap-2",
                      numericInput(ns("window_value"), "Conversion window", value = 1, min = 1, step = 1, width = "50%"),
                      selectInput(ns("window_unit"), "Unit", choices = c(Minutes = "minutes", Hours = "hours", Days = "days"),
                                  selected = "days", width = "50%"))),
        column(2, radioButtons(ns("unit"), "Count", choices = c(Sessions = "sessions", Visitors = "visitors"),
                               selected = "sessions"))
      ),
      uiOutput(ns("definition"))
    ),
    bslib::layout_column_wrap(
      width = 1 / 3, fill = FALSE, class = "mb-3",
      stat_box(ns, "kpi_conversion", "Conversion (step 1 to last step)", "kpi kpi-conversion", html = TRUE),
      stat_box(ns, "kpi_median", "Median time to convert", "kpi kpi-median"),
      stat_box(ns, "kpi_spread", "Time to convert, 75th / 90th percentile", "kpi kpi-spread")
    ),
    fluidRow(
      column(5, dw_chart(ns, "chart", "Custom funnel (units reaching each step)", note = "% of step 1")),
      column(7, chart_card("Conversion, drop-off and time per step", DT::DTOutput(ns("table")),
                           csv_button(ns, "table_csv"),
                           note = "rates: of step 1 and of the step before; times: from step 1"))
    )
  )
}

custom_funnel_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
    steps <- reactive(if (is.null(input$steps)) CUSTOM_FUNNEL_DEFAULT_STEPS else input$steps)
    any_order <- reactive(identical(input$order, "any"))
    by_visitor <- reactive(identical(input$unit, "visitors"))
    window_s <- reactive(window_seconds(input$window_value %||% 1, input$window_unit %||% "days"))
    unit <- reactive(custom_funnel_unit(by_visitor()))
    problem <- reactive({
      p <- custom_funnel_problem(steps())
      if (is.null(p) && is.na(window_s())) p <- "The conversion window is a positive number, at most 90 days."
      p
    })
    # Typing a window or picking steps one by one should not run a query per keystroke.
    request <- debounce(reactive(list(steps = steps(), any_order = any_order(), window_s = window_s(),
                                      by_visitor = by_visitor(), problem = problem())), 300)
    rows <- reactive({
      r <- request()
      if (!is.null(r$problem)) return(structure(data.frame(), error = NULL))
      dw_query_safe(dw, "custom_funnel", filter_params(filters(), steps = as_pg_array(r$steps), any_order = r$any_order,
                                                       window_s = r$window_s, by_visitor = r$by_visitor))
    })
    table <- reactive(custom_funnel_table(rows(), request()$steps))
    summary <- reactive(custom_funnel_summary(table()))

    output$definition <- renderUI({
      r <- request()
      if (!is.null(r$problem)) return(p(class = "text-danger mb-0 custom-funnel-problem", r$problem))
      p(class = "small text-muted mb-0 custom-funnel-definition",
        custom_funnel_definition(r$any_order, r$window_s, r$by_visitor))
    })
    output$kpi_conversion_value <- renderUI({
      s <- summary()
      span(class = if (low_n(s$started, min_n)) "low-n" else NULL, format_rate(s$rate, s$started, min_n, unit()))
    })
    output$kpi_conversion_detail <- renderUI(p(class = "small text-muted mb-0", sprintf(
      "%s of %s %s that did step 1", format_count(summary()$converted), format_count(summary()$started), unit())))
    output$kpi_median_value <- renderText(format_duration(summary()$median_s))
    output$kpi_median_detail <- renderUI(p(class = "small text-muted mb-0", sprintf(
      "from step 1 to the last step, of the %s %s that converted", format_count(summary()$converted), unit())))
    output$kpi_spread_value <- renderText(paste(format_duration(summary()$p75_s), "/", format_duration(summary()$p90_s)))
    output$kpi_spread_detail <- renderUI(p(class = "small text-muted mb-0", "75 % and 90 % converted within"))

    output$chart <- plotly::renderPlotly({
      t <- table()
      if (!nrow(t) || t$units[1] == 0) {
        return(empty_plot(detail = if (!is.null(request()$problem)) request()$problem else empty_reason(rows())))
      }
      t$text <- sprintf("%s (%s of step 1)", format_count(t$units), format_share(t$of_first))
      t$label <- factor(sprintf("%d. %s", t$step, t$label), levels = rev(sprintf("%d. %s", t$step, t$label)))
      p <- plotly::plot_ly(t, type = "bar", orientation = "h", y = ~label, x = ~units, text = ~text,
                           textposition = "auto", hoverinfo = "y+text", marker = list(color = "#0d6efd"))
      finish_plot(p, showlegend = FALSE, yaxis = list(title = ""), xaxis = list(title = unit()),
                  margin = list(l = 150, r = 20, t = 30, b = 50))
    })
    display <- reactive({
      t <- table()
      out <- data.frame(t$step, t$label, t$units, t$of_first, t$from_previous, t$drop_off, t$drop_off_rate,
                        format_duration(t$median_s), format_duration(t$p75_s), format_duration(t$p90_s))
      names(out) <- c("Step", "Event", paste0("Units (", unit(), ")"), "Of step 1", "Of the step before",
                      "Drop-off", "Drop-off rate", "Median time", "75th percentile", "90th percentile")
      out
    })
    table_format <- function(d) {
      t <- table()
      n_first <- rep(t$units[1], nrow(t))
      dw_table(d, int = names(d)[c(1, 3, 6)], min_n = min_n,
               rates = stats::setNames(list(list(n = n_first, unit = unit()), list(n = t$previous, unit = unit()),
                                            list(n = t$previous, unit = unit())), names(d)[c(4, 5, 7)]),
               na_text = "no units at the step before")
    }
    output$table <- render_table(table_format(display()))
    output$table_csv <- csv_handler("custom_funnel", display, filters)
    serve_chart_data(output, "chart", display, filters, "custom_funnel", table_format)

    list(rows = rows, table = table, summary = summary, request = request)
  })
}
