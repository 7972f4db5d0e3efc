# Global filters shared by every tab: date range, login state, device, channel, product
# category and the bot switch (bots excluded by default). The date range starts as the last 28
# complete UTC days with data (default_filters); a caption under the filters says so.

filters_ui <- function(id, defaults = default_filters()) {
  ns <- NS(id)
  today <- utc_today()
  multi <- function(input_id, label, choices) {
    selectizeInput(ns(input_id), label, choices = choices, multiple = TRUE,
                   options = list(placeholder = "All"))
  }
  div(
    class = "dw-filters container-fluid pt-2",
    fluidRow(
      column(3, dateRangeInput(ns("dates"), "Dates (UTC)", start = defaults$start, end = defaults$end, max = today,
                               weekstart = 1)),
      column(2, multi("login_state", "Login state", display_choices(LOGIN_STATES))),
      column(2, multi("device_type", "Device", display_choices(DEVICE_TYPES))),
      column(2, multi("channel", "Channel", display_choices(CHANNELS))),
      column(2, multi("product_category", "Product category", character(0))),
      column(1, div(class = "pt-4", checkboxInput(ns("include_bots"), "Include bots", value = FALSE)))
    ),
    div(class = "dw-range-caption small", textOutput(ns("range_caption"), inline = TRUE))
  )
}

filters_server <- function(id, dw, today = function() utc_today()) {
  moduleServer(id, function(input, output, session) {
    defaults <- dw_default_filters(dw, today())
    categories <- dw_query_safe(dw, "filter_categories")
    if (nrow(categories)) {
      # A shared link's categories (bookmark) are restored here: the choices come from the data.
      updateSelectizeInput(session, "product_category", choices = categories$product_category, server = FALSE,
                           selected = restoreInput(session$ns("product_category"), NULL))
    }
    raw <- reactive({
      dates <- input$dates
      req(length(dates) == 2, !anyNA(dates))
      dates <- sort(as.Date(dates))
      list(
        start = dates[1], end = dates[2],
        login_state = input$login_state, device_type = input$device_type, channel = input$channel,
        product_category = input$product_category, include_bots = isTRUE(input$include_bots)
      )
    })
    output$range_caption <- renderText({
      dates <- input$dates
      chosen <- if (length(dates) == 2 && !anyNA(dates)) sort(as.Date(dates)) else c(defaults$start, defaults$end)
      range_caption(defaults$range, chosen[1], chosen[2], today())
    })
    # Typing a date or ticking several boxes should cost one round of queries, not one each.
    debounce(raw, 300)
  })
}
