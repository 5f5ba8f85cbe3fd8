-- motion schema 0.5: async infer round two (issue 14). Incremental: runs once.

-- infer_timeout: seconds one async infer batch may take in the worker's infer process before it is
-- killed (its rows are then retried one by one; a row that times out alone is recorded failed).
ALTER TYPE motion.settings ADD ATTRIBUTE infer_timeout float8;
UPDATE motion.triggers SET settings.infer_timeout = 60;
UPDATE motion.versions SET settings.infer_timeout = 60;
ALTER TABLE motion.triggers ADD CONSTRAINT settings_infer_timeout_valid CHECK (
    (settings).infer_timeout > 0);

-- The write-back mark names the motion trigger whose outputs are being written: a route chained
-- on that trigger's outputs still infers the write-back (motion._async_chained), others skip it.
ALTER TABLE motion.async_writebacks ADD COLUMN trigger_name text;
