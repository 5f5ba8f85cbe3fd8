-- Backfill: re-infer the rows already stored (motion_pg.runtime.backfill). Idempotent: re-applied
-- by every install and upgrade (CREATE OR REPLACE). Administrators only: every function here is
-- revoked from PUBLIC and runs with its caller's rights (the condition is the caller's SQL).

-- Start a backfill run of a trigger (or resume its running run with the same intent); returns the
-- run as jsonb. Nothing is inferred yet: motion.backfill_step does, one chunk per call.
CREATE OR REPLACE FUNCTION motion.backfill_start(trigger_name text, stale boolean DEFAULT false,
                                                 condition text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import backfill
return backfill.entry(plpy, backfill.start, trigger_name, bool(stale), condition)
$$;
REVOKE ALL ON FUNCTION motion.backfill_start(text, boolean, text) FROM PUBLIC;

-- Re-infer the next chunk of rows of run `run` in the caller's transaction: call it once per
-- transaction (autocommit) so each chunk commits with the run's progress. Returns the run as
-- jsonb; its state is 'done' once every row was visited.
CREATE OR REPLACE FUNCTION motion.backfill_step(run bigint, chunk integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import backfill
return backfill.entry(plpy, backfill.step, run, chunk)
$$;
REVOKE ALL ON FUNCTION motion.backfill_step(bigint, integer) FROM PUBLIC;

-- CALL motion.backfill('name'): a whole run from SQL, committing after each chunk. A procedure
-- that commits cannot pin its search_path: every name here is schema-qualified.
CREATE OR REPLACE PROCEDURE motion.backfill(trigger_name text, stale boolean DEFAULT false,
                                            condition text DEFAULT NULL,
                                            chunk integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
DECLARE
    run jsonb;
BEGIN
    run := motion.backfill_start(trigger_name, stale, condition);
    COMMIT;
    WHILE run OPERATOR(pg_catalog.->>) 'state' = 'running' LOOP
        run := motion.backfill_step((run OPERATOR(pg_catalog.->>) 'id')::pg_catalog.int8, chunk);
        COMMIT;
    END LOOP;
    RAISE NOTICE 'motion trigger "%": backfill run % %: % rows visited, % inferred',
        trigger_name, run OPERATOR(pg_catalog.->>) 'id', run OPERATOR(pg_catalog.->>) 'state',
        run OPERATOR(pg_catalog.->>) 'visited', run OPERATOR(pg_catalog.->>) 'inferred';
END
$$;
REVOKE ALL ON PROCEDURE motion.backfill(text, boolean, text, integer) FROM PUBLIC;
