-- The dashboard's read queries, loaded by name (`-- name: x` starts one), placeholders $1, $2.
-- The figures `motion-pg status` shows come from its own named query (sql/queries.sql: status).

-- name: trigger_extras
-- What the overview shows beyond `status`: routes, deployed code, created/updated times.
SELECT s.name, s.routes, t.code_digest, t.created_at, t.updated_at
FROM motion.trigger_status s JOIN motion.triggers t ON t.name = s.name

-- name: trigger_detail
SELECT s.name, s.class_ref, s.enabled, s.serving_version, s.pinned_version, s.params, s.settings,
       s.routes, s.pending, s.running, s.dead,
       extract(epoch FROM s.oldest_pending_age)::float8 AS oldest_pending_s,
       t.code_digest, t.definition, t.created_at, t.updated_at
FROM motion.trigger_status s JOIN motion.triggers t ON t.name = s.name
WHERE s.name = $1

-- name: recent_latencies
-- The last $1 finished fit runs of every trigger, oldest first: the overview's sparklines.
SELECT t.name AS trigger_name, r.seconds, r.failed
FROM motion.triggers t
CROSS JOIN LATERAL (
    SELECT r.id, extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds,
           r.state <> 'succeeded' AS failed
    FROM motion.runs r
    WHERE r.trigger_name = t.name AND r.finished_at IS NOT NULL
    ORDER BY r.id DESC LIMIT $1::integer) r
ORDER BY t.name, r.id

-- name: runs
-- A trigger's last $2 finished or running fit runs, newest first.
SELECT id, worker_id, state, started_at, finished_at, jobs, version_before, version_after, error,
       extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS seconds
FROM motion.runs WHERE trigger_name = $1
ORDER BY id DESC LIMIT $2::integer

-- name: backlog
-- Events waiting for fit (pending or running: created, not yet finished) over the last $2
-- seconds, in $3 buckets (bucket i ends at `at`): the most waiting at once within the bucket and
-- the number waiting at its last change (NULL: no change in it; the page carries the count
-- forward), so a burst fitted within seconds still shows. Dead events stop waiting when they die.
WITH bounds AS (
    SELECT now() - make_interval(secs => $2::float8) AS lo, now() AS hi
), events AS (
    SELECT j.created_at, j.finished_at FROM motion.jobs j, bounds b
    WHERE j.trigger_name = $1 AND (j.finished_at IS NULL OR j.finished_at > b.lo)
    UNION ALL
    SELECT l.created_at, l.finished_at FROM motion.job_log l, bounds b
    WHERE l.trigger_name = $1 AND l.finished_at > b.lo
), deltas AS (
    SELECT greatest(e.created_at, b.lo) AS at, 1 AS d FROM events e, bounds b
    UNION ALL
    SELECT e.finished_at, -1 FROM events e WHERE e.finished_at IS NOT NULL
), waiting AS (
    SELECT d.at, row_number() OVER w AS seq, sum(d.d) OVER w AS n
    FROM deltas d WINDOW w AS (ORDER BY d.at, d.d DESC ROWS UNBOUNDED PRECEDING)
), per_bucket AS (
    SELECT least(greatest(ceil(extract(epoch FROM w.at - b.lo) / ($2::float8 / $3::integer)), 0),
                 $3::integer)::integer AS bucket,
           max(w.n) AS peak, (array_agg(w.n ORDER BY w.seq DESC))[1] AS last
    FROM waiting w, bounds b GROUP BY 1
)
SELECT i AS bucket, b.lo + (b.hi - b.lo) * (i::float8 / $3::integer) AS at,
       p.peak::bigint AS peak, p.last::bigint AS last
FROM bounds b CROSS JOIN generate_series(0, $3::integer) AS i
LEFT JOIN per_bucket p ON p.bucket = i
ORDER BY i

