# Test set-up: the app's R files, and scratch warehouses on the test PostgreSQL cluster
# (scripts/pg_test_cluster.sh; scripts/test.sh exports CLICKSTREAM_TEST_PG_*). A scratch
# database gets the real migrations through scripts/migrate_dw.py, a throwaway read-only login,
# and optionally the fixture rows of tests/fixtures/small_dw.sql; both are dropped afterwards.
suppressPackageStartupMessages({
  library(shiny)
  library(testthat)
})
Sys.setenv(TZ = "UTC")

APP_DIR <- normalizePath(file.path(testthat::test_path(), "..", ".."))
REPO_DIR <- normalizePath(file.path(APP_DIR, ".."))
for (f in sort(list.files(file.path(APP_DIR, "R"), pattern = "\\.R$", full.names = TRUE))) source(f, local = FALSE)

random_suffix <- function(n = 10) paste(sample(c(letters, 0:9), n, replace = TRUE), collapse = "")

test_pg <- function() {
  if (!nzchar(Sys.getenv("CLICKSTREAM_TEST_PG_PORT"))) {
    out <- system2(file.path(REPO_DIR, "scripts", "pg_test_cluster.sh"), "start", stdout = TRUE)
    for (line in out) {
      kv <- strsplit(sub("^export ", "", line), "=", fixed = TRUE)[[1]]
      do.call(Sys.setenv, stats::setNames(list(paste(kv[-1], collapse = "=")), kv[1]))
    }
  }
  list(host = Sys.getenv("CLICKSTREAM_TEST_PG_HOST", "127.0.0.1"), port = as.integer(Sys.getenv("CLICKSTREAM_TEST_PG_PORT")),
       user = Sys.getenv("CLICKSTREAM_TEST_PG_USER", "postgres"),
       password_file = Sys.getenv("CLICKSTREAM_TEST_PG_PASSWORD_FILE"))
}

pg_admin <- function(pg, dbname = "postgres") {
  Sys.setenv(PGSSLMODE = "disable")
  DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = pg$host, port = pg$port, dbname = dbname, user = pg$user,
                 password = readLines(pg$password_file, n = 1, warn = FALSE))
}

# Creates a migrated scratch warehouse and returns its reader settings; `fixture` names a file
# in tests/fixtures to load as the owner. Dropped when `env` (the calling test) ends.
scratch_dw <- function(fixture = "small_dw.sql", env = parent.frame()) {
  pg <- test_pg()
  name <- paste0("shiny_", random_suffix())
  reader <- paste0("shiny_reader_", random_suffix())
  reader_password <- random_suffix(32)
  admin <- pg_admin(pg)
  DBI::dbGetQuery(admin, sprintf('CREATE DATABASE "%s"', name))
  withr::defer({
    try(DBI::dbGetQuery(admin, sprintf('DROP DATABASE IF EXISTS "%s" WITH (FORCE)', name)), silent = TRUE)
    try(DBI::dbGetQuery(admin, sprintf('DROP ROLE IF EXISTS "%s"', reader)), silent = TRUE)
    DBI::dbDisconnect(admin)
  }, envir = env)
  password_file <- tempfile()
  writeLines(reader_password, password_file)
  Sys.chmod(password_file, "0600")
  # R exports its own LD_LIBRARY_PATH, which can point a shared-library Python at the wrong
  # libpython; the migration runs with the caller's environment minus that.
  status <- system2("env", c(
    "-u", "LD_LIBRARY_PATH", file.path(REPO_DIR, ".venv", "bin", "python"),
    file.path(REPO_DIR, "scripts", "migrate_dw.py"), "--host", pg$host, "--port", pg$port, "--database", name,
    "--user", pg$user, "--password-file", pg$password_file, "--sslmode", "disable",
    "--reader-user", reader, "--reader-password-file", password_file
  ), stdout = FALSE)
  unlink(password_file)
  if (status != 0) stop("scripts/migrate_dw.py failed with status ", status)
  if (!is.null(fixture)) {
    owner <- pg_admin(pg, name)
    DBI::dbGetQuery(owner, paste(readLines(file.path(APP_DIR, "tests", "fixtures", fixture)), collapse = "\n"))
    DBI::dbDisconnect(owner)
  }
  dw <- dw_open(list(host = pg$host, port = pg$port, dbname = name, user = reader, password = reader_password,
                     sslmode = "disable", sslrootcert = "", statement_timeout_ms = 15000L, work_mem = "64MB",
                     cache_check_s = 60))
  dw$admin <- function() pg_admin(pg, name)
  withr::defer(dw_close(dw), envir = env)
  dw
}

# The global filters as filters_server() returns them.
test_filters <- function(start = "2026-01-12", end = "2026-01-18", ...) {
  f <- list(start = as.Date(start), end = as.Date(end), login_state = NULL, device_type = NULL, channel = NULL,
            product_category = NULL, include_bots = FALSE)
  modifyList(f, list(...))
}
