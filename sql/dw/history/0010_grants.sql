-- Least privilege: the ETL writer reads and writes warehouse tables (never DDL except through
-- dw_ensure_event_partitions); the dashboard reader only reads. Neither owns anything.
GRANT USAGE ON SCHEMA public TO clickstream_etl_writer, clickstream_dashboard_reader;

GRANT SELECT, INSERT, UPDATE, DELETE ON
  clickstream_events, clickstream_event_ids, clickstream_identity_map, clickstream_sessions,
  clickstream_visitors, agg_hourly_activity, agg_daily_product_engagement, agg_daily_funnel,
  agg_weekly_retention, agg_page_transitions,
  etl_runs, etl_object_ledger, etl_rejected_events, etl_pending_groups, etl_pending_hours
TO clickstream_etl_writer;
GRANT SELECT ON clickstream_event_sessions TO clickstream_etl_writer;
GRANT EXECUTE ON FUNCTION dw_ensure_event_partitions(timestamptz, timestamptz) TO clickstream_etl_writer;
REVOKE EXECUTE ON FUNCTION dw_ensure_event_partitions(timestamptz, timestamptz) FROM PUBLIC;

GRANT SELECT ON
  clickstream_events, clickstream_identity_map, clickstream_sessions, clickstream_visitors,
  clickstream_event_sessions, agg_hourly_activity, agg_daily_product_engagement, agg_daily_funnel,
  agg_weekly_retention, agg_page_transitions, etl_runs, etl_object_ledger, etl_rejected_events
TO clickstream_dashboard_reader;
