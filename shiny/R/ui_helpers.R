# Shared presentation helpers: empty states, chart defaults, tables.

EMPTY_TEXT <- "No data for these filters"

# A blank chart that says why it is blank; class "empty-state" lets tests and CSS find it.
empty_plot <- function(message = EMPTY_TEXT, detail = NULL) {
  text <- if (is.null(detail) || !nzchar(detail)) message else paste0(message, "<br><sub>", detail, "</sub>")
  p <- plotly::plotly_empty(type = "scatter", mode = "markers")
  p <- plotly::layout(p,
    xaxis = list(visible = FALSE), yaxis = list(visible = FALSE),
    annotations = list(list(text = text, showarrow = FALSE, xref = "paper", yref = "paper",
                            x = 0.5, y = 0.5, font = list(size = 16, color = "#6c757d")))
  )
  p <- plotly::config(p, displayModeBar = FALSE)
  htmlwidgets::onRender(p, "function(el) { el.classList.add('empty-state'); }")
}

# The reason a result is empty: the query's error when it failed, else "no data".
empty_reason <- function(df) {
  err <- attr(df, "error")
  if (is.null(err)) NULL else paste("Query failed:", substr(err, 1, 160))
}

# Debian's r-cran-plotly serves plotly.js 1.31.2, whose mode bar fails on the button list the
# R package (4.10) sends ("must provide button 'name'") and then draws nothing; so no mode bar,
# and only trace types and attributes 1.31 knows (no funnel, no texttemplate/hovertemplate).
finish_plot <- function(p, ..., margin = list(l = 60, r = 20, t = 30, b = 50)) {
  p <- plotly::layout(p, margin = margin, legend = list(orientation = "h", y = -0.2), ...)
  plotly::config(p, displayModeBar = FALSE)
}

# Text from the data (page paths, element texts) for plotly labels and hover text. plotly.js
# reads <b>, <a href>, <br> ... in them, after turning entities such as &lt; into characters,
# so escaping does not help: a zero-width space after each < and & keeps them text, shown as
# they are.
plotly_text <- function(x) gsub("([<&])", "\\1\u200b", as.character(x))

# Tables are sent whole to the browser (they are small: aggregates, top-N lists), so they draw
# in one round trip and sort client-side.
render_table <- function(expr, env = parent.frame(), quoted = FALSE) {
  if (!quoted) expr <- substitute(expr)
  DT::renderDT(expr, env = env, quoted = TRUE, server = FALSE)
}

# DT table with the defaults used everywhere; percentages and money formatted by column name.
dw_table <- function(df, pct = character(0), money = character(0), int = character(0), page_length = 10,
                     empty = EMPTY_TEXT) {
  dt <- DT::datatable(
    df, rownames = FALSE, selection = "none",
    options = list(pageLength = page_length, dom = "tip", scrollX = TRUE,
                   language = list(emptyTable = empty), order = list())
  )
  if (length(pct)) dt <- DT::formatPercentage(dt, intersect(pct, names(df)), digits = 1)
  if (length(money)) dt <- DT::formatCurrency(dt, intersect(money, names(df)), currency = "", digits = 2)
  if (length(int)) dt <- DT::formatRound(dt, intersect(int, names(df)), digits = 0)
  dt
}

# The global filters as query parameters; `extra` adds a tab's own parameters.
filter_params <- function(f, ...) {
  c(list(
    start = as.Date(f$start), end = as.Date(f$end),
    login_state = as_pg_array(f$login_state), device_type = as_pg_array(f$device_type),
    channel = as_pg_array(f$channel), product_category = as_pg_array(f$product_category),
    include_bots = isTRUE(f$include_bots)
  ), list(...))
}

chart_card <- function(title, output, ..., note = NULL) {
  bslib::card(
    bslib::card_header(title, if (!is.null(note)) tags$small(class = "text-muted ms-2", note)),
    ..., output, full_screen = TRUE
  )
}

# A value box whose value and detail line are outputs. The boxes are static UI: rendering
# bslib components through renderUI would compile their theme CSS (sass) on every update.
stat_box <- function(ns, id, title, class = NULL) {
  bslib::value_box(
    title = title,
    value = span(class = "kpi-value", textOutput(ns(paste0(id, "_value")), inline = TRUE)),
    uiOutput(ns(paste0(id, "_detail"))),
    theme_color = "light", class = class
  )
}
