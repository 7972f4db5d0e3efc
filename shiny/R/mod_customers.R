# Customers: new vs returning visitors (sessions, conversion, revenue) over the range; new
# customers of the range, how many of them bought again (repeat purchase rate), and the time
# from their first visit to their first purchase.

CUSTOMER_KPIS <- c(new_share = "First visits", conversion_new = "Conversion, new visitors",
                   conversion_returning = "Conversion, returning visitors", repeat_rate = "Repeat purchase rate",
                   median_time = "Median time to first purchase")

CUSTOMERS_NOTE <- paste(
  "New visitor: the session is the visitor's first (a visitor is joined across devices once they log in);",
  "every later session is returning. New customers: visitors whose first purchase fell in the date range;",
  "they are filtered by their first session's channel and device (and bots); login state and product",
  "category do not apply to them. Their orders count up to today, also after the range."
)

# A rate shown in a KPI: greyed with its count below the minimum.
rate_span <- function(rate, n, min_n, unit = "sessions") {
  few <- low_n(n, min_n)
  span(class = if (few) "low-n" else NULL,
       title = if (few) sprintf("fewer than %s %s: read with care", format(min_n), unit),
       format_rate(rate, n, min_n, unit))
}

# dw_table with low-count rates (`rates`) and amounts in the store's currency.
rate_money_table <- function(df, money = character(0), pct = character(0), int = character(0), rates = list(),
                             min_n = 30, currency = "EUR", page_length = 10) {
  dt <- dw_table(df, pct = pct, int = int, rates = rates, min_n = min_n, page_length = page_length)
  money <- intersect(money, names(df))
  if (length(money)) dt <- DT::formatCurrency(dt, money, currency = paste0(currency, " "), digits = 2)
  dt
}

customers_ui <- function(id) {
  ns <- NS(id)
  boxes <- lapply(names(CUSTOMER_KPIS), function(m) stat_box(ns, paste0("kpi_", m), CUSTOMER_KPIS[[m]],
                                                              paste0("kpi kpi-", m), html = TRUE))
  tagList(
    p(class = "small text-muted mb-2 customers-note", CUSTOMERS_NOTE),
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 5, fill = FALSE, class = "mb-3"), boxes)),
    fluidRow(
      column(6, dw_chart(ns, "sessions_chart", "Sessions per day: new and returning visitors", height = "300px")),
      column(6, dw_chart(ns, "time_chart", "Time from first visit to first purchase (new customers)", height = "300px"))
    ),
    chart_card("New and returning visitors", DT::DTOutput(ns("segments_table")), csv_button(ns, "segments_csv"),
               note = "conversion: sessions with a purchase / sessions of the row; shares: of all sessions, of all revenue"),
    chart_card("Time to first purchase", DT::DTOutput(ns("time_table")), csv_button(ns, "time_csv"),
               note = "shares: of the new customers of the range; time from the start of their first visit")
  )
}

