# Revenue: revenue, orders, AOV and revenue per session by day with the period's totals;
# revenue, orders and conversion by channel, source/medium and campaign; credited conversions
# and revenue by attribution model. Amounts are in the store's currency (DW_STORE_CURRENCY).

REVENUE_KPIS <- c(revenue = "Revenue", orders = "Orders", aov = "Average order value",
                  revenue_per_session = "Revenue per session", conversion_rate = "Conversion rate")

REVENUE_NOTE <- paste("The product category filter does not apply here: attribution has no product split.",
                      "Orders are purchase events of converting sessions (last touch).")

REVENUE_TABLES <- c("By channel" = "channel", "By source / medium" = "source", "By campaign" = "campaign",
                    "Daily figures" = "daily")
REVENUE_TABLE_NOTES <- c(
  channel = "Conversion rate: sessions with a purchase / sessions of the channel.",
  source = "Last touch. Conversion rate: converting sessions / sessions with that source and medium.",
  campaign = "Last touch. Conversion rate: converting sessions / sessions with that campaign.",
  daily = "The figures behind the four charts above. AOV: revenue / orders; revenue per session: revenue / sessions."
)
ATTRIBUTION_TABLES <- c("By channel" = "channel", "By campaign" = "campaign")

# dw_table with amounts in the store's currency.
money_table <- function(df, money = character(0), pct = character(0), int = character(0), currency = "EUR",
                        page_length = 10, rates = list(), min_n = 30) {
  dt <- dw_table(df, pct = pct, int = int, page_length = page_length, rates = rates, min_n = min_n)
  money <- intersect(money, names(df))
  if (length(money)) dt <- DT::formatCurrency(dt, money, currency = paste0(currency, " "), digits = 2)
  dt
}

revenue_ui <- function(id) {
  ns <- NS(id)
  boxes <- lapply(names(REVENUE_KPIS), function(m) stat_box(ns, paste0("kpi_", m), REVENUE_KPIS[[m]],
                                                             paste0("kpi kpi-", m), html = m == "conversion_rate"))
  chart <- function(output_id, title) dw_chart(ns, output_id, title, height = "260px")
  tagList(
    p(class = "small text-muted mb-2", REVENUE_NOTE),
    uiOutput(ns("currency_note")),
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 5, fill = FALSE, class = "mb-3"), boxes)),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      chart("revenue_chart", "Revenue per day"),
      chart("orders_chart", "Orders per day"),
      chart("aov_chart", "Average order value per day (revenue / orders)"),
      chart("rps_chart", "Revenue per session per day (revenue / sessions)")
    ),
    # One table at a time, chosen above it: only the shown one is queried and drawn.
    chart_card("Revenue, orders and conversion", DT::DTOutput(ns("table")),
               radioButtons(ns("table_view"), "Table",  choices = REVENUE_TABLES, selected = "channel", inline = TRUE),
               div(class = "d-flex align-items-start gap-3", csv_button(ns, "table_csv", "Revenue, orders and conversion"),
                   uiOutput(ns("table_note")))),
    dw_chart(ns, "attribution_chart", "Attribution: credited conversions and revenue by channel",
               selectInput(ns("model"), "Attribution model", choices = ATTRIBUTION_MODELS, selected = "last_touch",
                           width = "280px"),
               uiOutput(ns("attribution_text"))),
    chart_card("Attributed conversions and revenue", DT::DTOutput(ns("attribution_table")),
               radioButtons(ns("attribution_view"), "Table", choices = ATTRIBUTION_TABLES, selected = "channel",
                            inline = TRUE),
               div(class = "d-flex align-items-start gap-3", csv_button(ns, "attribution_csv", "Attributed conversions and revenue"),
                   p(class = "small text-muted mb-0", "Shares: of the model's conversions / revenue.")))
  )
}

