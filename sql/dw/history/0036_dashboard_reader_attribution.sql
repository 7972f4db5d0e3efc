-- The Revenue tab shows credited conversions and revenue by attribution model: the
-- dashboards' login reads the aggregate now that a tab reads it (sql/dw/history/0034).
GRANT SELECT ON agg_daily_attribution TO clickstream_dashboard_reader;
