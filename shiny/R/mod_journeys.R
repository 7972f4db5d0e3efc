# User journeys: a Sankey of page-to-page transitions (the busiest pages by name, the rest as
# "Other"), the landing -> exit paths of converting sessions, and landing and exit pages.

journeys_ui <- function(id) {
  ns <- NS(id)
  tagList(
    dw_chart(ns, "sankey", "Page transitions", height = "480px",
               textOutput(ns("sankey_note"), container = tags$small),
               sliderInput(ns("max_pages"), "Pages shown by name", min = 3, max = 20, value = 8, step = 1,
                           width = "300px"),
             note = "not filtered by product category"),
    dw_table_card(ns, "purchase_paths", "Top paths to purchase (landing → exit page of sessions with a purchase)"),
    bslib::layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      dw_table_card(ns, "landing", "Landing pages"),
      dw_table_card(ns, "exit", "Exit pages")
    )
  )
}

journeys_server <- function(id, dw, filters) {
  moduleServer(id, function(input, output, session) {
    min_n <- dw$settings$min_rate_sessions %||% 30
    transitions <- reactive(dw_query_safe(dw, "journey_transitions", filter_params(filters())))
    max_pages <- reactive(if (is.null(input$max_pages)) 8 else input$max_pages)
    sankey <- reactive(sankey_data(transitions(), max_pages()))
    pages <- reactive(dw_query_safe(dw, "journey_pages", filter_params(filters())))
    paths <- reactive(dw_query_safe(dw, "journey_purchase_paths", filter_params(filters(), limit = 20)))

    output$sankey <- plotly::renderPlotly({
      s <- sankey()
      if (!nrow(s$links)) return(empty_plot(detail = empty_reason(transitions())))
      p <- plotly::plot_ly(
        type = "sankey", arrangement = "snap",
        node = list(label = s$nodes, pad = 15, thickness = 18,
                    color = ifelse(s$nodes %in% c("(entrance)", "(exit)"), "#adb5bd",
                                   ifelse(s$nodes == "Other", "#ffc107", "#0d6efd"))),
        link = list(source = s$links$source, target = s$links$target, value = s$links$value,
                    color = "rgba(13,110,253,0.25)")
      )
      finish_plot(p)
    })
    output$sankey_note <- renderText({
      s <- sankey()
      if (s$dropped > 0) {
        sprintf("%s backward transitions (back-navigation, Other → Other) are not drawn.",
                format(s$dropped, big.mark = ","))
      } else ""
    })
    # The Sankey's links as a table: from, to, transitions (pages beyond the named ones as "Other").
    sankey_display <- reactive({
      s <- sankey()
      data.frame(From = s$nodes[s$links$source + 1], To = s$nodes[s$links$target + 1], Transitions = s$links$value,
                 check.names = FALSE)
    })
    serve_chart_data(output, "sankey", sankey_display, filters, "page_transitions",
                     function(d) dw_table(d, int = "Transitions"))
    paths_display <- reactive({
      d <- paths()
      if (!nrow(d)) d <- data.frame(landing_page = character(0), exit_page = character(0), channel = character(0),
                                    sessions = numeric(0), revenue = numeric(0))
      total <- sum(num0(d$sessions))
      d$share <- safe_div(num0(d$sessions), total)
      d$channel <- display_name(d$channel)
      names(d) <- c("Landing page", "Exit page", "Channel", "Sessions", "Revenue", "Share of listed")
      d
    })
    serve_table(output, "purchase_paths", paths_display, filters,
                function(d) dw_table(d, pct = "Share of listed", money = "Revenue", int = "Sessions"), "purchase_paths")
    page_display <- function(kind) reactive({
      d <- page_table(pages(), kind)
      names(d) <- c("Page", "Sessions", "Bounce rate (per session)", "Conversion per session")
      d
    })
    page_format <- function(d) {
      dw_table(d, int = "Sessions", min_n = min_n,
               rates = list("Bounce rate (per session)" = list(n = d$Sessions),
                            "Conversion per session" = list(n = d$Sessions)))
    }
    serve_table(output, "landing", page_display("landing"), filters, page_format, "landing_pages")
    serve_table(output, "exit", page_display("exit"), filters, page_format, "exit_pages")

    list(transitions = transitions, sankey = sankey, pages = pages, paths = paths)
  })
}
