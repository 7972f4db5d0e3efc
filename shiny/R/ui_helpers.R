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
# Raw column names are shown through column_label(). `rates` names rate columns whose
# denominators are known: list(<column> = list(n = <counts>, unit = "sessions")); such a rate
# from fewer than `min_n` is greyed and shows its count ("100.0% (2 sessions)"), an NA one is a
# dash (`na_text` its tooltip). Sorting stays on the numbers.
dw_table <- function(df, pct = character(0), money = character(0), int = character(0), page_length = 10,
                     empty = EMPTY_TEXT, rates = list(), min_n = 30, na_text = "no value") {
  names(df) <- column_label(names(df))
  pct <- column_label(pct)
  money <- column_label(money)
  int <- column_label(int)
  names(rates) <- column_label(names(rates))
  rates <- rates[names(rates) %in% names(df)]
  defs <- list()
  for (k in seq_along(rates)) {
    col <- names(rates)[k]
    n_col <- paste0(".n", k)
    n <- rates[[k]]$n
    df[[n_col]] <- if (length(n)) rep_len(as.numeric(n), nrow(df)) else numeric(nrow(df))
    unit <- rates[[k]]$unit %||% "sessions"
    render <- DT::JS(sprintf(
      "function(data, type, row) {
         if (type !== 'display') return data === null ? -1 : data;
         if (data === null) return '<span class=\"rate-none\" title=\"%s\">–</span>';
         var txt = (100 * data).toFixed(1) + '%%';
         var n = row[%d];
         if (n === null || n >= %s) return txt;
         return '<span class=\"low-n\" title=\"fewer than %s %s: read with care\">' + txt + ' (' +
                n.toLocaleString('en-US') + ' ' + (n === 1 ? '%s' : '%s') + ')</span>';
       }", na_text, ncol(df) - 1L, format(min_n), format(min_n), unit, sub("s$", "", unit), unit))
    defs <- c(defs, list(list(targets = match(col, names(df)) - 1L, render = render),
                         list(targets = ncol(df) - 1L, visible = FALSE, searchable = FALSE)))
  }
  options <- list(pageLength = page_length, dom = "tip", scrollX = TRUE, language = list(emptyTable = empty),
                  order = list())
  if (length(defs)) options$columnDefs <- defs
  dt <- DT::datatable(df, rownames = FALSE, selection = "none", options = options)
  pct <- setdiff(pct, names(rates))
  if (length(pct)) dt <- DT::formatPercentage(dt, intersect(pct, names(df)), digits = 1)
  if (length(money)) dt <- DT::formatCurrency(dt, intersect(money, names(df)), currency = "", digits = 2)
  if (length(int)) dt <- DT::formatRound(dt, intersect(int, names(df)), digits = 0)
  dt
}

# A time series as a solid line over its complete buckets and, when the last bucket is the
# current (partial) day or hour, a dashed segment from the last complete point to it, with its
# own legend entry: a day that has not ended is not drawn as a drop. `d` has t, `y` and partial
# (mark_partial).
add_partial_lines <- function(p, d, y, name, color, partial_name = paste(name, "(partial, so far)"),
                              showlegend_partial = TRUE, group = name) {
  done <- d[!d$partial, , drop = FALSE]
  if (nrow(done)) {
    p <- plotly::add_trace(p, x = done$t, y = done[[y]], type = "scatter", mode = "lines", name = name,
                           legendgroup = group, line = list(color = color, width = 2))
  }
  part <- which(d$partial)
  if (length(part)) {
    before <- which(!d$partial & seq_len(nrow(d)) < min(part))
    seg <- d[c(utils::tail(before, 1), part), , drop = FALSE]
    p <- plotly::add_trace(p, x = seg$t, y = seg[[y]], type = "scatter", mode = "lines+markers", name = partial_name,
                           legendgroup = group, showlegend = showlegend_partial,
                           line = list(color = color, width = 2, dash = "dash"),
                           marker = list(color = "white", size = 7, line = list(color = color, width = 2)))
  }
  p
}

# A light band over the partial bucket, labelled, for plotly's layout(shapes, annotations).
partial_band <- function(d, grain = c("day", "hour")) {
  grain <- match.arg(grain)
  if (!nrow(d) || !any(d$partial)) return(list(shapes = list(), annotations = list()))
  t0 <- as.POSIXct(min(d$t[d$partial]), tz = "UTC")
  step <- if (grain == "day") 86400 else 3600
  fmt <- function(x) format(x, "%Y-%m-%d %H:%M:%S", tz = "UTC")
  list(
    shapes = list(list(type = "rect", xref = "x", yref = "paper", x0 = fmt(t0 - step / 2), x1 = fmt(t0 + step / 2),
                       y0 = 0, y1 = 1, fillcolor = "rgba(108,117,125,0.12)", line = list(width = 0), layer = "below")),
    annotations = list(list(x = fmt(t0), y = 1, xref = "x", yref = "paper", yanchor = "bottom", showarrow = FALSE,
                            text = if (grain == "day") "today: partial" else "this hour: partial",
                            font = list(size = 11, color = "#495057")))
  )
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
# `html`: the value is an HTML output (e.g. a greyed rate with its count), else text.
stat_box <- function(ns, id, title, class = NULL, html = FALSE) {
  value <- if (html) uiOutput(ns(paste0(id, "_value")), inline = TRUE) else textOutput(ns(paste0(id, "_value")), inline = TRUE)
  bslib::value_box(
    title = title,
    value = span(class = "kpi-value", value),
    uiOutput(ns(paste0(id, "_detail"))),
    theme_color = "light", class = class
  )
}
