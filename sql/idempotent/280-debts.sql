-- Debts of earlier releases (issue 15's follow-up): one error for an unknown motion trigger in the
-- functions written in SQL, and the statement triggers of experiments made before 0.5.
-- Idempotent: re-applied by every install and upgrade.

-- The error for a motion trigger that does not exist (MP101), raised by the functions written in
-- SQL with the message and hint of motion_pg.errors.unknown_trigger (tests/unit/test_errors.py
-- and tests/integration/test_debts.py keep them equal).
CREATE OR REPLACE FUNCTION motion._unknown_trigger(trigger text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'motion trigger "%" does not exist', trigger
        USING ERRCODE = 'MP101', HINT = 'see the triggers with SHOW MOTION TRIGGERS';
END
$$;
REVOKE ALL ON FUNCTION motion._unknown_trigger(text) FROM PUBLIC;

-- The name of a route's Postgres trigger, as motion_pg.triggers_ddl.pg_trigger_name gives it for a
-- route outside a chain (tests/integration/test_debts.py keeps the two equal); self-contained, so
-- an upgrade does not depend on the server importing motion_pg. For the repair below.
CREATE OR REPLACE FUNCTION motion._route_trigger_name(trigger text, ordinal integer, kind text)
RETURNS text
LANGUAGE plpython3u IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
import hashlib
name = "motion_%s_%d_%s" % (trigger, ordinal, kind)
if len(name.encode()) <= 63:
    return name
digest = hashlib.sha1(name.encode()).hexdigest()[:8]
short = trigger.encode()[:30].decode(errors="ignore")
return "motion_%s_%s_%d_%s" % (short, digest, ordinal, kind)
$$;
REVOKE ALL ON FUNCTION motion._route_trigger_name(text, integer, text) FROM PUBLIC;

-- Experiments made before 0.5 have no statement triggers on their infer routes (…_shadow_begin
-- BEFORE, …_shadow_end AFTER each INSERT or UPDATE, motion_pg.compiler.experiments), so their
-- shadow records were written one INSERT per row. Every infer route of a trigger on either side of
-- an experiment gets the ones it lacks, made as CREATE … SHADOW OF / CANARY OF makes them (always
-- enabled; ENABLE ALWAYS with fire_on_replica), named in motion.routes.pg_triggers so that DROP and
-- a later CREATE OR REPLACE see them. Nothing to do on a fresh install, and on a managed one (no
-- PL/Python: its routes infer in the worker, without statement triggers).
DO $$
DECLARE
    r record;
    kinds text[] := ARRAY['shadow_begin', 'shadow_end'];
    whens text[] := ARRAY['BEFORE', 'AFTER'];
    pg_name text;
    made text[];
    i integer;
BEGIN
    IF pg_catalog.to_regprocedure('motion.shadow_statement()') IS NULL THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT ro.trigger_name, ro.ordinal, ro.pg_triggers, n.nspname, c.relname,
               (t.settings).fire_on_replica AS always
        FROM motion.routes ro
        JOIN motion.triggers t ON t.name = ro.trigger_name
        JOIN pg_catalog.pg_class c ON c.oid = ro.relation::oid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE ro.infer_method IS NOT NULL
          AND EXISTS (SELECT FROM motion.experiments e
                      WHERE ro.trigger_name IN (e.trigger_name, e.baseline))
        ORDER BY ro.trigger_name, ro.ordinal
    LOOP
        made := '{}';
        FOR i IN 1..2 LOOP
            pg_name := motion._route_trigger_name(r.trigger_name, r.ordinal, kinds[i]);
            CONTINUE WHEN pg_name = ANY (r.pg_triggers);
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER %I %s INSERT OR UPDATE ON %I.%I FOR EACH STATEMENT '
                'EXECUTE FUNCTION motion.shadow_statement(%L, %L)',
                pg_name, whens[i], r.nspname, r.relname, r.trigger_name, r.ordinal::text);
            IF r.always THEN
                EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER %I',
                                          r.nspname, r.relname, pg_name);
            END IF;
            made := made || pg_name;
        END LOOP;
        IF pg_catalog.cardinality(made) > 0 THEN
            UPDATE motion.routes SET pg_triggers = pg_triggers || made
            WHERE trigger_name = r.trigger_name AND ordinal = r.ordinal;
            UPDATE motion.triggers
            SET revision = pg_catalog.nextval('motion.revisions'::regclass)
            WHERE name = r.trigger_name;
        END IF;
    END LOOP;
END
$$;
