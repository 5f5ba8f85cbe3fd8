-- motion schema 0.4: backfill (ALTER MOTION TRIGGER name BACKFILL, motion-pg backfill, WITH
-- (backfill = true)). Incremental: runs once; never edited after the release.

-- backfill: CREATE infers the rows already in the routed tables (inline when few, else a run
-- left for `motion-pg backfill` / CALL motion.backfill)
ALTER TYPE motion.settings ADD ATTRIBUTE backfill boolean;
UPDATE motion.triggers SET settings.backfill = false;
UPDATE motion.versions SET settings.backfill = false;
ALTER TABLE motion.triggers ADD CONSTRAINT settings_backfill_valid CHECK (
    (settings).backfill IS NOT NULL);

-- One row per backfill run: its intent (mode, condition) and its progress, advanced in the same
-- transaction as each chunk's writes, so a run killed at any point resumes after the last chunk
-- that committed: no chunk re-done, no row skipped. Rows are visited route by route (ordinal) in
-- primary-key order; last_key is the key of the last row visited (as text, one element per key
-- column), NULL before the route's first chunk.
CREATE TABLE motion.backfills (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    mode text NOT NULL CHECK (mode IN ('all', 'stale')),
    condition text,                         -- the WHERE condition as written, NULL: every row
    state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'superseded')),
    route integer,                          -- the route being visited; NULL once done
    last_key text[],
    total bigint NOT NULL DEFAULT 0,        -- rows to visit, counted when the run started
    visited bigint NOT NULL DEFAULT 0,      -- rows visited (inferred or found fresh)
    inferred bigint NOT NULL DEFAULT 0,     -- rows re-inferred
    chunks bigint NOT NULL DEFAULT 0,
    started_by name NOT NULL DEFAULT SESSION_USER,
    started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished_at timestamptz
);
-- at most one running run per trigger: a new intent supersedes the running one
CREATE UNIQUE INDEX backfills_one_running ON motion.backfills (trigger_name)
    WHERE state = 'running';

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.backfills', '');
SELECT pg_catalog.pg_extension_config_dump('motion.backfills_id_seq', '');
-- extension-only: end
