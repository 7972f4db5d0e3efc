#!/usr/bin/env bash
# The dashboards' R tests: testthat for the calculations and shiny::testServer for every tab
# module against scratch warehouses on the test PostgreSQL cluster (scripts/test.sh starts it
# and exports CLICKSTREAM_TEST_PG_*; run alone, the helper starts it itself).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec Rscript -e 'testthat::test_dir("shiny/tests/testthat", reporter = testthat::ProgressReporter$new(show_praise = FALSE), stop_on_failure = TRUE, stop_on_warning = TRUE)'