customers_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    currency <- dw$settings$store_currency %||% "EUR"
    min_n <- dw$settings$min_rate_sessions %||% 30
    params <- reactive(filter_params(filters()))
    daily_rows <- reactive(dw_query_safe(dw, "customers_daily", params()))
    daily <- reactive({
      f <- filters()
      rows <- daily_rows()
      structure(customers_daily_series(rows, f$start, f$end), error = attr(rows, "error"), has_data = nrow(rows) > 0)
    })
    segments <- reactive(new_vs_returning(daily_rows()))
    new_rows <- reactive(dw_query_safe(dw, "customers_new", params()))
    times <- reactive(structure(time_to_purchase_table(new_rows()), error = attr(new_rows(), "error")))
    customers <- reactive(new_customer_summary(new_rows()))

    detail <- function(...) p(class = "small text-muted mb-0", sprintf(...))
    output$kpi_new_share_value <- renderUI(span(format_share(segments()$session_share[1])))
    output$kpi_new_share_detail <- renderUI({
      s <- segments()
      detail("%s of %s sessions were a visitor's first", format_count(s$sessions[1]), format_count(sum(s$sessions)))
    })
    for (i in 1:2) local({
      k <- i
      m <- c("conversion_new", "conversion_returning")[k]
      output[[paste0("kpi_", m, "_value")]] <- renderUI({
        s <- segments()
        rate_span(s$conversion_rate[k], s$sessions[k], min_n)
      })
      output[[paste0("kpi_", m, "_detail")]] <- renderUI({
        s <- segments()
        detail("%s with a purchase of %s %s sessions; revenue %s", format_count(s$purchase_sessions[k]),
               format_count(s$sessions[k]), c("first-visit", "returning")[k], format_money(s$revenue[k], currency))
      })
    })
    output$kpi_repeat_rate_value <- renderUI({
      cs <- customers()
      rate_span(cs$repeat_rate, cs$customers, min_n, "customers")
    })
    output$kpi_repeat_rate_detail <- renderUI({
      cs <- customers()
      detail("%s of %s new customers have ordered twice or more", format_count(cs$repeat_customers),
             format_count(cs$customers))
    })
    output$kpi_median_time_value <- renderUI({
      b <- median_time_bucket(times())
      span(if (is.na(b)) "\u2013" else b)
    })
    output$kpi_median_time_detail <- renderUI(detail("of %s new customers (visitors whose first purchase was in the range)",
                                                     format_count(customers()$customers)))

    output$sessions_chart <- plotly::renderPlotly({
      d <- daily()
      if (!isTRUE(attr(d, "has_data"))) return(empty_plot(detail = empty_reason(d)))
      p <- plotly::plot_ly(d, x = ~day)
      p <- plotly::add_lines(p, y = ~new_sessions, name = "New visitors (first visit)", line = list(color = "#0d6efd"))
      p <- plotly::add_lines(p, y = ~returning_sessions, name = "Returning visitors",
                             line = list(color = "#6f42c1", dash = "dot"))
      finish_plot(p, xaxis = list(title = ""), yaxis = list(title = "sessions", rangemode = "tozero"))
    })
    output$time_chart <- plotly::renderPlotly({
      t <- times()
      if (!sum(t$customers)) return(empty_plot(detail = empty_reason(t)))
      t$label <- factor(t$label, levels = t$label)
      t$text <- sprintf("%s customers (%s)", format_count(t$customers), format_share(t$share))
      p <- plotly::plot_ly(t, x = ~label, y = ~customers, type = "bar", text = ~text, hoverinfo = "x+text",
                           marker = list(color = "#198754"))
      finish_plot(p, showlegend = FALSE, xaxis = list(title = ""), yaxis = list(title = "new customers"),
                  margin = list(l = 60, r = 90, t = 30, b = 90))
    })

    segments_display <- reactive({
      s <- segments()
      data.frame(Visitors = c("New (first visit)", "Returning"), Sessions = s$sessions, "Share of sessions" = s$session_share,
                 "Sessions with a purchase" = s$purchase_sessions, "Conversion rate" = s$conversion_rate,
                 Revenue = s$revenue, "Share of revenue" = s$revenue_share, "Revenue per session" = s$revenue_per_session,
                 check.names = FALSE)
    })
    output$segments_table <- render_table({
      d <- segments_display()
      rate_money_table(d, money = c("Revenue", "Revenue per session"), pct = c("Share of sessions", "Share of revenue"),
                       int = c("Sessions", "Sessions with a purchase"), min_n = min_n, currency = currency,
                       rates = list("Conversion rate" = list(n = d$Sessions)))
    })
    time_display <- reactive({
      t <- times()
      data.frame("Time to first purchase" = t$label, "New customers" = t$customers, Share = t$share,
                 "Share up to here" = t$cumulative_share, check.names = FALSE)
    })
    time_format <- function(d) dw_table(d, pct = c("Share", "Share up to here"), int = "New customers", page_length = 11)
    output$time_table <- render_table(time_format(time_display()))
    serve_chart_data(output, "time_chart", time_display, filters, "customers_time_to_first_purchase", time_format)
    serve_chart_data(output, "sessions_chart", reactive({
      d <- daily()
      if (!isTRUE(attr(d, "has_data"))) d <- d[0, , drop = FALSE]
      data.frame(Date = format(d$day), "New visitors (first visit)" = d$new_sessions,
                 "Returning visitors" = d$returning_sessions, check.names = FALSE)
    }), filters, "customers_sessions_per_day", function(d) dw_table(d, int = names(d)[2:3]))
    output$segments_csv <- csv_handler("customers_new_vs_returning", segments_display, filters)
    output$time_csv <- csv_handler("customers_time_to_first_purchase", time_display, filters)

    list(daily = daily, segments = segments, times = times, customers = customers)
  })
}
