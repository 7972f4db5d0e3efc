# Funnel: view_item -> add_to_cart -> begin_checkout -> purchase, conversion and drop-off per
# step, broken down by channel, device, category or login state.

BREAKDOWNS <- c(Channel = "channel", Device = "device_type", "Product category" = "product_category",
                "Login state" = "login_state")

funnel_ui <- function(id) {
  ns <- NS(id)
  tagList(
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      chart_card("Funnel (sessions reaching each step)", plotly::plotlyOutput(ns("funnel"), height = "360px"),
                 tagList(uiOutput(ns("revenue")), uiOutput(ns("abandonment")))),
      chart_card("Conversion and drop-off per step", DT::DTOutput(ns("steps")))
    ),
    chart_card("Step conversion by segment", plotly::plotlyOutput(ns("breakdown_chart"), height = "360px"),
               selectInput(ns("breakdown"), NULL, choices = BREAKDOWNS, selected = "channel", width = "240px")),
    chart_card("Funnel by segment", DT::DTOutput(ns("breakdown_table")))
  )
}

funnel_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    breakdown <- reactive(if (is.null(input$breakdown)) "channel" else input$breakdown)
    segment_rows <- reactive(dw_query_safe(dw, "funnel_by_segment", filter_params(filters(), breakdown = breakdown())))
    segments <- reactive({
      rows <- segment_rows()
      structure(funnel_breakdown(rows), error = attr(rows, "error"))
    })
    # Sessions are counted once in the funnel aggregate, so the segments' cart counts add up.
    abandonment <- reactive(cart_abandonment(segment_rows()))
    revenue <- reactive(funnel_revenue(segment_rows()))
    steps <- reactive({
      s <- segments()
      funnel_steps(as.list(colSums(s[, c("sessions", FUNNEL_STEPS), drop = FALSE])))
    })

    output$funnel <- plotly::renderPlotly({
      st <- steps()
      if (st$sessions[1] == 0) return(empty_plot(detail = empty_reason(segments())))
      # A funnel drawn as horizontal bars (plotly.js 1.31 has no funnel trace).
      st$label <- sprintf("%s (%.1f%%)", format(st$sessions, big.mark = ","), 100 * num0(st$conversion_from_first))
      st$step <- factor(st$step, levels = rev(FUNNEL_STEPS))
      p <- plotly::plot_ly(st, type = "bar", orientation = "h", y = ~step, x = ~sessions, text = ~label,
                           textposition = "auto", hoverinfo = "y+text",
                           marker = list(color = c("#0d6efd", "#6610f2", "#d63384", "#198754")))
      finish_plot(p, yaxis = list(title = ""), xaxis = list(title = "sessions"),
                  margin = list(l = 110, r = 20, t = 30, b = 50))
    })
    output$revenue <- renderUI(p(class = "funnel-revenue mb-0", format_funnel_revenue(revenue())))
    output$abandonment <- renderUI({
      a <- abandonment()
      reason <- empty_reason(segment_rows())
      p(class = paste("cart-abandonment mb-0", if (is.na(a$rate)) "text-muted" else ""), format_abandonment(a),
        if (!is.null(reason)) tags$small(class = "d-block", reason))
    })
    output$steps <- render_table({
      st <- steps()
      names(st) <- c("Step", "Sessions", "From previous", "From first", "Drop-off", "Drop-off rate")
      dw_table(st, pct = c("From previous", "From first", "Drop-off rate"), int = c("Sessions", "Drop-off"))
    })
    output$breakdown_chart <- plotly::renderPlotly({
      s <- segments()
      if (!nrow(s) || sum(s$view_item) == 0) return(empty_plot(detail = empty_reason(s)))
      s <- head(s, 12)
      # An undefined rate (no sessions at the previous step) is drawn as no bar.
      for (col in c("view_to_cart", "cart_to_checkout", "checkout_to_purchase", "view_to_purchase")) s[[col]] <- num0(s[[col]])
      p <- plotly::plot_ly(s, x = ~segment)
      p <- plotly::add_bars(p, y = ~view_to_cart, name = "view → cart")
      p <- plotly::add_bars(p, y = ~cart_to_checkout, name = "cart → checkout")
      p <- plotly::add_bars(p, y = ~checkout_to_purchase, name = "checkout → purchase")
      p <- plotly::add_bars(p, y = ~view_to_purchase, name = "view → purchase")
      finish_plot(p, barmode = "group", xaxis = list(title = ""), yaxis = list(title = "", tickformat = ".0%"))
    })
    output$breakdown_table <- render_table({
      s <- segments()
      names(s) <- c("Segment", "Sessions", "View item", "Add to cart", "Begin checkout", "Purchase",
                    "View → cart", "Cart → checkout", "Checkout → purchase", "View → purchase", "Session conversion")
      dw_table(s, pct = names(s)[7:11], int = names(s)[2:6])
    })

    list(segments = segments, steps = steps, abandonment = abandonment, revenue = revenue)
  })
}
