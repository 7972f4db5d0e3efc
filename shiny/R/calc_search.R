# Pure calculations of the Site search tab (no Shiny, no database), checked by hand in
# tests/testthat/test-calc-search.R.

# The period's search figures (one row of search_totals): share of sessions that searched
# (sessions with a search / sessions), searches per searching session, and of the sessions that
# searched, those with a product view and those with a purchase after their first search.
search_summary <- function(totals) {
  get <- function(col) if (nrow(totals) && !is.na(totals[[col]][1])) as.numeric(totals[[col]][1]) else 0
  s <- list(sessions = get("sessions"), search_sessions = get("search_sessions"), searches = get("searches"),
            view_sessions = get("view_sessions"), purchase_sessions = get("purchase_sessions"),
            all_purchase_sessions = get("all_purchase_sessions"))
  s$search_share <- safe_ratio(s$search_sessions, s$sessions)
  s$searches_per_session <- safe_ratio(s$searches, s$search_sessions)
  s$view_rate <- safe_ratio(s$view_sessions, s$search_sessions)
  s$conversion_after_search <- safe_ratio(s$purchase_sessions, s$search_sessions)
  s$conversion_all <- safe_ratio(s$all_purchase_sessions, s$sessions)
  s
}

# A term as shown: the empty term (a search sent without one) by name.
search_term_label <- function(term) ifelse(is.na(term) | term == "", "(no term)", term)

# Terms (rows of search_terms or search_terms_no_view) with their rates per session that
# searched for the term: product view after it, purchase after it, and the sessions with no
# product view after it; in the order `by` (most first, then the term).
search_terms_table <- function(rows, by = c("searches", "no_view_sessions")) {
  by <- match.arg(by)
  if (!nrow(rows)) {
    return(data.frame(term = character(0), searches = numeric(0), sessions = numeric(0), view_sessions = numeric(0),
                      view_rate = numeric(0), no_view_sessions = numeric(0), no_view_rate = numeric(0),
                      purchase_sessions = numeric(0), conversion_rate = numeric(0)))
  }
  out <- data.frame(term = search_term_label(rows$search_term), searches = as.numeric(rows$searches),
                    sessions = as.numeric(rows$sessions), view_sessions = as.numeric(rows$view_sessions),
                    stringsAsFactors = FALSE)
  out$view_rate <- safe_ratio(out$view_sessions, out$sessions)
  out$no_view_sessions <- out$sessions - out$view_sessions
  out$no_view_rate <- safe_ratio(out$no_view_sessions, out$sessions)
  out$purchase_sessions <- as.numeric(rows$purchase_sessions)
  out$conversion_rate <- safe_ratio(out$purchase_sessions, out$sessions)
  key <- if (by == "searches") -out$searches else -out$no_view_sessions
  out <- out[order(key, -out$sessions, out$term), , drop = FALSE]
  rownames(out) <- NULL
  out
}
