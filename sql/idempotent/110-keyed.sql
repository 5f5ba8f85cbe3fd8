-- Keyed state (STATE PER): the key of an event, and letting go of a run's keys.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).

-- The key of a row (its jsonb) under the STATE PER columns `per`: a jsonb array of the values in
-- column order; NULL when `per` is NULL (a trigger with one state). Pure, so it inlines.
CREATE OR REPLACE FUNCTION motion._state_key(row_data jsonb, per text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN $2 IS NULL THEN NULL
                ELSE (SELECT pg_catalog.jsonb_agg(coalesce($1 OPERATOR(pg_catalog.->) u.c,
                                                          'null'::pg_catalog.jsonb)
                                                  ORDER BY u.o)
                      FROM pg_catalog.unnest($2) WITH ORDINALITY u(c, o)) END
$$;
REVOKE ALL ON FUNCTION motion._state_key(jsonb, text[]) FROM PUBLIC;

-- A keyed run that stops running (succeeded, failed, handed back, reclaimed) lets go of its keys
-- in the same transaction, whichever statement ends it.
CREATE OR REPLACE FUNCTION motion._release_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM motion.key_runs k WHERE k.run_id = NEW.id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion._release_keys() FROM PUBLIC;

CREATE OR REPLACE TRIGGER runs_release_keys AFTER UPDATE OF state ON motion.runs
FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state <> 'running' AND NEW.keyed)
EXECUTE FUNCTION motion._release_keys();

-- Retention: once motion.prune marks versions pruned, a key's rows older than the oldest version
-- still kept are dropped where a newer row of that key (at or below it) supersedes them: a key
-- keeps the rows the kept versions read, so storage stays within keys changed per kept version.
-- Set-based, per trigger: the oldest kept version is looked up once per trigger (versions_kept),
-- not once per pruned version (each lookup walked every tombstone of the trigger: ~1M buffers a
-- round at ~730 versions). Every earlier round left no superseded row below the then oldest kept
-- version (`was`), so only the keys with a row in (was, kept] have rows to drop: those below that
-- key's newest row there. Without sequential scans: PL/pgSQL keeps this plan, perhaps made while
-- motion.key_states was small (tests/integration/test_prune_cost.py).
CREATE OR REPLACE FUNCTION motion._prune_key_states() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$
BEGIN
    -- the rows by their ctids: a join of the keys with motion.key_states may be planned as a
    -- walk of the whole table (a hash join), each key's rows are probed in the primary key here
    DELETE FROM motion.key_states s WHERE s.ctid = ANY (ARRAY(
        SELECT d.ctid
        FROM (SELECT k.trigger_name, k.key, max(k.version) AS newest
              FROM (SELECT p.trigger_name, p.was,
                           (SELECT min(v.version) FROM motion.versions v
                            WHERE v.trigger_name = p.trigger_name AND v.pruned_at IS NULL) AS kept
                    FROM (SELECT n.trigger_name, min(n.version) AS was
                          FROM motion_versions_new n JOIN motion_versions_old o
                            ON o.trigger_name = n.trigger_name AND o.version = n.version
                          WHERE n.pruned_at IS NOT NULL AND o.pruned_at IS NULL
                          GROUP BY n.trigger_name) p) t
              JOIN motion.key_states k ON k.trigger_name = t.trigger_name
               AND k.version > LEAST(t.was, t.kept) AND k.version <= t.kept
              GROUP BY k.trigger_name, k.key) u
        CROSS JOIN LATERAL (SELECT o.ctid FROM motion.key_states o
                            WHERE o.trigger_name = u.trigger_name AND o.key = u.key
                              AND o.version < u.newest
                            OFFSET 0) d));
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion._prune_key_states() FROM PUBLIC;

CREATE OR REPLACE TRIGGER versions_prune_key_states AFTER UPDATE ON motion.versions
REFERENCING OLD TABLE AS motion_versions_old NEW TABLE AS motion_versions_new
FOR EACH STATEMENT EXECUTE FUNCTION motion._prune_key_states();

-- One key's own state at a version (default: the serving one), rendered as jsonb. It unpickles in
-- the server, so it is revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion.key_state(trigger text, key jsonb, version integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import key_inspection
return key_inspection.key_state_json(plpy, trigger, key, version)
$$;
REVOKE ALL ON FUNCTION motion.key_state(text, jsonb, integer) FROM PUBLIC;
