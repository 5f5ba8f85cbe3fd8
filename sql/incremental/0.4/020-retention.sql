-- motion schema 0.4: retention (keep_versions, keep_events). A pruned version loses its state
-- (state entries, and blobs no other entry uses) but keeps its motion.versions row as a tombstone, so
-- the version chain back to setup stays navigable. Incremental: runs once.

ALTER TABLE motion.versions ADD COLUMN pruned_at timestamptz;   -- NULL: its state is kept

-- which entries still use a blob: pruning asks it for every blob a pruned version used (and the
-- foreign key asks it for every blob deleted)
CREATE INDEX state_entries_by_blob ON motion.state_entries (blob_id);

-- pruning walks each trigger's logged events oldest first
CREATE INDEX job_log_by_trigger ON motion.job_log (trigger_name, created_at);
