-- motion schema 0.4: backpressure, chains and validation (issue 12 items 3, 4 "validation", 5).
-- Incremental: runs once; never edited after the release.

-- discard_after (seconds; NULL: keep every event) and keep_latest (NULL: keep every event): what the
-- worker sheds from a trigger's backlog before it claims; expect (canonical JSON of per-column
-- rules; NULL: none) and on_violation ('raise' or 'record'): motion_pg.runtime.expect.
ALTER TYPE motion.settings
    ADD ATTRIBUTE discard_after float8,
    ADD ATTRIBUTE keep_latest integer,
    ADD ATTRIBUTE expect text,
    ADD ATTRIBUTE on_violation text;

UPDATE motion.triggers SET settings.on_violation = 'raise';
UPDATE motion.versions SET settings.on_violation = 'raise';

ALTER TABLE motion.triggers ADD CONSTRAINT settings_flow_valid CHECK (
    ((settings).discard_after IS NULL OR (settings).discard_after > 0)
    AND ((settings).keep_latest IS NULL OR (settings).keep_latest > 0)
    AND (settings).on_violation IN ('raise', 'record'));

-- Events the worker shed from a backlog (never silently lost): per trigger, reason and minute, how
-- many and the creation times of the oldest and newest of them.
CREATE TABLE motion.discards (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    reason text NOT NULL CHECK (reason IN ('discard_after', 'keep_latest')),
    minute timestamptz NOT NULL,             -- when they were discarded, to the minute
    events bigint NOT NULL,
    oldest_created_at timestamptz NOT NULL,
    newest_created_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,            -- the last discard of that minute
    PRIMARY KEY (trigger_name, reason, minute)
);

-- Rows that broke an expectation under on_violation = 'record' (stage 'infer': the row was stored;
-- 'fit': the event was left out of the fit).
CREATE TABLE motion.violations (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    stage text NOT NULL CHECK (stage IN ('infer', 'fit')),
    relation text NOT NULL,
    row_key jsonb,
    column_name text NOT NULL,
    value text,
    problem text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX violations_by_trigger ON motion.violations (trigger_name, id);

-- Chains (motion_pg.compiler.chains): the output columns a route's class declares, how deep the
-- route sits in its relation's chain (its Postgres triggers are named for it, which is the order
-- Postgres fires them in), and the input columns of the routes upstream of it, which its UPDATE
-- triggers also fire on (NULL: an upstream route fires on every UPDATE, so this one does too).
ALTER TABLE motion.routes
    ADD COLUMN outputs text[] NOT NULL DEFAULT '{}',
    ADD COLUMN chain_depth integer NOT NULL DEFAULT 0,
    ADD COLUMN chain_columns text[] DEFAULT '{}';

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.discards', '');
SELECT pg_catalog.pg_extension_config_dump('motion.violations', '');
SELECT pg_catalog.pg_extension_config_dump('motion.violations_id_seq', '');
-- extension-only: end
