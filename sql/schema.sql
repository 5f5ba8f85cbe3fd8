-- motion_pg schema: the catalog of motion triggers, their state versions, the fit queue, and the
-- functions that generated Postgres triggers call. Everything lives in schema `motion`.
-- Requires plpython3u (the backend runtime) and vector (pgvector columns in user relations).

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

-- Catalog views a DBA reads without the CLI.
CREATE VIEW motion.trigger_status AS
SELECT t.name, t.class_ref, t.enabled, t.serving_version, t.params,
       (SELECT string_agg(format('ON %s%s%s%s', r.relation,
                                 CASE WHEN r.columns IS NULL THEN ''
                                      ELSE ' (' || array_to_string(r.columns, ', ') || ')' END,
                                 coalesce(' INFER ' || r.infer_method, ' NO INFER'),
                                 coalesce(' FIT ' || r.fit_method, ' NO FIT')), ' ' ORDER BY r.ordinal)
        FROM motion.routes r WHERE r.trigger_name = t.name) AS routes,
       count(j.id) FILTER (WHERE j.state = 'pending') AS pending,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'dead') AS dead,
       now() - min(j.created_at) FILTER (WHERE j.state = 'pending') AS oldest_pending_age,
       t.created_at, t.updated_at
FROM motion.triggers t LEFT JOIN motion.jobs j ON j.trigger_name = t.name
GROUP BY t.name;

CREATE VIEW motion.version_history AS
SELECT v.trigger_name, v.version, v.created_at, v.source, v.run_id, v.parent_version,
       v.params, v.state_bytes, (v.version = t.serving_version) AS serving,
       (SELECT array_agg(e.key ORDER BY e.key) FROM motion.state_entries e
        WHERE e.trigger_name = v.trigger_name AND e.version = v.version) AS state_keys
FROM motion.versions v JOIN motion.triggers t ON t.name = v.trigger_name;

CREATE VIEW motion.job_summary AS
SELECT trigger_name, state, count(*) AS jobs, now() - min(created_at) AS oldest_age,
       max(attempts) AS max_attempts
FROM motion.jobs GROUP BY trigger_name, state;

-- The backend runtime: every PL/Python function below is a shim into the motion_pg package, which
-- the server imports from the paths in motion.import_paths (see `motion-pg install`).
CREATE FUNCTION motion._bootstrap() RETURNS void
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
import site, sys
paths = [r["path"] for r in plpy.execute("select path from motion.import_paths order by position")]
before = list(sys.path)
for p in paths:
    site.addsitedir(p)
sys.path[:] = [p for p in sys.path if p not in before] + before
try:
    from motion_pg.runtime import backend
except Exception as e:
    plpy.error(
        "the database server cannot import motion_pg: %s: %s" % (type(e).__name__, e),
        detail="python path tried: %s" % (", ".join(paths) or "(none recorded)"),
        hint="run `motion-pg install --path DIR` with the virtualenv and application directories, "
             "readable by the database server's OS user")
GD["motion_pg"] = backend
$$;
REVOKE ALL ON FUNCTION motion._bootstrap() FROM PUBLIC;

CREATE FUNCTION motion.check_import_paths(paths text[]) RETURNS void
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
import getpass, os
bad = []
for p in paths:
    if not os.path.isdir(p):
        bad.append("%s (not a directory the server can see)" % p)
    elif not os.access(p, os.R_OK | os.X_OK):
        bad.append("%s (not readable)" % p)
if bad:
    plpy.error("the database server's OS user %s cannot read %s" % (getpass.getuser(), ", ".join(bad)),
               hint="make those directories and every parent readable by that user (chmod o+rx), "
                    "or keep the virtualenv and the application in a shared location")
$$;
REVOKE ALL ON FUNCTION motion.check_import_paths(text[]) FROM PUBLIC;

CREATE FUNCTION motion.exec(statements text) RETURNS text
LANGUAGE plpython3u AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].exec_statements(plpy, statements)
$$;
REVOKE ALL ON FUNCTION motion.exec(text) FROM PUBLIC;
COMMENT ON FUNCTION motion.exec(text) IS
    'run motion statements (CREATE/ALTER/DROP/SHOW MOTION TRIGGER); administrators only';

CREATE FUNCTION motion.warm(trigger_name text) RETURNS integer
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].warm(plpy, trigger_name)
$$;

-- BEFORE STATEMENT: once per statement, compare the trigger's serving token with the one this
-- session loaded (a session setting written by motion._refresh); only a change calls into Python.
-- plpgsql, because PL/Python wraps every query in a subtransaction (~40 µs per statement).
CREATE FUNCTION motion.infer_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    serving text;
BEGIN
    SELECT t.revision || ':' || coalesce(t.serving_version, 0) || ':' || t.enabled INTO serving
    FROM motion.triggers t WHERE t.name = TG_ARGV[0];
    IF serving IS NULL
       OR serving IS DISTINCT FROM current_setting('motion.serving_' || md5(TG_ARGV[0]), true) THEN
        PERFORM motion._refresh(TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION motion._refresh(trigger_name text) RETURNS void
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
GD["motion_pg"].refresh(plpy, trigger_name)
$$;
REVOKE ALL ON FUNCTION motion._refresh(text) FROM PUBLIC;

CREATE FUNCTION motion.infer_row() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].infer_row(plpy, TD)
$$;

-- Batch infer: an AFTER INSERT statement trigger runs infer_batch over the transition table.
CREATE FUNCTION motion.infer_batch() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import batch
return batch.infer_inserted(plpy, TD)
$$;

-- Fit events of one statement, enqueued with one set-based insert from the transition table.
CREATE FUNCTION motion.enqueue_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- a batch infer writing its outputs back into this relation is not an event
    IF current_setting('motion.writeback', true) = TG_RELID::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)
    SELECT TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, to_jsonb(n)
    FROM motion_new_rows n;
    IF FOUND THEN
        PERFORM pg_notify('motion_jobs', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

-- Fit events of UPDATEs of listed columns (transition tables cannot go with column lists).
CREATE FUNCTION motion.enqueue_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('motion.writeback', true) = TG_RELID::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)
    VALUES (TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, to_jsonb(NEW));
    PERFORM pg_notify('motion_jobs', TG_ARGV[0]);
    RETURN NULL;
END
$$;

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

-- The schema release this database holds (the extension's version when installed as one).
CREATE FUNCTION motion.schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT '0.2'::text $$;
