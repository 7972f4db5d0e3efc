# Funnel: product view -> add to cart -> begin checkout -> purchase, conversion and drop-off per
# step, broken down by channel, device, category or login state. Every rate names its
# denominator; a rate from fewer than DW_MIN_RATE_SESSIONS sessions is greyed with its count.

BREAKDOWNS <- c(Channel = "channel", Device = "device_type", "Product category" = "product_category",
                "Login state" = "login_state")

funnel_ui <- function(id) {
  ns <- NS(id)
  tagList(
    compare_ui(ns),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      dw_chart(ns, "funnel", "Funnel (sessions reaching each step)", height = "360px",
               tagList(uiOutput(ns("conversion")), uiOutput(ns("revenue")), uiOutput(ns("abandonment"))),
               note = "% of sessions with a product view"),
      dw_table_card(ns, "steps", "Conversion and drop-off per step")
    ),
    dw_chart(ns, "breakdown_chart", "Step conversion by segment", height = "360px",
             selectInput(ns("breakdown"), "Break down by", choices = BREAKDOWNS, selected = "channel", width = "240px"),
             note = "each rate per session at the step before; pale bars: fewer sessions than the minimum"),
    dw_table_card(ns, "breakdown_table", "Funnel by segment")
  )
}

funnel_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
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
      st$step <- factor(display_name(st$step), levels = rev(display_name(FUNNEL_STEPS)))
      p <- plotly::plot_ly(st, type = "bar", orientation = "h", y = ~step, x = ~sessions, text = ~label,
                           textposition = "auto", hoverinfo = "y+text",
                           marker = list(color = c("#0d6efd", "#6610f2", "#d63384", "#198754")))
      finish_plot(p, yaxis = list(title = ""), xaxis = list(title = "sessions"),
                  margin = list(l = 110, r = 20, t = 30, b = 50))
    })
    output$conversion <- renderUI({
      st <- steps()
      views <- st$sessions[1]
      few <- low_n(views, min_n)
      p(class = paste("funnel-conversion mb-0", if (few) "low-n" else ""),
        paste0("Conversion per product-view session: ",
               format_rate(safe_div(st$sessions[4], views), views, min_n, "product-view sessions")))
    })
    output$revenue <- renderUI(p(class = "funnel-revenue mb-0", format_funnel_revenue(revenue())))
    output$abandonment <- renderUI({
      a <- abandonment()
      reason <- empty_reason(segment_rows())
      p(class = paste("cart-abandonment mb-0", if (is.na(a$rate)) "text-muted" else ""), format_abandonment(a),
        if (!is.null(reason)) tags$small(class = "d-block", reason))
    })
    steps_display <- reactive({
      st <- steps()
      st$step <- display_name(st$step)
      names(st) <- c("Step", "Sessions", "Per session at the step before", "Per product-view session", "Drop-off",
                     "Drop-off rate")
      st
    })
    steps_format <- function(st) {
      prev <- c(st$Sessions[1], utils::head(st$Sessions, -1))
      dw_table(st, int = c("Sessions", "Drop-off"), min_n = min_n,
               rates = list("Per session at the step before" = list(n = prev),
                            "Per product-view session" = list(n = rep(st$Sessions[1], nrow(st))),
                            "Drop-off rate" = list(n = prev)))
    }
    serve_table(output, "steps", steps_display, filters, steps_format, "funnel_steps")
    serve_chart_data(output, "funnel", steps_display, filters, "funnel_steps", steps_format)
    output$breakdown_chart <- plotly::renderPlotly({
      s <- segments()
      if (!nrow(s) || sum(s$view_item) == 0) return(empty_plot(detail = empty_reason(s)))
      s <- head(s, 12)
      s$segment <- display_name(s$segment)
      # An undefined rate (no sessions at the previous step) is drawn as no bar; one from fewer
      # sessions than the minimum is pale, and the hover gives its count.
      bars <- list(c("view_to_cart", "view_item", "product view → cart"),
                   c("cart_to_checkout", "add_to_cart", "cart → checkout"),
                   c("checkout_to_purchase", "begin_checkout", "checkout → purchase"),
                   c("view_to_purchase", "view_item", "product view → purchase"))
      p <- plotly::plot_ly()
      for (b in bars) {
        n <- num0(s[[b[2]]])
        hover <- sprintf("%s<br>%s: %s", plotly_text(s$segment), b[3], format_rate(s[[b[1]]], n, min_n))
        hover <- paste0(hover, ifelse(low_n(n, min_n), "", sprintf(" (%s sessions)", format(n, big.mark = ","))))
        p <- plotly::add_bars(p, x = s$segment, y = num0(s[[b[1]]]), name = b[3], text = hover, hoverinfo = "text",
                              textposition = "none", marker = list(opacity = ifelse(low_n(n, min_n), 0.35, 1)))
      }
      finish_plot(p, barmode = "group", xaxis = list(title = ""), yaxis = list(title = "", tickformat = ".0%"))
    })
    segment_display <- reactive({
      s <- segments()
      s$segment <- display_name(s$segment)
      names(s) <- c("Segment", "Sessions", "Product view", "Add to cart", "Begin checkout", "Purchase",
                    "Product view → cart", "Cart → checkout", "Checkout → purchase",
                    "Conversion per product-view session", "Conversion per session")
      s
    })
    segment_format <- function(s) {
      dw_table(s, int = names(s)[2:6], min_n = min_n, rates = list(
        "Product view → cart" = list(n = s[["Product view"]]), "Cart → checkout" = list(n = s[["Add to cart"]]),
        "Checkout → purchase" = list(n = s[["Begin checkout"]]),
        "Conversion per product-view session" = list(n = s[["Product view"]]),
        "Conversion per session" = list(n = s$Sessions)))
    }
    serve_table(output, "breakdown_table", segment_display, filters, segment_format,
                function() paste0("funnel_by_", breakdown()))
    serve_chart_data(output, "breakdown_chart", segment_display, filters, function() paste0("funnel_by_", breakdown()),
                     segment_format)

    comparison <- compare_server(input, output, filters, function(f) {
      s <- funnel_breakdown(dw_query_safe(dw, "funnel_by_segment", filter_params(f, breakdown = "channel")))
      funnel_compare_metrics(as.list(colSums(s[, c("sessions", FUNNEL_STEPS), drop = FALSE])))
    }, "funnel_a_vs_b", min_n)

    list(segments = segments, steps = steps, abandonment = abandonment, revenue = revenue, comparison = comparison)
  })
}
