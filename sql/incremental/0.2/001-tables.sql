-- motion schema 0.2: the catalog of motion triggers, their state versions and the fit queue.
-- Incremental: runs once, when a database reaches 0.2; never edited after the release.

-- direct-only: begin
CREATE SCHEMA IF NOT EXISTS motion;
-- direct-only: end
-- Application roles may call motion.warm(); tables and motion.exec stay administrators' only.
GRANT USAGE ON SCHEMA motion TO PUBLIC;

-- Where the database server's Python imports motion_pg and the user's trigger modules from.
CREATE TABLE motion.import_paths (
    position integer PRIMARY KEY,
    path text NOT NULL
);

CREATE SEQUENCE motion.revisions;

CREATE TABLE motion.triggers (
    name text PRIMARY KEY,
    class_ref text NOT NULL,                 -- 'package.module:ClassName'
    params jsonb NOT NULL DEFAULT '{}',
    enabled boolean NOT NULL DEFAULT true,
    serving_version integer,                 -- the version infer reads; NULL before setup ran
    -- changes with every change a backend must reload; from a sequence, so never reused even when
    -- the change rolls back
    revision bigint NOT NULL DEFAULT nextval('motion.revisions'),
    definition text NOT NULL,                -- the canonical CREATE statement
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE motion.routes (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    ordinal integer NOT NULL,
    relation regclass NOT NULL,
    columns text[],                          -- NULL: any UPDATE fires the route
    infer_method text,                       -- NULL: no infer
    fit_method text,                         -- NULL: no fit
    key_columns text[] NOT NULL DEFAULT '{}',-- the relation's primary key, named in errors
    pg_triggers text[] NOT NULL DEFAULT '{}',-- the Postgres triggers made for this route
    PRIMARY KEY (trigger_name, ordinal)
);

-- One row per state version; versions are immutable once written.
CREATE TABLE motion.versions (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    version integer NOT NULL,
    source text NOT NULL CHECK (source IN ('setup', 'fit', 'rollback', 'refit', 'params')),
    run_id bigint,                           -- the fit run that wrote it
    parent_version integer,
    params jsonb NOT NULL,                   -- the params in force when it was written
    state_bytes bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (trigger_name, version)
);

-- Pickled state values, content-addressed per trigger so unchanged values are never rewritten.
CREATE TABLE motion.blobs (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    digest bytea NOT NULL,
    data bytea NOT NULL,
    UNIQUE (trigger_name, digest)
);

CREATE TABLE motion.state_entries (
    trigger_name text NOT NULL,
    version integer NOT NULL,
    key text NOT NULL,
    blob_id bigint NOT NULL REFERENCES motion.blobs,
    PRIMARY KEY (trigger_name, version, key),
    FOREIGN KEY (trigger_name, version) REFERENCES motion.versions ON DELETE CASCADE
);

-- The fit queue: one job per committed event. No foreign keys: it is the hot table.
CREATE TABLE motion.jobs (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    route integer NOT NULL,
    relation text NOT NULL,
    op text NOT NULL,
    row_data jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    run_at timestamptz NOT NULL DEFAULT now(),
    run_id bigint,
    errors jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);

-- the claim walks each trigger's pending events in order; an index on id alone tempts the planner
-- into scanning a deep queue for a trigger that has nothing pending
CREATE INDEX jobs_pending_by_trigger ON motion.jobs (trigger_name, id) WHERE state = 'pending';
CREATE INDEX jobs_dead ON motion.jobs (trigger_name) WHERE state = 'dead';
CREATE INDEX jobs_done ON motion.jobs (finished_at) WHERE state = 'done';
CREATE INDEX jobs_running ON motion.jobs (run_id) WHERE state = 'running';

-- One row per fit call. The partial unique index is the database's guarantee that a trigger has
-- at most one fit running at a time.
CREATE TABLE motion.runs (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    worker_id text NOT NULL,
    state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'succeeded', 'failed', 'abandoned')),
    started_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    finished_at timestamptz,
    jobs integer NOT NULL DEFAULT 0,
    version_before integer,
    version_after integer,
    error text
);
CREATE UNIQUE INDEX runs_one_running_per_trigger ON motion.runs (trigger_name)
    WHERE state = 'running';

-- Finished jobs are pruned from motion.jobs into this compact log.
CREATE TABLE motion.job_log (
    id bigint PRIMARY KEY,
    trigger_name text NOT NULL,
    run_id bigint,
    attempts integer NOT NULL,
    created_at timestamptz NOT NULL,
    finished_at timestamptz
);

-- Live workers; a run whose lease expired and whose worker stopped heartbeating is reclaimed.
CREATE TABLE motion.workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Rows whose infer failed under on_error = 'skip'.
CREATE TABLE motion.infer_errors (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    relation text NOT NULL,
    row_key jsonb,
    error text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Catalog rows, state and queued events are the application's data: pg_dump dumps them with the
-- extension. Workers are live processes and are not dumped.
-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.import_paths', '');
SELECT pg_catalog.pg_extension_config_dump('motion.triggers', '');
SELECT pg_catalog.pg_extension_config_dump('motion.routes', '');
SELECT pg_catalog.pg_extension_config_dump('motion.versions', '');
SELECT pg_catalog.pg_extension_config_dump('motion.blobs', '');
SELECT pg_catalog.pg_extension_config_dump('motion.state_entries', '');
SELECT pg_catalog.pg_extension_config_dump('motion.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('motion.runs', '');
SELECT pg_catalog.pg_extension_config_dump('motion.job_log', '');
SELECT pg_catalog.pg_extension_config_dump('motion.infer_errors', '');
SELECT pg_catalog.pg_extension_config_dump('motion.revisions', '');
SELECT pg_catalog.pg_extension_config_dump('motion.blobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('motion.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('motion.runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('motion.infer_errors_id_seq', '');
-- extension-only: end
