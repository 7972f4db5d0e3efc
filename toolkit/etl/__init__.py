"""Operator-side tools around the ETL Lambda (manual runs, backfills)."""
