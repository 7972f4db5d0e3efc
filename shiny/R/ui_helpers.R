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

# A card with a heading (h3: the tab is h2, the app h1), controls (...), the output and what
# goes under it (`after`, e.g. a chart's Data section).
chart_card <- function(title, output, ..., note = NULL, after = NULL) {
  bslib::card(
    bslib::card_header(tags$h3(class = "dw-card-title", title),
                       if (!is.null(note)) tags$small(class = "text-muted ms-2", note)),
    ..., output, after, full_screen = TRUE
  )
}

# A rate as HTML: greyed with its count when its denominator `n` is below `min_n`.
rate_html <- function(rate, n, min_n = 30, unit = "sessions") {
  few <- !is.na(rate) && low_n(n, min_n)
  span(class = if (few) "low-n" else NULL, title = if (few) sprintf("fewer than %s %s: read with care", format(min_n), unit),
       format_rate(rate, n, min_n, unit))
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

# ---- Export and text alternatives (issue 18, items 8 and 9), for every tab ----
#
# A chart: dw_chart(ns, "x", "Title") in the UI and serve_chart_data(output, "x", data, filters)
# in the server, where `data` is a reactive data frame of the figures drawn (display names as
# column names). A table: dw_table_card(ns, "t", "Title") and serve_table(output, "t", data,
# filters, format = function(d) dw_table(d, ...)). Both give a CSV download of exactly the
# rows shown (outputs "<id>_csv").

# A plotly chart in a card with, under it, a closed "Data" section: the chart's figures as a
# table (its text alternative, reachable by keyboard and screen readers) and a CSV download.
# The table is drawn only when the section is opened (Shiny skips hidden outputs), so it does
# not slow the tab's draw.
dw_chart <- function(ns, id, title, ..., height = "320px", note = NULL) {
  chart_card(title, plotly::plotlyOutput(ns(id), height = height), ..., note = note,
             after = chart_data_section(ns, id, title))
}

chart_data_section <- function(ns, id, title) {
  tags$details(
    class = "dw-data mt-2",
    tags$summary(span("Data"), span(class = "visually-hidden", paste0(": ", title, " (table and CSV)"))),
    csv_button(ns, paste0(id, "_csv"), title),
    DT::DTOutput(ns(paste0(id, "_data")))
  )
}

# A table in a card, with a CSV download of its rows above it.
dw_table_card <- function(ns, id, title, ..., note = NULL) {
  chart_card(title, DT::DTOutput(ns(id)), csv_button(ns, paste0(id, "_csv"), title), ..., note = note)
}

# A CSV download button; `what` names it for screen readers ("CSV" alone says nothing).
csv_button <- function(ns, id, what = NULL) {
  # The icon is decoration: shiny names it "download icon" with an aria-label an <i> may not have.
  icon <- shiny::icon("download")
  icon$attribs$`aria-label` <- NULL
  icon$attribs$`aria-hidden` <- "true"
  btn <- downloadButton(ns(id), "CSV", class = "btn-sm btn-outline-secondary", icon = icon)
  if (!is.null(what)) btn <- tagAppendAttributes(btn, `aria-label` = paste("Download CSV:", what))
  div(class = "mb-2", btn)
}

# A downloadHandler writing the data frame `data()` (display names as headers). The file is
# named for `name` (a string or a function) and the date range.
csv_handler <- function(name, data, filters) {
  downloadHandler(
    filename = function() {
      f <- filters()
      sprintf("%s_%s_%s.csv", if (is.function(name)) name() else name, format(as.Date(f$start)), format(as.Date(f$end)))
    },
    content = function(file) utils::write.csv(csv_frame(data()), file, row.names = FALSE, na = "")
  )
}

# What a CSV holds: the data frame without the hidden helper columns tables carry, headed by
# the column names the table shows.
csv_frame <- function(df) {
  df <- as.data.frame(df, check.names = FALSE)
  df <- df[, !startsWith(names(df), "."), drop = FALSE]
  names(df) <- column_label(names(df))
  df
}

# The figures behind chart `id`: a table in its Data section and a CSV download.
serve_chart_data <- function(output, id, data, filters, name = id, format = function(d) dw_table(d)) {
  output[[paste0(id, "_data")]] <- render_table(format(data()))
  output[[paste0(id, "_csv")]] <- csv_handler(name, data, filters)
}

# A table output and its CSV download, from one reactive data frame.
serve_table <- function(output, id, data, filters, format = function(d) dw_table(d), name = id) {
  output[[id]] <- render_table(format(data()))
  output[[paste0(id, "_csv")]] <- csv_handler(name, data, filters)
}

# A time series as a table: its time bucket, the named columns (`cols`: label = column), and
# whether the bucket is the current, partial one.
series_frame <- function(d, cols, grain = "day") {
  if (!nrow(d)) return(data.frame(Time = character(0), check.names = FALSE))
  out <- data.frame(Time = format(as.POSIXct(d$t, tz = "UTC"), if (grain == "hour") "%Y-%m-%d %H:00" else "%Y-%m-%d",
                                  tz = "UTC"), check.names = FALSE)
  for (k in seq_along(cols)) out[[names(cols)[k]]] <- d[[cols[[k]]]]
  if ("partial" %in% names(d)) out$Partial <- ifelse(d$partial, "partial, so far", "")
  out
}