revenue_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    currency <- dw$settings$store_currency %||% "EUR"
    min_n <- dw$settings$min_rate_sessions %||% 30
    lookback <- dw$settings$attribution_lookback_days %||% 30L
    params <- reactive(filter_params(filters()))
    currency_rows <- reactive(dw_query_safe(dw, "revenue_currencies", params()))
    output$currency_note <- renderUI({
      note <- currency_mix_note(currency_rows(), currency)
      if (!is.null(note)) div(class = "alert alert-warning py-2 small currency-note", role = "status", note)
    })
    daily_rows <- reactive(dw_query_safe(dw, "revenue_daily", params()))
    daily <- reactive({
      f <- filters()
      rows <- daily_rows()
      structure(revenue_daily_series(rows, f$start, f$end), error = attr(rows, "error"), has_data = nrow(rows) > 0)
    })
    totals <- reactive(revenue_totals(daily_rows()))
    channel_rows <- reactive(dw_query_safe(dw, "revenue_by_channel", params()))
    channels <- reactive(structure(revenue_channel_table(channel_rows()), error = attr(channel_rows(), "error")))
    credit <- reactive(dw_query_safe(dw, "attribution_credit", params()))
    utm_sessions <- reactive(revenue_with_untagged(dw_query_safe(dw, "revenue_sessions_by_utm", params()),
                                                   totals()$sessions))
    sources <- reactive(revenue_utm_table(utm_sessions(), credit(), c("utm_source", "utm_medium")))
    campaigns <- reactive(revenue_utm_table(utm_sessions(), credit(), c("utm_source", "utm_medium", "utm_campaign")))
    model <- reactive(if (is.null(input$model) || !input$model %in% ATTRIBUTION_MODELS) "last_touch" else input$model)
    attributed_channels <- reactive(attribution_split(credit(), model(), "channel"))
    attributed_campaigns <- reactive(attribution_split(credit(), model(), c("utm_source", "utm_medium", "utm_campaign")))

    kpi_text <- function(m, t) {
      switch(m, revenue = format_money(t$revenue, currency), orders = format_count(t$orders),
             aov = format_money(t$aov, currency), revenue_per_session = format_money(t$revenue_per_session, currency),
             conversion_rate = format_share(t$conversion_rate))
    }
    kpi_detail <- function(m, t) {
      switch(m,
        revenue = sprintf("from %s sessions with a purchase", format_count(t$purchase_sessions)),
        orders = "purchase events of converting sessions",
        aov = sprintf("revenue / %s orders", format_count(t$orders)),
        revenue_per_session = sprintf("revenue / %s sessions", format_count(t$sessions)),
        conversion_rate = sprintf("%s of %s sessions had a purchase", format_count(t$purchase_sessions),
                                  format_count(t$sessions)))
    }
    lapply(names(REVENUE_KPIS), function(m) {
      output[[paste0("kpi_", m, "_value")]] <- if (m == "conversion_rate") {
        renderUI(rate_html(totals()$conversion_rate, totals()$sessions, min_n))
      } else {
        renderText(kpi_text(m, totals()))
      }
      output[[paste0("kpi_", m, "_detail")]] <- renderUI(p(class = "small text-muted mb-0", kpi_detail(m, totals())))
    })

    day_chart <- function(col, name, ytitle, color) {
      plotly::renderPlotly({
        d <- daily()
        if (!isTRUE(attr(d, "has_data"))) return(empty_plot(detail = empty_reason(d)))
        p <- plotly::plot_ly(d, x = ~day)
        p <- plotly::add_lines(p, y = d[[col]], name = name, line = list(color = color))
        finish_plot(p, showlegend = FALSE, xaxis = list(title = ""), yaxis = list(title = ytitle, rangemode = "tozero"))
      })
    }
    output$revenue_chart <- day_chart("revenue", "Revenue", paste("revenue,", currency), "#198754")
    output$orders_chart <- day_chart("orders", "Orders", "orders", "#0d6efd")
    output$aov_chart <- day_chart("aov", "Average order value", paste("AOV,", currency), "#6610f2")
    output$rps_chart <- day_chart("revenue_per_session", "Revenue per session", paste("per session,", currency),
                                  "#d63384")

    daily_display <- reactive({
      d <- daily()
      data.frame(Date = format(d$day), Sessions = d$sessions, Orders = d$orders, Revenue = d$revenue,
                 AOV = d$aov, "Revenue per session" = d$revenue_per_session, check.names = FALSE)
    })
    channel_display <- reactive({
      c <- channels()
      data.frame(Channel = display_name(c$channel), Sessions = c$sessions, "Sessions with a purchase" = c$purchase_sessions,
                 "Conversion rate" = c$conversion_rate, Orders = c$orders, Revenue = c$revenue, AOV = c$aov,
                 "Share of revenue" = c$revenue_share, check.names = FALSE)
    })
    utm_display <- function(t) {
      out <- data.frame(Source = t$utm_source, Medium = t$utm_medium, check.names = FALSE)
      if ("utm_campaign" %in% names(t)) out$Campaign <- t$utm_campaign
      cbind(out, data.frame(Sessions = t$sessions, Conversions = t$conversions, "Conversion rate" = t$conversion_rate,
                            Orders = t$orders, Revenue = t$revenue, AOV = t$aov, check.names = FALSE))
    }
    source_display <- reactive(utm_display(sources()))
    campaign_display <- reactive(utm_display(campaigns()))
    attribution_display <- function(t) {
      out <- if ("channel" %in% names(t)) data.frame(Channel = display_name(t$channel)) else
        data.frame(Source = t$utm_source, Medium = t$utm_medium, Campaign = t$utm_campaign)
      cbind(out, data.frame("Credited conversions" = t$conversions, "Share of conversions" = t$conversion_share,
                            "Credited orders" = t$orders, "Credited revenue" = t$revenue,
                            "Share of revenue" = t$revenue_share, check.names = FALSE))
    }
    attribution_channel_display <- reactive(attribution_display(attributed_channels()))
    attribution_campaign_display <- reactive(attribution_display(attributed_campaigns()))

    table_view <- reactive(if (is.null(input$table_view) || !input$table_view %in% REVENUE_TABLES) "channel" else
      input$table_view)
    attribution_view <- reactive(if (identical(input$attribution_view, "campaign")) "campaign" else "channel")
    shown_table <- reactive(switch(table_view(), channel = channel_display(), source = source_display(),
                                   campaign = campaign_display(), daily = daily_display()))
    shown_attribution <- reactive(if (attribution_view() == "campaign") attribution_campaign_display() else
      attribution_channel_display())
    formatted <- function(d) {
      dt <- money_table(d, money = c("Revenue", "AOV", "Revenue per session", "Credited revenue"),
                        pct = c("Conversion rate", "Share of revenue", "Share of conversions"),
                        int = c("Sessions", "Sessions with a purchase", "Orders", "Conversions"), currency = currency,
                        min_n = min_n,
                        rates = if ("Conversion rate" %in% names(d)) list("Conversion rate" = list(n = d$Sessions)) else list())
      decimals <- intersect(c("Credited conversions", "Credited orders"), names(d))
      if (length(decimals)) dt <- DT::formatRound(dt, decimals, digits = 2)
      dt
    }
    output$table <- render_table(formatted(shown_table()))
    output$table_note <- renderUI(p(class = "small text-muted mb-0", REVENUE_TABLE_NOTES[[table_view()]]))
    output$attribution_table <- render_table(formatted(shown_attribution()))
    output$table_csv <- csv_handler(function() paste0("revenue_", table_view()), shown_table, filters)
    output$attribution_csv <- csv_handler(function() paste0("attribution_", model(), "_by_", attribution_view()),
                                          shown_attribution, filters)

    daily_column <- function(col) reactive(daily_display()[, c("Date", col), drop = FALSE])
    day_format <- function(d) formatted(d)
    serve_chart_data(output, "revenue_chart", daily_column("Revenue"), filters, "revenue_per_day", day_format)
    serve_chart_data(output, "orders_chart", daily_column("Orders"), filters, "orders_per_day", day_format)
    serve_chart_data(output, "aov_chart", daily_column("AOV"), filters, "aov_per_day", day_format)
    serve_chart_data(output, "rps_chart", daily_column("Revenue per session"), filters, "revenue_per_session_per_day",
                     day_format)
    serve_chart_data(output, "attribution_chart", attribution_channel_display, filters,
                     function() paste0("attribution_", model(), "_by_channel"), formatted)

    output$attribution_text <- renderUI(p(class = "small text-muted attribution-text mb-0",
                                          attribution_explanation(model(), lookback)))
    output$attribution_chart <- plotly::renderPlotly({
      a <- attributed_channels()
      if (!nrow(a)) return(empty_plot(detail = empty_reason(credit())))
      a$channel <- factor(display_name(a$channel), levels = display_name(a$channel))
      a$label <- sprintf("%s (%s of revenue)", format_money(a$revenue, currency), format_share(a$revenue_share))
      p <- plotly::plot_ly(a, x = ~channel, y = ~revenue, type = "bar", text = ~label, hoverinfo = "x+text",
                           marker = list(color = "#198754"), name = "Credited revenue")
      finish_plot(p, showlegend = FALSE, xaxis = list(title = ""),
                  yaxis = list(title = paste("credited revenue,", currency), rangemode = "tozero"))
    })

    list(daily = daily, totals = totals, channels = channels, sources = sources, campaigns = campaigns,
         credit = credit, model = model, attributed_channels = attributed_channels,
         attributed_campaigns = attributed_campaigns, table_view = table_view)
  })
}
