# Checkout: the checkout steps begin_checkout -> add_shipping_info -> add_payment_info ->
# purchase (sessions per step, drop-off, step conversion) by channel or device; cart
# abandonment, abandoned cart value and removals from carts.

CHECKOUT_SEGMENTS <- c(Channel = "channel", Device = "device_type")

CHECKOUT_KPIS <- c(checkout_conversion = "Checkout conversion", cart_abandonment = "Cart abandonment",
                   abandoned_value = "Abandoned cart value", removals = "Removals from cart")

checkout_ui <- function(id) {
  ns <- NS(id)
  boxes <- lapply(names(CHECKOUT_KPIS), function(m) stat_box(ns, paste0("kpi_", m), CHECKOUT_KPIS[[m]],
                                                              paste0("kpi kpi-", m),
                                                              html = m %in% c("checkout_conversion", "cart_abandonment")))
  tagList(
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 4, fill = FALSE, class = "mb-3"), boxes)),
    fluidRow(
      column(5, dw_chart(ns, "steps_chart", "Checkout steps (sessions reaching each step)", uiOutput(ns("steps_note")))),
      column(7, dw_table_card(ns, "steps_table", "Drop-off per step",
                              note = "rates: of the sessions at the previous tracked step"))
    ),
    dw_chart(ns, "segment_chart", "Checkout by segment (share of sessions that began checkout)", height = "340px",
             selectInput(ns("segment"), "Break down by", choices = CHECKOUT_SEGMENTS, selected = "channel",
                         width = "240px")),
    dw_table_card(ns, "segment_table", "Checkout and carts by segment",
                  note = "step rates: of begin checkout; abandonment: of sessions with a cart")
  )
}

