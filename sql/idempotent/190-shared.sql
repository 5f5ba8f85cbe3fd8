-- Shared large states (runtime/shared_state.py): the host's cache of large state values, one
-- memory-mapped file per blob under the server's data directory (postgresql.conf:
-- motion.state_cache, motion.state_cache_min). Administrators only.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).

-- The cache's settings as the server's configuration files (postgresql.conf and its includes) hold
-- them, the last one of each name winning: what a session, role or database SETs is never read, so
-- no database role can point the server at other files. SECURITY DEFINER: pg_file_settings is
-- readable by superusers only (the installing role).
CREATE OR REPLACE FUNCTION motion._state_cache_settings() RETURNS TABLE (name text, setting text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT ON (f.name) f.name, f.setting FROM pg_catalog.pg_file_settings f
    WHERE f.name IN ('motion.state_cache', 'motion.state_cache_min') AND f.error IS NULL
    ORDER BY f.name, f.seqno DESC
$$;
REVOKE ALL ON FUNCTION motion._state_cache_settings() FROM PUBLIC;

-- This database's cache directory on the server's host, its identity token and the size from which
-- values go through it (NULLs when the cache is off): a worker on the same host, running as the
-- server's OS user, maps the same files; a worker elsewhere finds no directory with that token.
CREATE OR REPLACE FUNCTION motion.state_cache_location(OUT path text, OUT identity text,
                                                       OUT min_bytes bigint)
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import shared_state
return shared_state.location(GD["motion_pg"].database(plpy))
$$;
REVOKE ALL ON FUNCTION motion.state_cache_location() FROM PUBLIC;

-- Deletes the cache files of blobs this database no longer holds (pruned versions, dropped
-- triggers) and stale temporary files; returns how many went. motion.prune calls it.
CREATE OR REPLACE FUNCTION motion._sweep_state_cache() RETURNS integer
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import shared_state
return shared_state.sweep(GD["motion_pg"].database(plpy), plpy.log)
$$;
REVOKE ALL ON FUNCTION motion._sweep_state_cache() FROM PUBLIC;
