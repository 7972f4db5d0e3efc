"""The ETL Lambda: raw S3 clickstream objects -> PostgreSQL warehouse (see docs/warehouse.md)."""