checkout_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    currency <- dw$settings$store_currency %||% "EUR"
    min_n <- dw$settings$min_rate_sessions %||% 30
    segment <- reactive(if (is.null(input$segment) || !input$segment %in% CHECKOUT_SEGMENTS) "channel" else input$segment)
    rows <- reactive(dw_query_safe(dw, "checkout_by_segment", filter_params(filters(), breakdown = segment())))
    totals <- reactive(checkout_totals(rows()))
    steps <- reactive(checkout_steps(totals()))
    carts <- reactive(cart_summary(totals()))
    segments <- reactive({
      st <- steps()
      structure(checkout_segment_table(rows(), stats::setNames(st$tracked, st$step)), error = attr(rows(), "error"))
    })

    output$kpi_checkout_conversion_value <- renderUI(rate_html(safe_ratio(totals()$purchase, totals()$begin_checkout),
                                                               totals()$begin_checkout, min_n))
    output$kpi_checkout_conversion_detail <- renderUI(p(class = "small text-muted mb-0", sprintf(
      "%s purchases of %s sessions that began checkout", format_count(totals()$purchase),
      format_count(totals()$begin_checkout))))
    output$kpi_cart_abandonment_value <- renderUI(rate_html(carts()$rate, carts()$cart_sessions, min_n))
    output$kpi_cart_abandonment_detail <- renderUI(p(class = "small text-muted mb-0", sprintf(
      "%s of %s sessions with a cart left it", format_count(carts()$abandoned), format_count(carts()$cart_sessions))))
    output$kpi_abandoned_value_value <- renderText(format_money(carts()$abandoned_value, currency))
    output$kpi_abandoned_value_detail <- renderUI(p(class = "small text-muted mb-0",
      "what abandoned carts held (added less removed)"))
    output$kpi_removals_value <- renderText(format_count(carts()$removals))
    output$kpi_removals_detail <- renderUI(p(class = "small text-muted mb-0", sprintf(
      "%s per session with a cart", if (is.na(carts()$removals_per_cart)) "\u2013" else
        formatC(carts()$removals_per_cart, format = "f", digits = 2))))

    output$steps_chart <- plotly::renderPlotly({
      st <- steps()
      if (!any(st$sessions > 0)) return(empty_plot(detail = empty_reason(rows())))
      st$text <- ifelse(st$tracked, sprintf("%s (%s of begin checkout)", format_count(st$sessions), format_share(st$from_first)),
                        "not tracked")
      st$label <- factor(st$label, levels = rev(st$label))
      p <- plotly::plot_ly(st, type = "bar", orientation = "h", y = ~label, x = ~sessions, text = ~text,
                           textposition = "auto", hoverinfo = "y+text",
                           marker = list(color = ifelse(st$tracked, "#0d6efd", "#adb5bd")))
      finish_plot(p, showlegend = FALSE, yaxis = list(title = ""), xaxis = list(title = "sessions"),
                  margin = list(l = 130, r = 20, t = 30, b = 50))
    })
    output$steps_note <- renderUI({
      st <- steps()
      untracked <- st$label[!st$tracked]
      if (!length(untracked)) return(NULL)
      p(class = "small text-muted mb-0 checkout-untracked",
        sprintf("Not tracked: %s (no session sent %s in this range); rates skip %s.",
                paste(untracked, collapse = ", "), if (length(untracked) == 1) "it" else "them",
                if (length(untracked) == 1) "it" else "them"))
    })
    steps_display <- reactive({
      st <- steps()
      data.frame(Step = ifelse(st$tracked, st$label, paste(st$label, "(not tracked)")),
                 Sessions = ifelse(st$tracked, st$sessions, NA), "From step" = ifelse(st$tracked, st$previous, NA),
                 "Step conversion" = st$from_previous, "Drop-off (sessions)" = st$drop_off,
                 "Drop-off rate" = st$drop_off_rate, "Of begin checkout" = st$from_first, check.names = FALSE)
    })
    # Rates from fewer than min_n sessions are greyed with their count, as on the other tabs.
    steps_format <- function(d) {
      from <- d$Sessions[match(d[["From step"]], d$Step)]  # sessions at the previous tracked step
      dw_table(d, int = c("Sessions", "Drop-off (sessions)"), min_n = min_n,
               rates = list("Step conversion" = list(n = from), "Drop-off rate" = list(n = from),
                            "Of begin checkout" = list(n = rep(d$Sessions[1], nrow(d)))))
    }
    serve_table(output, "steps_table", steps_display, filters, steps_format, "checkout_steps")
    serve_chart_data(output, "steps_chart", steps_display, filters, "checkout_steps", steps_format)
    output$segment_chart <- plotly::renderPlotly({
      s <- segments()
      if (!nrow(s) || sum(s$begin_checkout) == 0) return(empty_plot(detail = empty_reason(s)))
      s <- head(s[s$begin_checkout > 0, , drop = FALSE], 12)
      s$segment <- factor(display_name(s$segment), levels = display_name(s$segment))
      p <- plotly::plot_ly(s, x = ~segment)
      st <- steps()
      if (st$tracked[2]) p <- plotly::add_bars(p, y = ~shipping_rate, name = "Add shipping info")
      if (st$tracked[3]) p <- plotly::add_bars(p, y = ~payment_rate, name = "Add payment info")
      p <- plotly::add_bars(p, y = ~checkout_conversion, name = "Purchase")
      finish_plot(p, barmode = "group", xaxis = list(title = ""),
                  yaxis = list(title = "of sessions that began checkout", tickformat = ".0%"))
    })
    segment_display <- reactive({
      s <- segments()
      label <- names(CHECKOUT_SEGMENTS)[match(segment(), CHECKOUT_SEGMENTS)]
      out <- data.frame(display_name(s$segment), s$begin_checkout, s$add_shipping_info, s$shipping_rate, s$add_payment_info,
                        s$payment_rate, s$purchase, s$checkout_conversion, s$cart_sessions, s$abandoned_cart_sessions,
                        s$abandonment_rate, s$abandoned_cart_value, s$cart_removals)
      names(out) <- c(label, "Begin checkout", "Add shipping info", "Shipping rate", "Add payment info",
                      "Payment rate", "Purchase", "Checkout conversion", "Sessions with a cart", "Abandoned carts",
                      "Abandonment rate", "Abandoned cart value", "Removals from cart")
      out
    })
    segment_format <- function(d) {
      began <- d[["Begin checkout"]]
      money_table(d, money = names(d)[12], int = names(d)[c(2, 3, 5, 7, 9, 10, 13)], currency = currency, min_n = min_n,
                  rates = stats::setNames(list(list(n = began), list(n = began), list(n = began),
                                               list(n = d[["Sessions with a cart"]])), names(d)[c(4, 6, 8, 11)]))
    }
    serve_table(output, "segment_table", segment_display, filters, segment_format,
                function() paste0("checkout_by_", segment()))
    serve_chart_data(output, "segment_chart", segment_display, filters, function() paste0("checkout_by_", segment()),
                     segment_format)

    list(rows = rows, totals = totals, steps = steps, carts = carts, segments = segments, segment = segment)
  })
}
