# The Custom funnel tab with shiny::testServer against a scratch warehouse holding the sessions
# below (the scenario of tests/etl/test_custom_funnel.py, written as session rows), figures
# worked out by hand. Codes: page_view 1, view_item 4, add_to_cart 5, purchase 11, click 16,
# a custom event 0.

cf_dw <- scratch_dw(NULL, env = testthat::teardown_env())
local({
  owner <- cf_dw$admin()
  on.exit(DBI::dbDisconnect(owner))
  DBI::dbGetQuery(owner, "
INSERT INTO clickstream_sessions (session_key, session_group, session_id, client_id, person_key, login_state,
  session_start, session_end, session_date, duration_s, event_count, page_view_count, channel, device_type, is_bot,
  is_bounce, is_engaged, funnel_stage, reached_view_item, reached_add_to_cart, reached_begin_checkout,
  reached_purchase, purchases, revenue, is_first_visit, etl_run_id, event_codes, event_offsets)
SELECT key, 's:' || key, key, client, 'c:' || client, 'anonymous', st, st + make_interval(secs => offs[cardinality(offs)]),
       '2026-02-02', offs[cardinality(offs)], cardinality(codes), 1, 'direct', 'desktop', bot, false, true, 0,
       false, false, false, false, 0, 0, false, 1, codes, offs
FROM (VALUES
  ('a', 'a', '2026-02-02 10:00+00'::timestamptz, '{1,0,4,5,11}'::smallint[], '{0,10,60,120,300}'::int[], false),
  ('b', 'b', '2026-02-02 10:00+00', '{4,16,11,5}', '{0,100,100,200}', false),
  ('c', 'c', '2026-02-02 10:00+00', '{4,5,11}', '{0,1000,1200}', false),
  ('d1', 'd', '2026-02-02 10:00+00', '{4,5}', '{0,60}', false),
  ('d2', 'd', '2026-02-02 12:00+00', '{11}', '{0}', false),
  ('e', 'e', '2026-02-02 10:00+00', '{1}', '{0}', false),
  ('f', 'f', '2026-02-02 10:00+00', '{5,4,5,11}', '{0,30,60,90}', false),
  ('g', 'g', '2026-02-02 10:00+00', '{4,5,11}', '{0,1,2}', true)
) AS v(key, client, st, codes, offs, bot)")
})

cf_filters <- function(...) test_filters(start = "2026-02-02", end = "2026-02-02", ...)
html <- function(x) as.character(x$html)
is_empty_plot <- function(x) grepl("empty-state", paste(as.character(x), collapse = ""), fixed = TRUE)

test_that("custom funnel: in order, any order, the window, visitors, bots", {
  filters <- reactiveVal(cf_filters())
  testServer(custom_funnel_server, args = list(dw = cf_dw, filters = filters), {
    session$setInputs(steps = c("view_item", "add_to_cart", "purchase"), order = "ordered", window_value = 1,
                      window_unit = "days", unit = "sessions")
    session$elapse(500)
    # Step 1: a, b, c, d1, f. Carts after the view: all five (a 60 s, b 200, c 1000, d1 60, f 30);
    # purchases after the cart: a 240 s, c 1200, f 60 (b bought before its cart, d in another session).
    expect_equal(table()$units, c(5, 5, 3))
    expect_equal(table()$of_first, c(1, 1, 0.6))
    expect_equal(table()$drop_off, c(NA, 0, 2))
    expect_match(html(output$kpi_conversion_value), "60.0% (5 sessions)", fixed = TRUE)
    expect_match(html(output$kpi_conversion_value), "low-n", fixed = TRUE)
    expect_match(html(output$kpi_conversion_detail), "3 of 5 sessions that did step 1", fixed = TRUE)
    expect_equal(output$kpi_median_value, "4 min")
    expect_equal(output$kpi_spread_value, "12 min / 16 min 48 s")
    expect_false(is_empty_plot(output$chart))
    csv <- utils::read.csv(output$table_csv, check.names = FALSE)
    expect_equal(names(csv)[1:3], c("Step", "Event", "Units (sessions)"))
    expect_equal(csv$Event, c("Product view", "Add to cart", "Purchase"))
    expect_equal(csv[["Median time"]], c("\u2013", "1 min", "4 min"))

    # Any order: b counts (purchase at 100 s, cart at 200 s, both after its view).
    session$setInputs(order = "any")
    session$elapse(500)
    expect_equal(table()$units, c(5, 5, 4))
    expect_equal(output$kpi_median_value, "3 min 40 s")

    # A 10-minute window cuts c (its cart came 1000 s after the view).
    session$setInputs(order = "ordered", window_value = 10, window_unit = "minutes")
    session$elapse(500)
    expect_equal(table()$units, c(5, 4, 2))
    expect_match(output$definition$html, "within 10 min of it", fixed = TRUE)

    # Visitors: d buys in its second session, 2 h after its view: within a day, not an hour.
    session$setInputs(unit = "visitors", window_value = 1, window_unit = "days")
    session$elapse(500)
    expect_equal(table()$units, c(5, 5, 4))
    expect_equal(output$kpi_median_value, "12 min")
    expect_match(html(output$kpi_conversion_detail), "4 of 5 visitors", fixed = TRUE)
    session$setInputs(window_unit = "hours")
    session$elapse(500)
    expect_equal(table()$units, c(5, 5, 3))

    # The bot g converts only when bots are included.
    session$setInputs(unit = "sessions", window_unit = "days")
    filters(cf_filters(include_bots = TRUE))
    session$elapse(500)
    expect_equal(table()$units, c(6, 6, 4))

    # One step is not a funnel: no query, the reason instead.
    session$setInputs(steps = "view_item")
    session$elapse(500)
    expect_match(output$definition$html, "at least two steps", fixed = TRUE)
    expect_true(is_empty_plot(output$chart))
  })
})

test_that("custom funnel: the default view, and an empty warehouse", {
  filters <- reactiveVal(cf_filters())
  testServer(custom_funnel_server, args = list(dw = cf_dw, filters = filters), {
    session$flushReact()
    # view_item -> add_to_cart -> begin_checkout -> purchase: nobody began checkout.
    expect_equal(request()$steps, CUSTOM_FUNNEL_DEFAULT_STEPS)
    expect_equal(table()$units, c(5, 5, 0, 0))
    expect_equal(output$kpi_median_value, "\u2013")
  })
  empty <- scratch_dw(NULL)
  testServer(custom_funnel_server, args = list(dw = empty, filters = filters), {
    session$flushReact()
    expect_true(is_empty_plot(output$chart))
    expect_equal(table()$units, c(0, 0, 0, 0))
  })
})

test_that("the event types a step can be are the warehouse's", {
  expect_equal(dw_query(cf_dw, "custom_funnel_event_types")$event_type, CUSTOM_FUNNEL_EVENTS)
})
