-- Named queries run by motion_pg, loaded by name (motion_pg.queries). Placeholders are $1, $2, …
-- so that the same text runs through PL/Python (plpy.prepare) and psycopg (RawCursor).

-- name: trigger_serving
-- The once-per-statement check of the infer path.
SELECT serving_version, revision, enabled FROM motion.triggers WHERE name = $1

-- name: trigger_definition
SELECT name, class_ref, params, enabled, serving_version, revision
FROM motion.triggers WHERE name = $1

-- name: trigger_for_update
SELECT name, class_ref, params, enabled, serving_version, revision
FROM motion.triggers WHERE name = $1 FOR UPDATE

-- name: trigger_routes
SELECT r.ordinal, r.relation::oid::bigint AS relid, r.columns,
       (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.relation) AS relation,
       r.infer_method, r.fit_method, r.key_columns
FROM motion.routes r WHERE r.trigger_name = $1 ORDER BY r.ordinal

-- name: relation_columns
-- Column names and types of a relation, for checking and converting infer outputs.
SELECT a.attname::text AS name, t.typname::text AS type_name, a.atttypmod AS typmod,
       format_type(a.atttypid, a.atttypmod) AS type
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum

-- name: relation_key
SELECT a.attname::text AS name
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)

-- name: resolve_relation
SELECT c.oid::bigint AS relid, c.relkind::text AS relkind, n.nspname::text AS schema,
       c.relname::text AS name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS relation
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND ($2::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)
                          OR n.nspname = $2)

-- name: state_entries
SELECT key, blob_id FROM motion.state_entries WHERE trigger_name = $1 AND version = $2

-- name: blobs_by_id
SELECT id, data FROM motion.blobs WHERE id = ANY ($1::bigint[])

-- name: blob_by_digest
SELECT id FROM motion.blobs WHERE trigger_name = $1 AND digest = $2

-- name: insert_blob
INSERT INTO motion.blobs (trigger_name, digest, data) VALUES ($1, $2, $3) RETURNING id

-- name: next_version
SELECT coalesce(max(version), 0) + 1 AS version FROM motion.versions WHERE trigger_name = $1

-- name: insert_version
INSERT INTO motion.versions (trigger_name, version, source, run_id, parent_version, params)
VALUES ($1, $2::integer, $3, $4::bigint, $5::integer, $6::jsonb)

-- name: copy_entries
-- Carry the parent's entries that the update does not replace into the new version.
INSERT INTO motion.state_entries (trigger_name, version, key, blob_id)
SELECT trigger_name, $2::integer, key, blob_id FROM motion.state_entries
WHERE trigger_name = $1 AND version = $3::integer AND NOT (key = ANY ($4::text[]))

-- name: insert_entry
INSERT INTO motion.state_entries (trigger_name, version, key, blob_id)
VALUES ($1, $2::integer, $3, $4::bigint)

-- name: finish_version
UPDATE motion.versions v SET state_bytes = (
    SELECT coalesce(sum(octet_length(b.data)), 0) FROM motion.state_entries e
    JOIN motion.blobs b ON b.id = e.blob_id
    WHERE e.trigger_name = $1 AND e.version = $2)
WHERE v.trigger_name = $1 AND v.version = $2

-- name: serve_version
UPDATE motion.triggers SET serving_version = $2::integer, updated_at = now() WHERE name = $1

-- name: record_infer_error
INSERT INTO motion.infer_errors (trigger_name, relation, row_key, error)
VALUES ($1, $2, $3::jsonb, $4::text)

-- name: claim_jobs
-- One statement claims the oldest ready event of a trigger with no running fit, opens the run
-- (the partial unique index refuses a second running fit of that trigger), and marks up to $3 of
-- that trigger's ready events as running, oldest first.
WITH candidate AS MATERIALIZED (
    SELECT j.trigger_name FROM motion.jobs j
    WHERE j.state = 'pending' AND j.run_at <= now()
      AND NOT EXISTS (SELECT 1 FROM motion.runs r
                      WHERE r.trigger_name = j.trigger_name AND r.state = 'running')
    ORDER BY j.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), run AS (
    INSERT INTO motion.runs (trigger_name, worker_id, lease_until)
    SELECT trigger_name, $1, now() + make_interval(secs => $2::float8) FROM candidate
    RETURNING id, trigger_name
), batch AS MATERIALIZED (
    SELECT j.id FROM motion.jobs j, candidate c
    WHERE j.trigger_name = c.trigger_name AND j.state = 'pending' AND j.run_at <= now()
    ORDER BY j.id
    LIMIT $3::integer
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE motion.jobs j SET state = 'running', run_id = run.id, attempts = j.attempts + 1
FROM batch, run
WHERE j.id = batch.id
RETURNING run.id AS run_id, j.trigger_name, j.id, j.route, j.relation, j.op, j.row_data,
          j.attempts

-- name: abandon_empty_run
UPDATE motion.runs SET state = 'abandoned', finished_at = now()
WHERE worker_id = $1 AND state = 'running'
  AND NOT EXISTS (SELECT 1 FROM motion.jobs j WHERE j.run_id = motion.runs.id)

-- name: finish_run
-- Fenced: only the worker that owns a still-running run may finish it.
UPDATE motion.runs SET state = $3, finished_at = now(), jobs = $4::integer,
       version_before = $5::integer, version_after = $6::integer, error = $7::text
WHERE id = $1::bigint AND worker_id = $2 AND state = 'running'
RETURNING id

-- name: complete_jobs
UPDATE motion.jobs SET state = 'done', finished_at = now() WHERE run_id = $1::bigint AND state = 'running'

-- name: fail_jobs
-- Back to pending with exponential backoff, or dead after max attempts; keeps every traceback.
UPDATE motion.jobs SET
    state = CASE WHEN attempts >= $3::integer THEN 'dead' ELSE 'pending' END,
    run_at = now() + make_interval(secs => least($4::float8 * power(2, attempts - 1), $5::float8)
                                          * (0.75 + random() * 0.5)),
    errors = errors || jsonb_build_array(jsonb_build_object(
        'attempt', attempts, 'at', now(), 'run', $1::bigint, 'error', $2::text)),
    finished_at = CASE WHEN attempts >= $3::integer THEN now() END
WHERE run_id = $1::bigint AND state = 'running'

-- name: bump_revision
UPDATE motion.triggers SET revision = nextval('motion.revisions'), updated_at = now()
WHERE name = $1
