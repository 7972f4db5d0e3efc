-- No poison objects: one raw object the ETL cannot read no longer fails every run. The ledger
-- records what became of each object a run tried to read:
--   loaded   read and loaded (every row before this migration);
--   rejected read, but its bytes do not decode (reason unreadable_object, one rejection at
--            line 0): read again only when its ETag changes, since the same bytes would fail
--            the same way;
--   skipped  S3 would not hand it over: reason archived (InvalidObjectState: GLACIER or
--            DEEP_ARCHIVE, not restored), deleted (NoSuchKey: gone between listing and read)
--            or changed (PreconditionFailed: rewritten since it was listed). Read again when
--            the listing shows another ETag or storage class, or once retry_after has come
--            (lambdas/etl/load.py SKIP_RETRY_FIRST, doubling, at most SKIP_RETRY_LONGEST).
-- A skipped key whose earlier version was loaded keeps that version's counts and loaded_at:
-- its events stay in the warehouse until a version is read. loaded_at is NULL for a key no
-- version of which was ever read.
ALTER TABLE etl_object_ledger
  ADD COLUMN status text NOT NULL DEFAULT 'loaded' CHECK (status IN ('loaded', 'rejected', 'skipped')),
  ADD COLUMN reason text,                -- unreadable_object | archived | deleted | changed
  ADD COLUMN detail text,                -- the decoder's or S3's message
  ADD COLUMN storage_class text,         -- as last listed
  ADD COLUMN failed_at timestamptz,      -- when last rejected or skipped
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,  -- consecutive skips of this ETag
  ADD COLUMN retry_after timestamptz,    -- skipped: read again from then on though unchanged
  ADD CONSTRAINT etl_object_ledger_reason_check CHECK ((status = 'loaded') = (reason IS NULL)),
  ALTER COLUMN loaded_at DROP NOT NULL;

-- Objects already ledgered whose bytes did not decode are what 'rejected' means now.
UPDATE etl_object_ledger l
SET status = 'rejected', reason = 'unreadable_object', detail = r.reason, failed_at = r.rejected_at
FROM etl_rejected_events r
WHERE r.reason_code = 'unreadable_object' AND r.line_no = 0 AND r.object_key = l.object_key
  AND l.events_read = 1 AND l.events_rejected = 1;

-- The Data health tab lists the objects not loaded, newest first; normally a handful.
CREATE INDEX etl_object_ledger_not_loaded_idx ON etl_object_ledger (failed_at) WHERE status <> 'loaded';

ALTER TABLE etl_runs ADD COLUMN objects_skipped integer NOT NULL DEFAULT 0;
