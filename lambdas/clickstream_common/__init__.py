"""Code shared by the ingest and ETL Lambdas: the event contract and observability helpers.

Both Lambda zips carry this package at their root (see scripts/build_lambdas.py).
"""
