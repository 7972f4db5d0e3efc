# Segment comparison mode for a tab (used by the Overview and the Funnel): a switch, two
# segments (A and B: login state, device, channel), and a table of the tab's figures for each
# with B's difference from A, plus its CSV. Off by default: its outputs are then hidden, so
# Shiny does not compute them and the default view costs nothing more.

compare_ui <- function(ns, title = "Compare two segments") {
  segment <- function(side) {
    tags$fieldset(
      class = "col-md-6", tags$legend(class = "fs-6 mb-1", paste("Segment", toupper(side))),
      div(class = "d-flex flex-wrap gap-2",
          lapply(names(COMPARE_DIMENSIONS), function(d) {
            choices <- switch(d, login_state = LOGIN_STATES, device_type = DEVICE_TYPES, channel = CHANNELS)
            selectizeInput(ns(paste0(side, "_", d)), COMPARE_DIMENSIONS[[d]], choices = display_choices(choices),
                           multiple = TRUE, width = "180px", options = list(placeholder = "All"))
          }))
    )
  }
  div(
    class = "dw-compare mb-3",
    checkboxInput(ns("compare"), paste0(title, " (A vs B)"), value = FALSE),
    conditionalPanel(
      "input.compare", ns = ns,
      chart_card(
        "Segment comparison: A vs B",
        uiOutput(ns("compare_table")),
        div(class = "row", segment("a"), segment("b")),
        csv_button(ns, "compare_table_csv", "Segment comparison"),
        note = "dates, product category and bots from the filters above; an empty choice means all"
      )
    )
  )
}

# `compute(f)` returns the tab's figures (compare_metrics) for filters f.
compare_server <- function(input, output, filters, compute, name, min_n = 30, currency = NULL) {
  segment <- function(side) reactive({
    stats::setNames(lapply(names(COMPARE_DIMENSIONS), function(d) input[[paste0(side, "_", d)]]), names(COMPARE_DIMENSIONS))
  })
  seg_a <- segment("a")
  seg_b <- segment("b")
  table <- reactive({
    req(isTRUE(input$compare))
    f <- filters()
    compare_frame(compute(segment_filters(f, seg_a())), compute(segment_filters(f, seg_b())))
  })
  output$compare_table <- renderUI(compare_table_html(table(), describe_segment(seg_a()), describe_segment(seg_b()),
                                                      min_n, currency))
  output$compare_table_csv <- csv_handler(name, table, filters)
  table
}

# The comparison as an HTML table (caption, header cells with scope) with rates greyed under
# min_n sessions and each change with its arrow.
compare_table_html <- function(d, label_a, label_b, min_n = 30, currency = NULL) {
  value <- function(x, kind, n) {
    if (kind == "rate") {
      few <- low_n(n, min_n)
      return(span(class = if (few) "low-n" else NULL, format_rate(x, n, min_n)))
    }
    if (kind == "money") return(if (is.null(currency)) formatC(x, format = "f", digits = 2, big.mark = ",") else
      format_money(x, currency))
    format_count(x)
  }
  changes <- format_compare_change(d$Change, d$Unit)
  rows <- lapply(seq_len(nrow(d)), function(i) {
    tags$tr(tags$th(scope = "row", d$Figure[i]), tags$td(value(d$A[i], d$.kind[i], d$.n_a[i])),
            tags$td(value(d$B[i], d$.kind[i], d$.n_b[i])),
            tags$td(class = "dw-compare-change", `data-direction` = sign(num0(d$Change[i])), changes[i]))
  })
  tags$table(
    class = "table table-sm dw-compare-table mb-2",
    tags$caption(class = "small text-muted", sprintf("A: %s. B: %s. Change: B against A.", label_a, label_b)),
    tags$thead(tags$tr(tags$th(scope = "col", "Figure"), tags$th(scope = "col", "A"), tags$th(scope = "col", "B"),
                       tags$th(scope = "col", "Change (B vs A)"))),
    tags$tbody(rows)
  )
}
