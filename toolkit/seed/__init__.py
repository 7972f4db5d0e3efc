"""Moving a seed deployment (SBW-Cloudworks ClickStream.Lambda) onto this platform.

``import_dw`` imports the seed's warehouse table through the ETL's own path; the seed's raw
objects need no tool (the ETL recognises them by their shape). See docs/seed-migration.md.
"""
