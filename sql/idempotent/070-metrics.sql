-- Infer latency samples: flushing a backend's samples and folding those of exited backends.
-- Administrators only. Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).

-- Writes this backend's sampled infer latencies now (backends flush by themselves at most every
-- few seconds, from their next statement that runs an infer trigger); returns the triggers written.
CREATE OR REPLACE FUNCTION motion.flush_infer_latency() RETURNS integer
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import latency
return latency.flush(plpy)
$$;
REVOKE ALL ON FUNCTION motion.flush_infer_latency() FROM PUBLIC;

-- Moves the rows of backends that exited (their pid is gone) into their trigger's pid-0 row, and
-- drops rows of triggers that no longer exist; returns the rows folded. A backend whose pid was
-- reused keeps its row until that pid is gone too: only a row nobody can write again is folded.
CREATE OR REPLACE FUNCTION motion.fold_infer_latency() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    folded integer;
BEGIN
    WITH gone AS (
        DELETE FROM motion.infer_latency l
        WHERE l.pid <> 0 AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid)
           OR NOT EXISTS (SELECT FROM motion.triggers t WHERE t.name = l.trigger_name)
        RETURNING l.*
    ), per_bucket AS (
        SELECT g.trigger_name, u.i, sum(u.n)::bigint AS n
        FROM gone g, unnest(g.buckets) WITH ORDINALITY AS u(n, i)
        GROUP BY g.trigger_name, u.i
    ), summed AS (
        SELECT g.trigger_name,
               (SELECT array_agg(p.n ORDER BY p.i) FROM per_bucket p
                WHERE p.trigger_name = g.trigger_name) AS buckets,
               sum(g.sum_seconds) AS sum_seconds, sum(g.count)::bigint AS count, count(*) AS rows
        FROM gone g GROUP BY g.trigger_name
    ), kept AS (
        INSERT INTO motion.infer_latency AS l
            (trigger_name, pid, backend_start, buckets, sum_seconds, count)
        SELECT s.trigger_name, 0, '-infinity', s.buckets, s.sum_seconds, s.count FROM summed s
        WHERE s.buckets IS NOT NULL
          AND EXISTS (SELECT FROM motion.triggers t WHERE t.name = s.trigger_name)
        ON CONFLICT (trigger_name, pid, backend_start) DO UPDATE SET
            buckets = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0) FROM unnest(l.buckets, excluded.buckets) AS u(a, b)),
            sum_seconds = l.sum_seconds + excluded.sum_seconds,
            count = l.count + excluded.count,
            updated_at = pg_catalog.now()
        RETURNING 1
    )
    SELECT coalesce(sum(s.rows), 0) INTO folded FROM summed s;
    RETURN folded;
END
$$;
REVOKE ALL ON FUNCTION motion.fold_infer_latency() FROM PUBLIC;
