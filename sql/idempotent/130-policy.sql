-- Refit policies and drift profiles: the policy conditions the claim path applies, the relation
-- sample a drift reference is built from, motion.drift and motion.drift_pin. Administrators only.
-- Idempotent: re-applied by every install and upgrade.

-- Whether any of a policy's conditions holds for a trigger ({count, after, every, drift}, as
-- motion_pg.policy.Policy.to_json writes them): $3 is its oldest pending event's time, $4 its
-- share of drifted columns.
CREATE OR REPLACE FUNCTION motion._policy_met(conditions jsonb, trigger_name text,
                                              oldest timestamptz, share float8)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT ($1 ? 'count' AND (SELECT count(*) FROM (
            SELECT 1 FROM motion.jobs j
            WHERE (j.trigger_name, j.id) >= ($2, 0)
              AND (j.trigger_name, j.id) <= ($2, 9223372036854775807)
              AND j.state = 'pending'
            LIMIT ($1 ->> 'count')::numeric::bigint) c) >= ($1 ->> 'count')::numeric::bigint)
    OR ($1 ? 'after' AND $3 <= now() - make_interval(secs => ($1 ->> 'after')::float8))
    OR ($1 ? 'every' AND coalesce((SELECT max(r.finished_at) FROM motion.runs r
                                   WHERE r.trigger_name = $2 AND r.state = 'succeeded'),
                                  '-infinity') <= now() - make_interval(secs => ($1 ->> 'every')::float8))
    OR ($1 ? 'drift' AND coalesce($4, 0) > ($1 ->> 'drift')::float8)
$$;
REVOKE ALL ON FUNCTION motion._policy_met(jsonb, text, timestamptz, float8) FROM PUBLIC;

-- A random sample of a relation's rows as jsonb, read with the caller's privileges.
CREATE OR REPLACE FUNCTION motion._drift_sample(relid oid, n integer) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT pg_catalog.to_jsonb(r) FROM %s r ORDER BY pg_catalog.random() LIMIT %s',
        relid::regclass, n);
END
$$;
REVOKE ALL ON FUNCTION motion._drift_sample(oid, integer) FROM PUBLIC;

-- Make the trigger's recent events its drift reference; returns the profiles written.
CREATE OR REPLACE FUNCTION motion.drift_pin(trigger text) RETURNS integer
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.drift import sql_entry
return sql_entry.pin(plpy, trigger)
$$;
REVOKE ALL ON FUNCTION motion.drift_pin(text) FROM PUBLIC;

-- Per profiled column: the last drift test (statistic, threshold, verdict, since when) and its
-- reference; with the trigger's share of drifted columns.
DROP VIEW IF EXISTS motion.drift;
CREATE VIEW motion.drift AS
SELECT f.trigger_name, f.route, f.relation, f.column_name, f.kind, f.statistic, f.value,
       f.threshold, f.drifted, f.since, f.reference_count, f.current_count, f.checked_at,
       r.source AS reference_source, r.built_at AS reference_built_at,
       s.share AS trigger_share, s.drifted AS trigger_drifted
FROM motion.drift_figures f
LEFT JOIN motion.drift_profiles r ON r.trigger_name = f.trigger_name AND r.route = f.route
     AND r.column_name = f.column_name AND r.side = 'reference'
LEFT JOIN motion.drift_status s ON s.trigger_name = f.trigger_name;
REVOKE ALL ON motion.drift FROM PUBLIC;
