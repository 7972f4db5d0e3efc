# Sharing a view: Shiny's URL bookmarking keeps the tab, date range, filters and each tab's own
# controls in the address bar, so a link reopens the same view. Tables' and charts' own inputs
# (DT paging and clicks, plotly events) are left out of the URL.

BOOKMARK_NOISE <- paste0(
  "(_rows_(current|all|selected)|_columns_selected|_cells_selected|_cell_clicked|_cell_info|_cell_edit|",
  "_state|_search|_search_columns|_row_last_clicked)$|^plotly_|^\\.clientValue|-selectized$"
)

# The inputs a link keeps, of the names of every input on the page.
bookmark_inputs <- function(names) sort(grep(BOOKMARK_NOISE, names, value = TRUE, invert = TRUE))

# The tab a URL asks for: ?tab=<id> (links from runbooks and alerts) or a bookmark's
# JSON-encoded "tab" input; NULL if it names no tab.
tab_from_query <- function(query, tab_ids) {
  v <- query$tab
  if (is.null(v) || !nzchar(v)) return(NULL)
  if (startsWith(v, "\"")) v <- tryCatch(as.character(jsonlite::fromJSON(v)), error = function(e) "")
  if (length(v) == 1 && v %in% tab_ids) v else NULL
}

# Server side: after any kept input changes (debounced), write the view into the address bar.
share_server <- function(input, session) {
  state <- reactive({
    keep <- bookmark_inputs(names(input))
    stats::setNames(lapply(keep, function(n) input[[n]]), keep)
  })
  settled <- debounce(state, 400)
  observeEvent(settled(), {
    session$setBookmarkExclude(setdiff(names(isolate(reactiveValuesToList(input))), names(settled())))
    session$doBookmark()
  })
  onBookmarked(function(url) updateQueryString(url))
}
