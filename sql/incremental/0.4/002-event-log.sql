-- motion schema 0.4: finished events keep their data in the job log (for lineage and replay) until
-- the retention policy (keep_events, keep_versions) prunes them. Incremental: runs once.

ALTER TABLE motion.job_log
    ADD COLUMN route integer,
    ADD COLUMN relation text,
    ADD COLUMN op text,
    ADD COLUMN row_data jsonb;          -- NULL: pruned by retention, or finished before 0.4
CREATE INDEX job_log_by_run ON motion.job_log (run_id);
