-- motion schema 0.4: refit policies (FIT WHEN, REFIT EVERY, REFIT WHEN) and drift profiles.
-- Incremental: runs once; never edited after the release.

-- on_drift: what a detected drift does ('off': no profiling unless a policy reads drift; 'alert':
-- figures and a warning; 'refit': rebuild from setup; 'pause': hold fitting while drifted).
-- drift_window: how many recent events of each route the rolling profile holds.
ALTER TYPE motion.settings
    ADD ATTRIBUTE on_drift text,
    ADD ATTRIBUTE drift_window integer;
UPDATE motion.triggers SET settings.on_drift = 'off', settings.drift_window = 500;
UPDATE motion.versions SET settings.on_drift = 'off', settings.drift_window = 500;
ALTER TABLE motion.triggers ADD CONSTRAINT settings_drift_valid CHECK (
    (settings).on_drift IN ('off', 'alert', 'refit', 'pause') AND (settings).drift_window > 0);

-- A trigger's policy (motion_pg.policy.Policy.to_json); no row: fit as soon as events exist.
CREATE TABLE motion.fit_policies (
    trigger_name text PRIMARY KEY REFERENCES motion.triggers ON DELETE CASCADE,
    policy jsonb NOT NULL
);

-- REFIT EVERY is a scheduled route whose firing enqueues a 'REFIT' job: its period in seconds
-- (NULL: a cron schedule, ON SCHEDULE).
ALTER TABLE motion.schedules ADD COLUMN refit_every float8;

-- EVERY 'interval' reads the trigger's last successful fit
CREATE INDEX runs_succeeded_by_trigger ON motion.runs (trigger_name, finished_at)
    WHERE state = 'succeeded';

-- Drift profiles (motion_pg.drift.profile) per routed column: the reference (built from the data
-- at setup or REFIT, or pinned) and the current one (the route's recent events).
CREATE TABLE motion.drift_profiles (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    route integer NOT NULL,
    column_name text NOT NULL,
    side text NOT NULL CHECK (side IN ('reference', 'current')),
    kind text NOT NULL CHECK (kind IN ('numeric', 'categorical', 'text', 'vector')),
    profile jsonb NOT NULL,
    source text NOT NULL,           -- setup, refit, pin, first events, events
    built_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (trigger_name, route, column_name, side)
);

-- The last test of each profiled column (motion.drift shows them).
CREATE TABLE motion.drift_figures (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    route integer NOT NULL,
    relation text NOT NULL,
    column_name text NOT NULL,
    kind text NOT NULL,
    statistic text NOT NULL,        -- ks_p_value, chi2_p_value, wasserstein, jensen_shannon, ...
    value float8,                   -- NULL: too few events to judge
    threshold float8 NOT NULL,
    drifted boolean NOT NULL,
    since timestamptz,              -- when it started drifting (NULL: not drifted)
    reference_count integer NOT NULL,
    current_count integer NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (trigger_name, route, column_name)
);

-- Per trigger: the share of drifted columns, whether that is a drift, and the policy's state.
CREATE TABLE motion.drift_status (
    trigger_name text PRIMARY KEY REFERENCES motion.triggers ON DELETE CASCADE,
    share float8 NOT NULL,
    drifted boolean NOT NULL,
    since timestamptz,
    checked_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_event_id bigint,           -- the newest event the current profiles hold
    refit_job_id bigint,            -- the last REFIT job a drift or a policy enqueued
    released_through bigint         -- FIT WHEN met: the events up to this id are fitted, in as
                                    -- many batches as fit_batch needs
);

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.fit_policies', '');
SELECT pg_catalog.pg_extension_config_dump('motion.drift_profiles', '');
SELECT pg_catalog.pg_extension_config_dump('motion.drift_figures', '');
SELECT pg_catalog.pg_extension_config_dump('motion.drift_status', '');
-- extension-only: end
