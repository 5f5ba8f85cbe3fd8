-- motion schema 0.5: live experiments and backfill, continued (issue 11 items 2 and 3).
-- Incremental: runs once; never edited after the release.

-- The secret that splits a canary's rows: the canary serves a row when an HMAC-SHA-256 of the
-- row key under this salt falls in its share, so a writer, who chooses row keys, cannot choose
-- which rows the canary serves (motion.experiments is for administrators only). NULL: an
-- experiment created before 0.5, split by a plain SHA-256 of the key as it was then.
ALTER TABLE motion.experiments ADD COLUMN salt text;

-- Runs left by CREATE … WITH (backfill = true) (and ALTER … BACKFILL) beyond the rows inferred
-- inline: the worker drives them (motion_pg.worker.backfill_loop), chunk by chunk.
ALTER TABLE motion.backfills ADD COLUMN by_worker boolean NOT NULL DEFAULT false;

-- motion.compare gained label_at (idempotent/120-experiments.sql makes the new signature)
DROP FUNCTION IF EXISTS motion.compare(text, text, text, timestamptz, text);
