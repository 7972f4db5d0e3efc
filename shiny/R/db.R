# Warehouse access: settings from the environment, one connection per R process (Shiny
# serves all sessions of an app from one process), reconnect on failure, timings kept for
# the benchmark.

dw_settings <- function(env = Sys.getenv()) {
  get <- function(name, default = "") {
    value <- env[name]
    if (is.na(value) || !nzchar(value)) default else unname(value)
  }
  list(
    host = get("DW_PG_HOST", "127.0.0.1"),
    port = as.integer(get("DW_PG_PORT", "5432")),
    dbname = get("DW_PG_DATABASE", "clickstream_dw"),
    user = get("DW_PG_USER"),
    password = get("DW_PG_PASSWORD"),
    # RPostgreSQL has no TLS arguments of its own; libpq reads PGSSLMODE/PGSSLROOTCERT.
    sslmode = get("DW_PG_SSLMODE", "verify-full"),
    sslrootcert = get("DW_PG_SSLROOTCERT"),
    statement_timeout_ms = as.integer(get("DW_PG_STATEMENT_TIMEOUT_MS", "15000")),
    # Hash aggregates over a few hundred thousand rows stay in memory instead of spilling.
    work_mem = get("DW_PG_WORK_MEM", "64MB"),
    # SSD storage (EBS gp3): date-range scans of the aggregates' primary keys beat full scans.
    random_page_cost = get("DW_PG_RANDOM_PAGE_COST", "1.1"),
    # Seconds between checks of the warehouse's version (see dw_query); 0 turns the cache off.
    cache_check_s = as.numeric(get("DW_CACHE_CHECK_SECONDS", "60")),
    # A rate from fewer sessions (or views, visitors) than this is greyed and shows its count.
    min_rate_sessions = max(0, suppressWarnings(as.numeric(get("DW_MIN_RATE_SESSIONS", "30"))) %||% 30),
    # The store's currency (ISO 4217), that of every amount in the warehouse (the ETL's
    # ETL_STORE_CURRENCY), and the ETL's attribution lookback, both for labels only.
    store_currency = get("DW_STORE_CURRENCY", "EUR"),
    attribution_lookback_days = as.integer(get("DW_ATTRIBUTION_LOOKBACK_DAYS", "30"))
  )
}

# Rewrites :name placeholders to $1, $2, ... (a repeated name reuses its number) and returns
# the SQL with the parameter names in position order. `::type` casts are left alone.
sql_placeholders <- function(sql) {
  pattern <- "(?<![:A-Za-z0-9_]):([A-Za-z_][A-Za-z0-9_]*)"
  found <- regmatches(sql, gregexpr(pattern, sql, perl = TRUE))[[1]]
  names <- unique(substring(found, 2))
  for (i in seq_along(names)) {
    sql <- gsub(paste0("(?<![:A-Za-z0-9_]):", names[i], "(?![A-Za-z0-9_])"), paste0("$", i), sql, perl = TRUE)
  }
  list(sql = sql, params = names)
}

# A PostgreSQL array literal for a character vector, every element quoted and escaped.
pg_text_array <- function(x) {
  x <- as.character(x)
  x <- x[!is.na(x)]
  if (!length(x)) return("{}")
  escaped <- gsub("([\"\\\\])", "\\\\\\1", x)
  paste0("{", paste0("\"", escaped, "\"", collapse = ","), "}")
}

# One value as the text PostgreSQL parses for its parameter.
pg_param_text <- function(value, name) {
  if (is.null(value)) stop("missing value for query parameter :", name)
  if (inherits(value, "Date")) return(format(value, "%Y-%m-%d"))
  if (inherits(value, "POSIXt")) return(format(value, "%Y-%m-%dT%H:%M:%OS6Z", tz = "UTC"))
  if (is.logical(value) && length(value) == 1 && !is.na(value)) return(if (value) "true" else "false")
  if (is.numeric(value) && length(value) == 1 && !is.na(value)) return(format(value, scientific = FALSE))
  if (is.character(value) && length(value) == 1 && !is.na(value) && !isTRUE(attr(value, "array"))) return(value)
  if (is.character(value) || is.factor(value) || length(value) == 0) return(pg_text_array(value))
  stop("unsupported value for query parameter :", name)
}

# Marks a character vector as a text[] parameter even when it has a single element.
as_pg_array <- function(x) {
  x <- as.character(if (is.null(x)) character(0) else x)
  attr(x, "array") <- TRUE
  x
}

# Compiled on first use: R/ files are sourced alphabetically, before queries.R is.
.compiled <- new.env(parent = emptyenv())
compiled_query <- function(name) {
  if (is.null(.compiled[[name]])) {
    sql <- QUERIES[[name]]
    if (is.null(sql)) stop("unknown query: ", name)
    .compiled[[name]] <- sql_placeholders(sql)
  }
  .compiled[[name]]
}

dw_open <- function(settings = dw_settings()) {
  dw <- new.env(parent = emptyenv())
  dw$settings <- settings
  dw$con <- NULL
  dw$timings <- data.frame(query = character(0), ms = numeric(0))
  dw$record_timings <- FALSE
  dw$cache <- cachem::cache_mem(max_size = 64 * 1024^2)
  dw$version <- NULL
  dw$version_checked_at <- -Inf
  dw$db_calls <- 0L
  dw$warmed_for <- NULL
  dw
}

