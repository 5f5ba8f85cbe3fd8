-- The backend runtime the generated Postgres triggers call.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE). A function whose
-- signature changes or that goes away is dropped by an incremental file first.

-- The backend runtime: every PL/Python function below is a shim into the motion_pg package, which
-- the server imports from the paths in motion.import_paths (see `motion-pg install`).
CREATE OR REPLACE FUNCTION motion._bootstrap() RETURNS void
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

CREATE OR REPLACE FUNCTION motion.check_import_paths(paths text[]) RETURNS void
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

-- Loads a trigger into this backend before its first write (a pool's connect hook). Revoked from
-- PUBLIC: an administrator grants it to the pool role; even then it answers only for a trigger with
-- a relation the session's login role may INSERT into or UPDATE (others look like absent ones).
CREATE OR REPLACE FUNCTION motion.warm(trigger_name text) RETURNS integer
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].warm(plpy, trigger_name)
$$;
REVOKE ALL ON FUNCTION motion.warm(text) FROM PUBLIC;

-- Every trigger function below refuses to run unless the catalog names the Postgres trigger that
-- calls it (TG_NAME) for exactly that relation and route (row triggers: or a partition of it, onto
-- which Postgres clones them): EXECUTE on them is revoked from PUBLIC (Postgres checks it at
-- CREATE TRIGGER, not when a trigger fires), and an administrator's own stray CREATE TRIGGER is
-- refused as well. Statement triggers fire for the relation they were made on, never a partition.

-- BEFORE STATEMENT: once per statement, read the trigger's serving token from the catalog and hand
-- it to motion._check_serving, which compares it with the one this backend loaded (kept in the
-- backend's Python memory, which no client can set), reloads only when they differ, and checks the
-- calling Postgres trigger against the loaded routes (current: a route change changes the token).
-- plpgsql, because PL/Python wraps every query in a subtransaction (~40 µs per statement).
CREATE OR REPLACE FUNCTION motion.infer_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    serving text;
    checked boolean;
BEGIN
    -- the worker writing async outputs back: only routes chained on them infer it (the cheap
    -- setting first; motion._async_writing checks the worker's mark)
    -- coalesce: NULL (the setting unset) AND … would call motion._async_writing (~170k
    -- instructions, most of a single-row statement) instead of stopping at the cheap test
    IF coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
       AND motion._async_writing()
       AND NOT motion._async_chained(TG_ARGV[0], TG_ARGV[1]::integer) THEN
        PERFORM motion._async_skip(TG_ARGV[0]);  -- and its row triggers in this statement
        RETURN NULL;
    END IF;
    SELECT t.revision || ':' || coalesce(t.serving_version, 0) || ':' || t.enabled INTO serving
    FROM motion.triggers t WHERE t.name = TG_ARGV[0];
    -- the statement's transaction, time and login role go into the lineage stamps of its rows;
    -- an assignment, not PERFORM: PL/pgSQL evaluates it as a simple expression, where PERFORM
    -- always starts an executor for it through SPI. The time goes as timestamptz_send's 8 bytes
    -- (µs since 2000, exact): EXTRACT(epoch …) computes in numeric (~9k instructions).
    checked := motion._check_serving(TG_ARGV[0], serving, TG_ARGV[1], TG_RELID, TG_NAME,
        pg_catalog.txid_current(),  -- pg_current_xact_id()::text::int8 without the text
        pg_catalog.timestamptz_send(pg_catalog.statement_timestamp()),
        pg_catalog.to_regrole(pg_catalog.quote_ident(SESSION_USER))::oid::int8);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion.infer_statement() FROM PUBLIC;

-- Invoker's rights and no SET clause of its own: it runs inside motion.infer_statement, its only
-- caller, whose owner rights and pinned search_path it inherits (a function-level SET costs
-- ~1.5 µs per statement); revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion._check_serving(trigger_name text, token text, ordinal text,
                                                 relid oid, pg_trigger name, xact int8,
                                                 at bytea, role int8) RETURNS boolean
LANGUAGE plpython3u AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].check_serving(plpy, trigger_name, token, ordinal, relid, pg_trigger, xact,
                                     at, role)
$$;
REVOKE ALL ON FUNCTION motion._check_serving(text, text, text, oid, name, int8, bytea, int8)
    FROM PUBLIC;

CREATE OR REPLACE FUNCTION motion._refresh(trigger_name text) RETURNS void
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
GD["motion_pg"].refresh(plpy, trigger_name)
$$;
REVOKE ALL ON FUNCTION motion._refresh(text) FROM PUBLIC;

-- Whether a batch infer of this backend is writing its outputs back into relation relid right now
-- (motion_pg.runtime.backend.writing_back): then the enqueue triggers skip the write-back's UPDATE.
-- No SQL inside; revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion._writing_back(relid oid) RETURNS boolean
LANGUAGE plpython3u AS $$
backend = GD.get("motion_pg")
return backend is not None and str(relid) in backend.writing_back
$$;
REVOKE ALL ON FUNCTION motion._writing_back(oid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION motion.infer_row() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].infer_row(plpy, TD)
$$;
REVOKE ALL ON FUNCTION motion.infer_row() FROM PUBLIC;

-- Batch infer: an AFTER INSERT statement trigger runs infer_batch over the transition table.
CREATE OR REPLACE FUNCTION motion.infer_batch() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import batch
return batch.infer_inserted(plpy, TD)
$$;
REVOKE ALL ON FUNCTION motion.infer_batch() FROM PUBLIC;

-- The error of a Postgres trigger that calls one of motion's trigger functions ($1) but that motion
-- did not create for that relation (a role cannot borrow motion's functions for its own triggers).
CREATE OR REPLACE FUNCTION motion._refuse_foreign_trigger(fn text, tg_name name, tg_schema name,
                                                          tg_table name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'trigger "%" on relation %.% calls %, but motion did not create it for that relation',
        tg_name, pg_catalog.quote_ident(tg_schema), pg_catalog.quote_ident(tg_table), fn
        USING ERRCODE = '42501',
              HINT = 'drop that trigger: motion''s triggers are made by CREATE MOTION TRIGGER';
END
$$;
REVOKE ALL ON FUNCTION motion._refuse_foreign_trigger(text, name, name, name) FROM PUBLIC;
