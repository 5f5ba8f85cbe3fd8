-- motion.exec: the SQL door to motion statements.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE). A function whose
-- signature changes or that goes away is dropped by an incremental file first.

CREATE OR REPLACE FUNCTION motion.exec(statements text) RETURNS text
LANGUAGE plpython3u AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
return GD["motion_pg"].exec_statements(plpy, statements)
$$;
REVOKE ALL ON FUNCTION motion.exec(text) FROM PUBLIC;
COMMENT ON FUNCTION motion.exec(text) IS
    'run motion statements (CREATE/ALTER/DROP/SHOW MOTION TRIGGER); administrators only';
