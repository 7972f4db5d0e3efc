-- The ETL stages each batch in temporary tables: its group needs TEMPORARY on the warehouse
-- database explicitly, since hardened hosts revoke it from PUBLIC.
DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO clickstream_etl_writer', current_database());
END $$;
