-- Async infer, round two (issue 14). Idempotent: re-applied by every install and upgrade.

-- motion.infer_statement calls this when the worker's async write-back skips a route (it is not
-- chained on the written outputs): the backend then skips that trigger's row infer until its next
-- statement trigger. No SQL inside; revoked from PUBLIC (a full install's function; a managed
-- install, which has no PL/Python and no synchronous routes, leaves it out).
CREATE OR REPLACE FUNCTION motion._async_skip(trigger_name text) RETURNS void
LANGUAGE plpython3u AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
GD["motion_pg"].async_skipped.add(trigger_name)
$$;
REVOKE ALL ON FUNCTION motion._async_skip(text) FROM PUBLIC;
