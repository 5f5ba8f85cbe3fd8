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

CREATE OR REPLACE FUNCTION motion.warm(trigger_name text) RETURNS integer
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].warm(plpy, trigger_name)
$$;

-- BEFORE STATEMENT: once per statement, compare the trigger's serving token with the one this
-- session loaded (a session setting written by motion._refresh); only a change calls into Python.
-- plpgsql, because PL/Python wraps every query in a subtransaction (~40 µs per statement).
CREATE OR REPLACE FUNCTION motion.infer_statement() RETURNS trigger
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

CREATE OR REPLACE FUNCTION motion._refresh(trigger_name text) RETURNS void
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
GD["motion_pg"].refresh(plpy, trigger_name)
$$;
REVOKE ALL ON FUNCTION motion._refresh(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION motion.infer_row() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].infer_row(plpy, TD)
$$;

-- Batch infer: an AFTER INSERT statement trigger runs infer_batch over the transition table.
CREATE OR REPLACE FUNCTION motion.infer_batch() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import batch
return batch.infer_inserted(plpy, TD)
$$;