-- name: versions
-- A trigger's newest $2 versions with the previous kept version's params and settings, and the
-- state keys added, changed (another blob) and removed since that version.
WITH v AS (
    SELECT h.*, lag(h.version) OVER w AS previous, lag(h.params) OVER w AS previous_params,
           lag(h.settings) OVER w AS previous_settings
    FROM motion.version_history h WHERE h.trigger_name = $1
    WINDOW w AS (ORDER BY h.version)
)
SELECT v.version, v.created_at, v.source, v.run_id, v.parent_version, v.restored_from, v.params,
       v.settings, v.code_digest, v.state_bytes, v.serving, v.previous, v.previous_params,
       v.previous_settings,
       coalesce((SELECT array_agg(n.key ORDER BY n.key) FROM motion.state_entries n
                 WHERE n.trigger_name = $1 AND n.version = v.version AND NOT EXISTS (
                     SELECT FROM motion.state_entries o WHERE o.trigger_name = $1
                     AND o.version = v.previous AND o.key = n.key)), '{}') AS added,
       coalesce((SELECT array_agg(n.key ORDER BY n.key) FROM motion.state_entries n
                 JOIN motion.state_entries o ON o.trigger_name = $1 AND o.version = v.previous
                  AND o.key = n.key AND o.blob_id <> n.blob_id
                 WHERE n.trigger_name = $1 AND n.version = v.version), '{}') AS changed,
       coalesce((SELECT array_agg(o.key ORDER BY o.key) FROM motion.state_entries o
                 WHERE o.trigger_name = $1 AND o.version = v.previous AND NOT EXISTS (
                     SELECT FROM motion.state_entries n WHERE n.trigger_name = $1
                     AND n.version = v.version AND n.key = o.key)), '{}') AS removed
FROM v ORDER BY v.version DESC LIMIT $2::integer

-- name: previous_version
SELECT max(version) AS version FROM motion.versions WHERE trigger_name = $1 AND version < $2::integer

-- name: state_blobs_of
-- Each key of a version with its blob: equal blobs are equal values.
SELECT key, blob_id FROM motion.state_entries WHERE trigger_name = $1 AND version = $2::integer

-- name: deploys
SELECT id, action, deployed_at, deployed_by::text AS deployed_by, digest_before, digest_after
FROM motion.deploys WHERE trigger_name = $1 ORDER BY id DESC LIMIT $2::integer

-- name: dead_jobs
-- Dead jobs (of trigger $1, or all when NULL), newest first, with every error they met.
SELECT id, trigger_name, attempts, op, relation, row_data, created_at, finished_at, errors
FROM motion.jobs
WHERE state = 'dead' AND ($1::text IS NULL OR trigger_name = $1)
ORDER BY id DESC LIMIT $2::integer

-- name: job_state
SELECT state FROM motion.jobs WHERE id = $1::bigint

-- name: lineage_available
-- motion.lineage(relation regclass, key jsonb [, more args with defaults]): the lookup page shows
-- only where it exists.
SELECT EXISTS (
    SELECT FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'motion' AND p.proname = 'lineage' AND p.pronargs >= 2
      AND p.proargtypes[0] = 'pg_catalog.regclass'::pg_catalog.regtype
      AND p.proargtypes[1] = 'pg_catalog.jsonb'::pg_catalog.regtype
      AND p.pronargs - p.pronargdefaults <= 2
) AS available

-- name: drift_available
SELECT pg_catalog.to_regclass('motion.drift_figures') IS NOT NULL AS available

-- name: drift_columns
-- Every profiled column's last test, with its trigger's verdict.
SELECT f.trigger_name, f.route, f.relation, f.column_name, f.kind, f.statistic, f.value,
       f.threshold, f.drifted, f.since, f.reference_count, f.current_count, f.checked_at,
       s.share AS trigger_share, s.drifted AS trigger_drifted, s.since AS trigger_since,
       (t.settings).on_drift AS on_drift
FROM motion.drift_figures f
JOIN motion.triggers t ON t.name = f.trigger_name
LEFT JOIN motion.drift_status s ON s.trigger_name = f.trigger_name
ORDER BY f.trigger_name, f.route, f.column_name

-- name: compare_available
SELECT pg_catalog.to_regclass('motion.experiments') IS NOT NULL AS available

-- name: experiments
SELECT e.trigger_name, e.baseline, e.kind, e.percent, e.started_at,
       (SELECT count(*) FROM motion.shadow_outputs o WHERE o.trigger_name = e.trigger_name)
           AS records
FROM motion.experiments e ORDER BY e.started_at DESC, e.trigger_name

