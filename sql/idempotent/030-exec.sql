-- motion.exec: the SQL door to motion statements.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE). A function whose
-- signature changes or that goes away is dropped by an incremental file first.

-- The compiler itself: PL/Python pinned to pg_catalog, so no function or operator of a schema on
-- the caller's search_path can stand in for one motion's SQL calls. The caller's path arrives as an
-- argument; the compiler switches to it only to run the caller's own SQL. It returns a failure
-- instead of raising it, so that motion.exec raises it cleanly (no PL/Python CONTEXT lines).
CREATE OR REPLACE FUNCTION motion._exec(statements text, caller_path text[], OUT result text,
                                        OUT sqlstate text, OUT message text, OUT detail text,
                                        OUT hint text)
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.compiler import exec_statements
return exec_statements(plpy, statements, caller_path)
$$;
REVOKE ALL ON FUNCTION motion._exec(text, text[]) FROM PUBLIC;

-- The door: SECURITY INVOKER and not pinned, so it sees the caller's search_path; every name in it
-- is schema-qualified.
CREATE OR REPLACE FUNCTION motion.exec(statements text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM motion._exec(statements, pg_catalog.current_schemas(false)::text[]);
    IF r.sqlstate IS NULL THEN
        RETURN r.result;
    END IF;
    -- RAISE refuses NULL options, hence one branch per combination
    IF r.hint IS NOT NULL AND r.detail IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = r.message, ERRCODE = r.sqlstate, HINT = r.hint,
                              DETAIL = r.detail;
    ELSIF r.hint IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = r.message, ERRCODE = r.sqlstate, HINT = r.hint;
    ELSIF r.detail IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = r.message, ERRCODE = r.sqlstate, DETAIL = r.detail;
    ELSE
        RAISE EXCEPTION USING MESSAGE = r.message, ERRCODE = r.sqlstate;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION motion.exec(text) FROM PUBLIC;
COMMENT ON FUNCTION motion.exec(text) IS
    'run motion statements (CREATE/ALTER/DROP/SHOW MOTION TRIGGER); administrators only';
