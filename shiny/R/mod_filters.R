# Global filters shared by every tab: date range, login state, device, channel, product
# category and the bot switch (bots excluded by default).

filters_ui <- function(id) {
  ns <- NS(id)
  today <- default_filters()$end
  multi <- function(input_id, label, choices) {
    selectizeInput(ns(input_id), label, choices = choices, multiple = TRUE,
                   options = list(placeholder = "All"))
  }
  div(
    class = "dw-filters container-fluid pt-2",
    fluidRow(
      column(3, dateRangeInput(ns("dates"), "Dates (UTC)", start = today - 27, end = today, max = today + 1,
                               weekstart = 1)),
      column(2, multi("login_state", "Login state", LOGIN_STATES)),
      column(2, multi("device_type", "Device", DEVICE_TYPES)),
      column(2, multi("channel", "Channel", CHANNELS)),
      column(2, multi("product_category", "Product category", character(0))),
      column(1, div(class = "pt-4", checkboxInput(ns("include_bots"), "Include bots", value = FALSE)))
    )
  )
}

filters_server <- function(id, dw) {
  moduleServer(id, function(input, output, session) {
    categories <- dw_query_safe(dw, "filter_categories")
    if (nrow(categories)) {
      updateSelectizeInput(session, "product_category", choices = categories$product_category, server = FALSE)
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
    # Typing a date or ticking several boxes should cost one round of queries, not one each.
    debounce(raw, 300)
  })
}
