-- motion schema 0.5: a plain claim marks its run, not its events (issue 15). The run records the
-- ids of the events it took (ascending); the events stay 'pending' untouched until the run ends,
-- when completion moves them into motion.job_log in one statement (DELETE ... RETURNING feeding
-- the INSERT). So an event is written once after its insert: by its completion, or by a failure.
-- Keyed runs (STATE PER) still mark their events 'running' (job_ids NULL). Incremental: runs once.

ALTER TABLE motion.runs ADD COLUMN job_ids bigint[];

-- a finished event keeps the errors of its failed attempts (NULL: none) in the log
ALTER TABLE motion.job_log ADD COLUMN errors jsonb;