# The warehouse only changes when an ETL run finishes (every 30 minutes), so results are cached
# in the R process, shared by every browser session, and keyed by the latest finished run:
# when a run finishes, every cached result is stale at the next check.
dw_version <- function(dw) {
  now <- proc.time()[["elapsed"]]
  if (is.null(dw$version) || now - dw$version_checked_at >= dw$settings$cache_check_s) {
    v <- dw_run(dw, "SELECT count(finished_at)::text || '@' || coalesce(max(finished_at)::text, '') AS v FROM health_etl_runs",
                list())
    dw$version <- v$v[1]
    dw$version_checked_at <- now
  }
  dw$version
}

# verify-full (the default) checks the warehouse's certificate against the deployment's CA
# (DW_PG_SSLROOTCERT) and its host name; anything weaker is an explicit opt-out, said once per
# process on stderr.
.dw_tls_warned <- new.env(parent = emptyenv())
dw_warn_unverified <- function(sslmode) {
  if (sslmode %in% c("verify-full", "verify-ca") || isTRUE(.dw_tls_warned$done)) return(invisible(FALSE))
  .dw_tls_warned$done <- TRUE
  message("WARNING: warehouse TLS certificate is not verified (DW_PG_SSLMODE=", sslmode,
          "): use verify-full with the deployment's CA certificate in DW_PG_SSLROOTCERT")
  invisible(TRUE)
}

dw_connect <- function(dw) {
  s <- dw$settings
  if (!nzchar(s$user)) stop("DW_PG_USER is not set: the dashboards need the read-only warehouse login")
  Sys.setenv(PGSSLMODE = s$sslmode, PGAPPNAME = "clickstream-dashboards", PGCONNECT_TIMEOUT = "10")
  dw_warn_unverified(s$sslmode)
  if (nzchar(s$sslrootcert)) Sys.setenv(PGSSLROOTCERT = s$sslrootcert)
  con <- DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = s$host, port = s$port, dbname = s$dbname,
                        user = s$user, password = as.character(s$password)[1])
  # Read-only and bounded even if the role were ever given more than SELECT.
  DBI::dbGetQuery(con, "SET TIME ZONE 'UTC'")
  DBI::dbGetQuery(con, "SET default_transaction_read_only = on")
  DBI::dbGetQuery(con, paste0("SET statement_timeout = ", as.integer(s$statement_timeout_ms)))
  # Both values are checked against a strict pattern before they are put in a SET.
  if (grepl("^[0-9]+(kB|MB|GB)$", s$work_mem %||% "")) DBI::dbGetQuery(con, paste0("SET work_mem = '", s$work_mem, "'"))
  if (grepl("^[0-9]+(\\.[0-9]+)?$", s$random_page_cost %||% "")) {
    DBI::dbGetQuery(con, paste0("SET random_page_cost = ", s$random_page_cost))
  }
  dw$con <- con
  invisible(dw)
}

dw_cache_clear <- function(dw) {
  dw$cache$reset()
  dw$version <- NULL
  invisible(dw)
}

dw_close <- function(dw) {
  if (!is.null(dw$con)) try(DBI::dbDisconnect(dw$con), silent = TRUE)
  dw$con <- NULL
  invisible(dw)
}

# dbSendQuery rather than dbGetQuery: RPostgreSQL's dbGetQuery turns a failed statement into
# a warning and NULL, which would look like an empty result.
dw_run <- function(dw, sql, values) {
  if (is.null(dw$con)) dw_connect(dw)
  dw$db_calls <- dw$db_calls + 1L
  res <- if (length(values)) DBI::dbSendQuery(dw$con, sql, values) else DBI::dbSendQuery(dw$con, sql)
  on.exit(DBI::dbClearResult(res))
  if (!identical(as.integer(DBI::dbGetInfo(res)$isSelect), 1L)) return(data.frame())
  DBI::dbFetch(res, n = -1)
}

# Runs QUERIES[[name]] with values taken by name from `params`; returns a data frame.
# Results are cached (see dw_version) unless the query is about the ETL itself (health_*) or
# the cache is off (DW_CACHE_CHECK_SECONDS=0).
dw_query <- function(dw, name, params = list()) {
  q <- compiled_query(name)
  values <- lapply(q$params, function(p) pg_param_text(params[[p]], p))
  started <- proc.time()[["elapsed"]]
  result <- tryCatch(dw_query_cached(dw, name, q, values), error = function(e) {
    # A dropped connection (warehouse restart, idle timeout) gets one fresh attempt.
    dw_close(dw)
    dw_query_cached(dw, name, q, values)
  })
  if (isTRUE(dw$record_timings)) {
    dw$timings[nrow(dw$timings) + 1, ] <- list(name, (proc.time()[["elapsed"]] - started) * 1000)
  }
  if (is.null(result)) result <- data.frame()
  result
}

dw_query_cached <- function(dw, name, q, values) {
  if (dw$settings$cache_check_s <= 0 || startsWith(name, "health_")) return(dw_run(dw, q$sql, values))
  key <- rlang::hash(list(name, values, dw_version(dw)))
  hit <- dw$cache$get(key)
  if (!cachem::is.key_missing(hit)) return(hit)
  result <- dw_run(dw, q$sql, values)
  dw$cache$set(key, result)
  result
}

# dw_query for the UI: an error becomes an empty frame carrying the message, so a chart shows
# its empty state with the reason instead of the whole app failing.
dw_query_safe <- function(dw, name, params = list()) {
  tryCatch(dw_query(dw, name, params), error = function(e) {
    message("query ", name, " failed: ", conditionMessage(e))
    structure(data.frame(), error = conditionMessage(e))
  })
}
