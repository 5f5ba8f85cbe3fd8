-- motion schema 0.4: keyed state (STATE PER). Incremental: runs once; never edited after the
-- release.

-- the columns a keyed trigger keeps one state per value of (NULL: one state for the trigger)
ALTER TABLE motion.triggers ADD COLUMN state_per text[];

-- key_cache: how many keys' states a backend keeps loaded per keyed trigger (an LRU)
ALTER TYPE motion.settings ADD ATTRIBUTE key_cache integer;
UPDATE motion.triggers SET settings.key_cache = 10000;
UPDATE motion.versions SET settings.key_cache = 10000;
ALTER TABLE motion.triggers ADD CONSTRAINT settings_key_cache_valid
    CHECK ((settings).key_cache > 0);

-- an event's key under its trigger's STATE PER columns: jsonb array of the row's values, in the
-- order of the columns (NULL for triggers without STATE PER)
ALTER TABLE motion.jobs ADD COLUMN state_key jsonb;
-- a key's pending events in order: the keyed claim asks whether an earlier one waits for a retry
CREATE INDEX jobs_pending_by_key ON motion.jobs (trigger_name, state_key, id)
    WHERE state = 'pending' AND state_key IS NOT NULL;

-- a keyed trigger runs fits of different keys at once: its runs are not limited to one per trigger
-- (motion.key_runs holds one run per key instead). The index keeps its predicate, so every query
-- on running runs reads it as before; a keyed run is unique by its own id.
ALTER TABLE motion.runs ADD COLUMN keyed boolean NOT NULL DEFAULT false;
DROP INDEX motion.runs_one_running_per_trigger;
CREATE UNIQUE INDEX runs_one_running_per_trigger
    ON motion.runs (trigger_name, (CASE WHEN keyed THEN id ELSE 0 END))
    WHERE state = 'running';

-- The keys a running keyed fit holds: the primary key is the database's guarantee that no two
-- fits of one key run at once. A row goes away when its run stops running (motion._release_keys).
CREATE TABLE motion.key_runs (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    state_key jsonb NOT NULL,
    run_id bigint NOT NULL REFERENCES motion.runs ON DELETE CASCADE,
    PRIMARY KEY (trigger_name, state_key)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX key_runs_by_run ON motion.key_runs (run_id);

-- The state of each key, one row per version that changed it: the key's state at version v is
-- its newest row with version <= v (data NULL: the key has no state of its own there, e.g. after
-- a rollback to before its first fit). data is the key's whole state, one pickled dict.
CREATE TABLE motion.key_states (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    key jsonb NOT NULL,
    version integer NOT NULL,
    data bytea,
    PRIMARY KEY (trigger_name, key, version)
);
-- the keys a range of versions changed (a backend drops exactly those from its cache)
CREATE INDEX key_states_by_version ON motion.key_states (trigger_name, version);

-- key states are the application's data: pg_dump dumps them with the extension (key_runs holds
-- only what running fits hold: not dumped)
-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.key_states', '');
-- extension-only: end
