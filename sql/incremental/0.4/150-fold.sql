-- motion schema 0.4: a fit call's budget besides its event cap (fit_batch). Incremental: runs once.

-- fit_batch_bytes: the event data (motion.jobs.row_data as stored) one fit call receives at most;
-- fit_batch_time: the seconds one fit call should take, from the trigger's measured cost per
-- event. NULL: the worker's --fit-batch-bytes / --fit-batch-time.
ALTER TYPE motion.settings
    ADD ATTRIBUTE fit_batch_bytes bigint,
    ADD ATTRIBUTE fit_batch_time float8;

ALTER TABLE motion.triggers ADD CONSTRAINT settings_fit_budget_valid CHECK (
    ((settings).fit_batch_bytes IS NULL OR (settings).fit_batch_bytes > 0)
    AND ((settings).fit_batch_time IS NULL OR (settings).fit_batch_time > 0));
