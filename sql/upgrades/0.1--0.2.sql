-- motion schema 0.1 -> 0.2

-- The schema release this database holds (the extension's version when installed as one).
CREATE FUNCTION motion.schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT '0.2'::text $$;

-- Batch infer: an AFTER INSERT statement trigger runs infer_batch over the transition table.
CREATE FUNCTION motion.infer_batch() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import batch
return batch.infer_inserted(plpy, TD)
$$;

-- The enqueue triggers skip a batch infer's write-back into their relation.
CREATE OR REPLACE FUNCTION motion.enqueue_statement() RETURNS trigger
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

CREATE OR REPLACE FUNCTION motion.enqueue_row() RETURNS trigger
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

CREATE FUNCTION motion._refresh(trigger_name text) RETURNS void
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
GD["motion_pg"].refresh(plpy, trigger_name)
$$;
REVOKE ALL ON FUNCTION motion._refresh(text) FROM PUBLIC;

-- The claim walks each trigger's pending events by jobs_pending_by_trigger.
DROP INDEX motion.jobs_pending;
