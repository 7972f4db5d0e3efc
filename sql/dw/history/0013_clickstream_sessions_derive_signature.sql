-- A digest of everything the daily funnel and page-transition aggregates read from a session
-- (its events included). When the ETL derives a session again only because identity
-- stitching changed its user, the digest is unchanged and its day is not recomputed.
-- NULL for sessions derived before this column existed: their day is recomputed once.
ALTER TABLE clickstream_sessions ADD COLUMN derive_signature text;
