# Site search: searches and the sessions that searched, what followed a search (a product view,
# a purchase), the most searched terms and the terms most often followed by no product view.

SEARCH_KPIS <- c(searches = "Searches", search_share = "Sessions with a search",
                 per_session = "Searches per searching session", view_rate = "Product view after search",
                 conversion = "Conversion after search")
SEARCH_TERM_LIMIT <- 100L

SEARCH_NOTE <- paste(
  "The product category filter does not apply here: searches have no product.",
  "\"After search\": later in the same session than its first search (in the tables: than its first search",
  "for that term). Terms are as typed, trimmed, lower-cased, white space collapsed, cut at 100 characters;",
  "what people type may include personal data."
)

search_ui <- function(id) {
  ns <- NS(id)
  boxes <- lapply(names(SEARCH_KPIS), function(m) stat_box(ns, paste0("kpi_", m), SEARCH_KPIS[[m]],
                                                            paste0("kpi kpi-", m), html = TRUE))
  tagList(
    p(class = "small text-muted mb-2 search-note", SEARCH_NOTE),
    do.call(bslib::layout_column_wrap, c(list(width = 1 / 5, fill = FALSE, class = "mb-3"), boxes)),
    dw_chart(ns, "terms_chart", "Top search terms (searches)"),
    chart_card("Search terms", DT::DTOutput(ns("terms_table")), csv_button(ns, "terms_csv"),
               note = sprintf("the %d most searched; rates: of the sessions that searched for the term",
                              SEARCH_TERM_LIMIT)),
    chart_card("Terms not followed by a product view", DT::DTOutput(ns("no_view_table")), csv_button(ns, "no_view_csv"),
               note = "most sessions without a product view after the term first; rate: of the sessions that searched for it")
  )
}

search_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
    params <- reactive(filter_params(filters()))
    totals <- reactive(dw_query_safe(dw, "search_totals", params()))
    summary <- reactive(search_summary(totals()))
    term_rows <- reactive(dw_query_safe(dw, "search_terms", filter_params(filters(), limit = SEARCH_TERM_LIMIT)))
    terms <- reactive(structure(search_terms_table(term_rows(), "searches"), error = attr(term_rows(), "error")))
    no_view_rows <- reactive(dw_query_safe(dw, "search_terms_no_view",
                                           filter_params(filters(), limit = SEARCH_TERM_LIMIT)))
    no_view <- reactive(search_terms_table(no_view_rows(), "no_view_sessions"))

    detail <- function(...) p(class = "small text-muted mb-0", sprintf(...))
    output$kpi_searches_value <- renderUI(span(format_count(summary()$searches)))
    output$kpi_searches_detail <- renderUI(detail("in %s sessions", format_count(summary()$search_sessions)))
    output$kpi_search_share_value <- renderUI(rate_span(summary()$search_share, summary()$sessions, min_n))
    output$kpi_search_share_detail <- renderUI(detail("%s of %s sessions searched", format_count(summary()$search_sessions),
                                                      format_count(summary()$sessions)))
    output$kpi_per_session_value <- renderUI(span(if (is.na(summary()$searches_per_session)) "\u2013" else
      formatC(summary()$searches_per_session, format = "f", digits = 2)))
    output$kpi_per_session_detail <- renderUI(detail("searches / %s sessions with a search",
                                                     format_count(summary()$search_sessions)))
    output$kpi_view_rate_value <- renderUI(rate_span(summary()$view_rate, summary()$search_sessions, min_n))
    output$kpi_view_rate_detail <- renderUI(detail("%s of %s sessions with a search viewed a product after it",
                                                   format_count(summary()$view_sessions),
                                                   format_count(summary()$search_sessions)))
    output$kpi_conversion_value <- renderUI(rate_span(summary()$conversion_after_search, summary()$search_sessions, min_n))
    output$kpi_conversion_detail <- renderUI(detail("%s of %s sessions with a search bought after it; all sessions: %s",
                                                    format_count(summary()$purchase_sessions),
                                                    format_count(summary()$search_sessions),
                                                    format_share(summary()$conversion_all)))

    output$terms_chart <- plotly::renderPlotly({
      t <- head(terms(), 10)
      if (!nrow(t)) return(empty_plot(detail = empty_reason(terms())))
      labels <- make.unique(plotly_text(short_label(t$term, 40)), sep = " ")
      t$label <- factor(labels, levels = rev(labels))
      t$text <- sprintf("%s searches in %s sessions; product view after: %s", format_count(t$searches),
                        format_count(t$sessions), format_share(t$view_rate))
      p <- plotly::plot_ly(t, type = "bar", orientation = "h", y = ~label, x = ~searches, text = ~text,
                           hoverinfo = "y+text", marker = list(color = "#0d6efd"))
      finish_plot(p, showlegend = FALSE, yaxis = list(title = ""), xaxis = list(title = "searches"),
                  margin = list(l = 200, r = 20, t = 30, b = 50))
    })
    terms_display <- reactive({
      t <- terms()
      data.frame(Term = t$term, Searches = t$searches, Sessions = t$sessions, "Product view after" = t$view_rate,
                 "Purchase after" = t$conversion_rate, "Sessions without a product view after" = t$no_view_sessions,
                 check.names = FALSE)
    })
    no_view_display <- reactive({
      t <- no_view()
      data.frame(Term = t$term, Sessions = t$sessions, "Sessions without a product view after" = t$no_view_sessions,
                 "Share without a product view" = t$no_view_rate, Searches = t$searches, check.names = FALSE)
    })
    terms_format <- function(d) {
      dw_table(d, int = c("Searches", "Sessions", "Sessions without a product view after"), min_n = min_n,
               rates = list("Product view after" = list(n = d$Sessions), "Purchase after" = list(n = d$Sessions)))
    }
    output$terms_table <- render_table(terms_format(terms_display()))
    serve_chart_data(output, "terms_chart", reactive(head(terms_display(), 10)), filters, "search_top_terms",
                     terms_format)
    output$no_view_table <- render_table({
      d <- no_view_display()
      dw_table(d, int = c("Sessions", "Sessions without a product view after", "Searches"), min_n = min_n,
               rates = list("Share without a product view" = list(n = d$Sessions)))
    })
    output$terms_csv <- csv_handler("search_terms", terms_display, filters)
    output$no_view_csv <- csv_handler("search_terms_no_product_view", no_view_display, filters)

    list(totals = totals, summary = summary, terms = terms, no_view = no_view)
  })
}
