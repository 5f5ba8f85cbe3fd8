-- Named queries run by motion_pg, loaded by name (motion_pg.queries). Placeholders are $1, $2, …
-- so that the same text runs through PL/Python (plpy.prepare) and psycopg (RawCursor).

-- name: trigger_serving
-- The once-per-statement check of the infer path.
SELECT serving_version, revision, enabled FROM motion.triggers WHERE name = $1

-- name: trigger_definition
SELECT name, class_ref, params, pg_catalog.to_jsonb(settings) AS settings, search_path, enabled,
       serving_version, revision
FROM motion.triggers WHERE name = $1

-- name: trigger_for_update
SELECT name, class_ref, params, pg_catalog.to_jsonb(settings) AS settings, search_path, enabled,
       serving_version, revision, pinned_version
FROM motion.triggers WHERE name = $1 FOR UPDATE

-- name: trigger_routes
SELECT r.ordinal, r.relation::oid::bigint AS relid, r.columns,
       (SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.relation) AS relation,
       r.infer_method, r.fit_method, r.key_columns, r.pg_triggers
FROM motion.routes r WHERE r.trigger_name = $1 ORDER BY r.ordinal

-- name: is_partition_of
-- Whether relation $1 is a partition (at any depth) of relation $2: a route's row triggers are
-- cloned onto the partitions of a partitioned table and fire with the partition's relid.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors($1::oid) a
               WHERE a.relid = $2::oid AND a.relid <> $1::oid) AS ok

-- name: relation_name
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS relation
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1::oid

-- name: trigger_writable
-- motion.warm: whether the session's login role may write to one of the trigger's relations.
SELECT EXISTS (SELECT 1 FROM motion.routes r WHERE r.trigger_name = $1
               AND (pg_catalog.has_table_privilege(session_user, r.relation, 'INSERT')
                    OR pg_catalog.has_table_privilege(session_user, r.relation, 'UPDATE'))) AS ok

-- name: relation_columns
-- Column names and types of a relation, for checking and converting infer outputs. Type names are
-- schema-qualified (check_type with its modifiers, array_type for batch write-back parameters), so
-- they mean the same under any search_path.
SELECT a.attname::text AS name, t.typname::text AS type_name, a.atttypmod AS typmod,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname)
         || CASE WHEN a.atttypmod >= 0 THEN coalesce(pg_catalog.substring(
              pg_catalog.format_type(a.atttypid, a.atttypmod), '(\([0-9, ]+\))'), '')
            ELSE '' END AS check_type,
       a.attnotnull AS not_null,
       (SELECT pg_catalog.quote_ident(an.nspname) || '.' || pg_catalog.quote_ident(at.typname)
        FROM pg_catalog.pg_type at JOIN pg_catalog.pg_namespace an ON an.oid = at.typnamespace
        WHERE at.oid = t.typarray) AS array_type,
       (SELECT pg_catalog.array_agg(l.enumlabel::text ORDER BY l.enumsortorder)
        FROM pg_catalog.pg_enum l WHERE l.enumtypid = t.oid) AS enum_labels
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum

-- name: relation_key
SELECT a.attname::text AS name
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY pg_catalog.array_position(i.indkey, a.attnum)

-- name: relation_owner
-- superuser: the owner is a superuser, or owns schema motion (a managed install's owner role,
-- whose rights are all motion's functions have)
SELECT r.rolname::text AS owner,
       r.rolsuper OR c.relowner = (SELECT n.nspowner FROM pg_catalog.pg_namespace n
                                   WHERE n.nspname = 'motion') AS superuser
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
WHERE c.oid = $1::oid

-- name: resolve_relation
-- A relation named in a motion statement: in schema $2, or else in the first schema of the caller's
-- search_path $3 that has it (pg_catalog first unless the path lists it), the way Postgres resolves
-- an unqualified name, without running anything under that path.
SELECT c.oid::bigint AS relid, c.relkind::text AS relkind, n.nspname::text AS schema,
       c.relname::text AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS relation
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL pg_catalog.array_position(
    CASE WHEN 'pg_catalog' = ANY ($3::text[]) THEN $3::text[]
         ELSE ARRAY['pg_catalog'] || $3::text[] END, n.nspname::text) AS p(pos) ON true
WHERE c.relname = $1 AND (n.nspname = $2 OR $2::text IS NULL AND p.pos IS NOT NULL)
ORDER BY p.pos LIMIT 1

-- name: state_entries
SELECT key, blob_id FROM motion.state_entries WHERE trigger_name = $1 AND version = $2

-- name: state_blobs
-- motion.state: every key of a version with its pickled value, by key.
SELECT e.key, b.data FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id
WHERE e.trigger_name = $1 AND e.version = $2::integer ORDER BY e.key

-- name: blobs_by_id
SELECT id, data FROM motion.blobs WHERE id = ANY ($1::bigint[])

-- name: blob_by_digest
SELECT id FROM motion.blobs WHERE trigger_name = $1 AND digest = $2

-- name: insert_blob
INSERT INTO motion.blobs (trigger_name, digest, data) VALUES ($1, $2, $3) RETURNING id

-- name: next_version
SELECT coalesce(pg_catalog.max(version), 0) + 1 AS version FROM motion.versions WHERE trigger_name = $1

-- name: insert_version
-- parent_version: the version serving before this one; restored_from: the version a ROLLBACK
-- restored (its state, params and settings)
INSERT INTO motion.versions (trigger_name, version, source, run_id, parent_version, params,
                             settings, restored_from)
VALUES ($1, $2::integer, $3, $4::bigint, $5::integer, $6::jsonb,
        pg_catalog.jsonb_populate_record(NULL::motion.settings, $7::jsonb), $8::integer)

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
    SELECT coalesce(pg_catalog.sum(pg_catalog.octet_length(b.data)), 0) FROM motion.state_entries e
    JOIN motion.blobs b ON b.id = e.blob_id
    WHERE e.trigger_name = $1 AND e.version = $2)
WHERE v.trigger_name = $1 AND v.version = $2

-- name: serve_version
-- A new version is served unless the trigger is pinned (PIN VERSION): then it waits behind the pin.
UPDATE motion.triggers
SET serving_version = CASE WHEN pinned_version IS NULL THEN $2::integer ELSE serving_version END,
    updated_at = pg_catalog.now()
WHERE name = $1

-- name: head_version
-- The newest version: what fits, SET and REFIT fold onto. It is the serving one unless pinned.
SELECT pg_catalog.max(version) AS version FROM motion.versions WHERE trigger_name = $1

-- name: set_pinned
-- PIN VERSION n serves n and holds it; UNPIN ($2 NULL) serves the newest version again.
UPDATE motion.triggers SET pinned_version = $2::integer,
       serving_version = coalesce($2::integer, (SELECT pg_catalog.max(v.version)
                                               FROM motion.versions v WHERE v.trigger_name = $1)),
       updated_at = pg_catalog.now()
WHERE name = $1

-- name: record_infer_error
INSERT INTO motion.infer_errors (trigger_name, relation, row_key, error)
VALUES ($1, $2, $3::jsonb, $4::text)

-- name: claim_jobs
-- One statement claims the oldest ready events of one trigger with no running fit: it opens the
-- run (the partial unique index refuses a second running fit of that trigger, so a concurrent
-- claimer of the same trigger fails instead of fitting in parallel) naming that trigger's ready
-- events (runs.job_ids; the events are not written), oldest first, up to its fit_batch param
-- (default $3), each locked while the claim commits, skipping the
-- triggers named in $4. Under on_fit_error = 'block' a trigger with a dead job is skipped, and a
-- batch stops before the first event that waits for a retry. A batch is always a prefix of the
-- trigger's ready events.
-- Every step is an index lookup per trigger or per event (the catalog is small, the queue may be
-- huge), and its plan must not depend on the statistics of motion.jobs: they are usually taken on
-- a drained queue and say nothing is pending. So each step has one cheap plan under any estimate:
-- ordered row ranges with LIMIT on a (trigger_name, id) index (a scan of the heap would have to
-- sort all it reads), the locks taken in that same walk (each event read once), and a count of
-- the walk to find an event the lock skipped (tests/integration/test_claim_plan.py).
-- The statement is the body of the function called here (sql/idempotent/180-claim.sql), which
-- the worker's one-round-trip claim step (motion.claim_step) calls too.
SELECT * FROM motion._claim_plain($1, $2::float8, $3::integer, $4::text[], $5::jsonb, $6::integer,
                                  $7::bigint)

-- name: register_worker
INSERT INTO motion.workers (id, host, pid) VALUES ($1, $2, $3::integer)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()

-- name: heartbeat
-- Extends the leases of this worker's running fits; returns how many it holds.
WITH me AS (
    UPDATE motion.workers SET heartbeat_at = now() WHERE id = $1 RETURNING id
)
UPDATE motion.runs SET lease_until = now() + make_interval(secs => $2::float8)
WHERE worker_id = $1 AND state = 'running'
RETURNING id

-- name: unregister_worker
DELETE FROM motion.workers WHERE id = $1

-- name: release_runs
-- Hand this worker's running fits back (shutdown, lost connection); $2 refunds the attempt the
-- claim counted. The statement is motion._release_runs (sql/idempotent/360-prune.sql): no plan
-- made for a drained queue.
SELECT id FROM motion._release_runs($1::text, $2::boolean, $3::text)

-- name: reclaim_expired
-- Fits whose lease expired and whose worker stopped heartbeating go back to pending (or dead
-- after max_attempts). The statement is motion._reclaim_expired (sql/idempotent/360-prune.sql): no
-- plan made for a drained queue.
SELECT id, state FROM motion._reclaim_expired($1::float8)

-- name: forget_dead_workers
DELETE FROM motion.workers w WHERE w.heartbeat_at < now() - make_interval(secs => $1::float8)
  AND NOT EXISTS (SELECT 1 FROM motion.runs r WHERE r.worker_id = w.id AND r.state = 'running')

-- name: prune_jobs
-- Move finished jobs older than $1 seconds into motion.job_log, with their data (retention prunes
-- it later).
WITH moved AS (
    DELETE FROM motion.jobs WHERE id IN (
        SELECT id FROM motion.jobs
        WHERE state = 'done' AND finished_at < now() - make_interval(secs => $1::float8)
        ORDER BY id LIMIT 10000)
    RETURNING id, trigger_name, run_id, attempts, created_at, finished_at, route, relation, op,
              row_data
)
INSERT INTO motion.job_log (id, trigger_name, run_id, attempts, created_at, finished_at, route,
                            relation, op, row_data)
SELECT id, trigger_name, run_id, attempts, created_at, finished_at, route, relation, op, row_data
FROM moved

-- name: finish_run
-- Fenced: only the worker that owns a still-running run may finish it.
UPDATE motion.runs SET state = $3, finished_at = now(), jobs = $4::integer,
       version_before = $5::integer, version_after = $6::integer, error = $7::text
WHERE id = $1::bigint AND worker_id = $2 AND state = 'running'
RETURNING id

-- name: complete_jobs
-- The run's events are done: moved into the job log with their data, in one statement (the run
-- names them: motion._run_jobs). Returns their ids.
WITH moved AS (
    DELETE FROM motion.jobs j
    WHERE j.id = ANY (motion._run_jobs($1::bigint)) AND j.state IN ('pending', 'running')
    RETURNING j.id, j.trigger_name, j.attempts, j.state, j.created_at, j.route, j.relation, j.op,
              j.row_data, j.errors
)
INSERT INTO motion.job_log (id, trigger_name, run_id, attempts, created_at, finished_at, route,
                            relation, op, row_data, errors)
SELECT id, trigger_name, $1::bigint, attempts + CASE WHEN state = 'pending' THEN 1 ELSE 0 END,
       created_at, now(), route, relation, op, row_data, nullif(errors, '[]'::jsonb)
FROM moved
RETURNING id

-- name: fail_jobs
-- Back to pending with exponential backoff, or dead after max attempts; keeps every traceback.
-- The statement is motion._fail_jobs (sql/idempotent/360-prune.sql): no plan made for a drained
-- queue.
SELECT count(*) AS failed FROM motion._fail_jobs($1::bigint, $2::text, $3::integer, $4::float8, $5::float8)

-- name: bump_revision
UPDATE motion.triggers SET revision = pg_catalog.nextval('motion.revisions'::regclass),
       updated_at = pg_catalog.now()
WHERE name = $1

-- name: list_jobs
-- `motion-pg jobs list`: newest first, the queue and the job log (finished events move there); a
-- pending event a running plain run holds shows as running.
SELECT id, trigger_name, state, attempts, op, relation, created_at, run_at, last_error
FROM (SELECT j.id, j.trigger_name,
             CASE WHEN j.state = 'pending' AND motion._in_running_run(j.trigger_name, j.id)
                  THEN 'running' ELSE j.state END AS state,
             j.attempts, j.op, j.relation, j.created_at, j.run_at,
             j.errors -> -1 ->> 'error' AS last_error
      FROM motion.jobs j
      UNION ALL
      SELECT l.id, l.trigger_name, 'done', l.attempts, l.op, l.relation, l.created_at, NULL,
             l.errors -> -1 ->> 'error'
      FROM motion.job_log l) x
WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR trigger_name = $2)
ORDER BY id DESC LIMIT $3::integer

-- name: show_job
-- `motion-pg jobs show`: a job of the queue, else of the job log.
SELECT j.id, j.trigger_name,
       CASE WHEN j.state = 'pending' AND motion._in_running_run(j.trigger_name, j.id)
            THEN 'running' ELSE j.state END AS state,
       j.attempts, j.op, j.relation, j.route, j.run_id, j.created_at, j.run_at, j.finished_at,
       j.row_data, j.errors
FROM motion.jobs j WHERE j.id = $1::bigint
UNION ALL
SELECT l.id, l.trigger_name, 'done', l.attempts, l.op, l.relation, l.route, l.run_id, l.created_at,
       NULL, l.finished_at, l.row_data, coalesce(l.errors, '[]'::jsonb)
FROM motion.job_log l WHERE l.id = $1::bigint
LIMIT 1

-- name: retry_jobs
-- Dead (or pending) jobs become ready now, with a fresh budget of attempts.
UPDATE motion.jobs SET state = 'pending', run_at = now(), attempts = 0, finished_at = NULL
WHERE state IN ('dead', 'pending') AND (id = ANY ($1::bigint[]) OR ($2::text IS NOT NULL
      AND trigger_name = $2 AND state = 'dead'))
RETURNING id

-- name: discard_jobs
-- Never an event a running fit holds (a plain run's events are still 'pending').
DELETE FROM motion.jobs WHERE state IN ('dead', 'pending')
  AND (id = ANY ($1::bigint[]) OR ($2::text IS NOT NULL AND trigger_name = $2 AND state = 'dead'))
  AND NOT (state = 'pending' AND motion._in_running_run(trigger_name, id))
RETURNING id

-- name: status
-- One row per motion trigger for `motion-pg status`: queue depth and age, failures, and the
-- latencies of its recent fits (the last 50 runs).
SELECT t.name, t.class_ref, t.enabled, t.serving_version, t.pinned_version, t.params,
       to_jsonb(t.settings) AS settings,
       -- a plain run's events stay 'pending' while it runs: they count as running
       count(j.id) FILTER (WHERE j.state = 'pending') - h.held AS pending,
       count(j.id) FILTER (WHERE j.state = 'running') + h.held AS running,
       count(j.id) FILTER (WHERE j.state = 'dead') AS dead,
       extract(epoch FROM now() - min(j.created_at) FILTER (WHERE j.state = 'pending'))::float8
           AS oldest_pending_s,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.started_at))
        FROM (SELECT * FROM motion.runs r WHERE r.trigger_name = t.name AND r.state = 'succeeded'
              ORDER BY r.id DESC LIMIT 50) r)::float8 AS fit_p50_s,
       (SELECT count(*) FROM motion.runs r WHERE r.trigger_name = t.name AND r.state = 'failed'
          AND r.finished_at > now() - interval '1 hour') AS failed_last_hour,
       (SELECT count(*) FROM motion.infer_errors e WHERE e.trigger_name = t.name) AS infer_errors,
       (SELECT count(*) FROM motion.versions v
        WHERE v.trigger_name = t.name AND v.pruned_at IS NOT NULL) AS versions_pruned,
       (SELECT min(s.next_run_at) FROM motion.schedules s WHERE s.trigger_name = t.name)
           AS next_run_at
FROM motion.triggers t LEFT JOIN motion.jobs j ON j.trigger_name = t.name
CROSS JOIN LATERAL (SELECT coalesce(sum(r.jobs), 0)::bigint AS held FROM motion.runs r
                    WHERE r.trigger_name = t.name AND r.state = 'running' AND NOT r.keyed) h
GROUP BY t.name, h.held ORDER BY t.name

-- Catalog statements of the compiler (CREATE/ALTER/DROP/SHOW MOTION TRIGGER). They run with
-- search_path = pg_catalog, pg_temp and still qualify every function they call.

-- name: insert_trigger
INSERT INTO motion.triggers (name, class_ref, params, definition, settings, search_path)
VALUES ($1, $2, $3::jsonb, $4, pg_catalog.jsonb_populate_record(NULL::motion.settings, $5::jsonb),
        $6::text[])

-- name: replace_trigger
UPDATE motion.triggers SET class_ref = $2, params = $3::jsonb, definition = $4,
       settings = pg_catalog.jsonb_populate_record(NULL::motion.settings, $5::jsonb),
       search_path = $6::text[], enabled = true, pinned_version = NULL,
       revision = pg_catalog.nextval('motion.revisions'::regclass), updated_at = pg_catalog.now()
WHERE name = $1

-- name: set_trigger_config
UPDATE motion.triggers SET params = $2::jsonb,
       settings = pg_catalog.jsonb_populate_record(NULL::motion.settings, $3::jsonb)
WHERE name = $1

-- name: set_trigger_enabled
UPDATE motion.triggers SET enabled = $2::boolean WHERE name = $1

-- name: delete_trigger
-- Its routes, versions, state entries and blobs go with it (foreign keys on delete cascade).
WITH jobs AS (DELETE FROM motion.jobs WHERE trigger_name = $1),
     runs AS (DELETE FROM motion.runs WHERE trigger_name = $1),
     entries AS (DELETE FROM motion.state_entries WHERE trigger_name = $1)
DELETE FROM motion.triggers WHERE name = $1

-- name: delete_routes
DELETE FROM motion.routes WHERE trigger_name = $1

-- name: insert_route
INSERT INTO motion.routes (trigger_name, ordinal, relation, columns, infer_method, fit_method,
                           key_columns, pg_triggers)
VALUES ($1, $2::integer, $3::bigint::oid::regclass, $4::text[], $5, $6, $7::text[], $8::text[])

-- name: route_pg_triggers
-- The Postgres triggers of a motion trigger's routes, with their relation's schema and name.
SELECT n.nspname::text AS schema, c.relname::text AS name, r.pg_triggers
FROM motion.routes r
JOIN pg_catalog.pg_class c ON c.oid = r.relation
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.trigger_name = $1 ORDER BY r.ordinal

-- name: version_exists
SELECT 1 AS found FROM motion.versions WHERE trigger_name = $1 AND version = $2::integer

-- name: version_config
-- The params and settings recorded for a version: what infer uses while it serves that version.
SELECT params, pg_catalog.to_jsonb(settings) AS settings FROM motion.versions
WHERE trigger_name = $1 AND version = $2::integer

-- name: show_triggers
SELECT t.name, t.class_ref, t.enabled, t.serving_version, t.pinned_version,
       t.params::text AS params,
       pg_catalog.to_jsonb(t.settings) AS settings,
       (SELECT pg_catalog.count(*) FROM motion.jobs j WHERE j.trigger_name = t.name
        AND j.state = 'pending') AS pending
FROM motion.triggers t ORDER BY t.name

-- Code identity and deploys (motion_pg.runtime.identity).

-- name: trigger_code
SELECT code_digest, code FROM motion.triggers WHERE name = $1

-- name: trigger_code_for_update
SELECT code_digest FROM motion.triggers WHERE name = $1 FOR UPDATE

-- name: record_deploy
-- The trigger's deployed code becomes $4 (digest $3); the deploy is logged with the digest before.
WITH before AS (SELECT code_digest FROM motion.triggers WHERE name = $1),
     deployed AS (UPDATE motion.triggers SET code = $4::jsonb, code_digest = $3 WHERE name = $1)
INSERT INTO motion.deploys (trigger_name, action, digest_before, digest_after, identity)
SELECT $1, $2, (SELECT code_digest FROM before), $3, $4::jsonb
RETURNING digest_before

-- name: set_version_code
UPDATE motion.versions SET code_digest = $3 WHERE trigger_name = $1 AND version = $2::integer

-- name: deployed_code
-- `motion-pg status`: each trigger's deployed code.
SELECT name, class_ref, code_digest FROM motion.triggers ORDER BY name

-- name: deployed_code_of
-- The deployed code of one trigger (NULL digest: deployed before 0.3, not recorded).
SELECT class_ref, code_digest FROM motion.triggers WHERE name = $1

-- Retention (sql/idempotent/080-retention.sql).

-- name: pruned_message
-- NULL unless the version's state was pruned by retention.
SELECT motion._pruned_message($1, $2::integer) AS message

-- name: trigger_names
SELECT name FROM motion.triggers ORDER BY name

-- name: prune
SELECT trigger_name, kind, count, versions, bytes FROM motion.prune($1, $2::boolean, $3::integer)

-- Metrics (motion_pg.metrics): what one scrape reads, in two queries whatever the trigger count.

-- name: metrics_triggers
-- Per trigger: queue, dead jobs, serving version, state size, infer errors and the summed infer
-- latency histograms of every backend (motion.infer_latency; buckets are not cumulative).
SELECT t.name, t.enabled, coalesce(t.serving_version, 0) AS serving_version,
       -- a plain run's events stay 'pending' while it runs: they count as running
       (SELECT count(*) FROM motion.jobs j
        WHERE j.trigger_name = t.name AND j.state = 'pending') - h.held AS pending,
       (SELECT count(*) FROM motion.jobs j
        WHERE j.trigger_name = t.name AND j.state = 'running') + h.held AS running,
       (SELECT count(*) FROM motion.jobs j
        WHERE j.trigger_name = t.name AND j.state = 'dead') AS dead,
       coalesce((SELECT extract(epoch FROM now() - j.created_at) FROM motion.jobs j
                 WHERE j.trigger_name = t.name AND j.state = 'pending'
                 ORDER BY j.id LIMIT 1), 0)::float8 AS oldest_pending_s,
       coalesce((SELECT v.state_bytes FROM motion.versions v
                 WHERE v.trigger_name = t.name AND v.version = t.serving_version), 0) AS state_bytes,
       coalesce(e.errors, 0) AS infer_errors,
       l.buckets AS latency_buckets, coalesce(l.sum_seconds, 0)::float8 AS latency_sum,
       coalesce(l.count, 0) AS latency_count
FROM motion.triggers t
LEFT JOIN (SELECT trigger_name, count(*) AS errors FROM motion.infer_errors
           GROUP BY trigger_name) e ON e.trigger_name = t.name
LEFT JOIN (SELECT s.trigger_name, array_agg(s.n ORDER BY s.i) AS buckets,
                  (SELECT sum(x.sum_seconds) FROM motion.infer_latency x
                   WHERE x.trigger_name = s.trigger_name) AS sum_seconds,
                  (SELECT sum(x.count) FROM motion.infer_latency x
                   WHERE x.trigger_name = s.trigger_name) AS count
           FROM (SELECT il.trigger_name, u.i, sum(u.n)::bigint AS n
                 FROM motion.infer_latency il, unnest(il.buckets) WITH ORDINALITY AS u(n, i)
                 GROUP BY il.trigger_name, u.i) s
           GROUP BY s.trigger_name) l ON l.trigger_name = t.name
CROSS JOIN LATERAL (SELECT coalesce(sum(r.jobs), 0)::bigint AS held FROM motion.runs r
                    WHERE r.trigger_name = t.name AND r.state = 'running' AND NOT r.keyed) h
ORDER BY t.name

-- name: metrics_runs
-- Fit runs from id $1 on that finished and were not counted yet ($2), and the id the next scrape
-- may start from: no lower one can still appear (a run's id is taken when it starts, and a run is
-- committed within a minute) or is still running.
WITH horizon AS (
    SELECT least(
        (SELECT coalesce(max(id) + 1, $1::bigint) FROM motion.runs
         WHERE id >= $1::bigint AND started_at <= now() - interval '1 minute'),
        (SELECT min(id) FROM motion.runs WHERE state = 'running')) AS next
)
SELECT h.next, r.id, r.trigger_name, r.state, r.jobs,
       extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds
FROM horizon h LEFT JOIN motion.runs r
  ON r.id >= $1::bigint AND r.state <> 'running' AND r.id <> ALL ($2::bigint[])
ORDER BY r.id

-- Lineage per inferred row (motion_pg.runtime.stamps, motion_pg.runtime.lineage).

-- name: route_lineage
-- A route's lineage column, the lineage columns of every motion trigger on its relation (infer and
-- fit never see them) and the relation's attribute numbers (the stamp's column mask).
SELECT r.lineage_column,
       (SELECT pg_catalog.array_agg(DISTINCT o.lineage_column) FROM motion.routes o
        WHERE o.relation = r.relation AND o.lineage_column IS NOT NULL) AS hidden,
       (SELECT pg_catalog.jsonb_object_agg(a.attname, a.attnum) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = r.relation AND a.attnum > 0 AND NOT a.attisdropped) AS attnums
FROM motion.routes r WHERE r.trigger_name = $1 AND r.ordinal = $2::integer

-- name: deploy_in_force
SELECT coalesce(pg_catalog.max(id), 0)::bigint AS id FROM motion.deploys WHERE trigger_name = $1

-- name: lineage_clock
-- The statement's transaction and time, for a stamp written where no statement trigger ran.
SELECT pg_catalog.pg_current_xact_id()::text::int8 AS xact,
       (EXTRACT(epoch FROM pg_catalog.statement_timestamp()) * 1000000)::int8 AS micros,
       pg_catalog.to_regrole(pg_catalog.quote_ident(SESSION_USER))::oid::int8 AS role

-- name: relation_lineage_columns
-- The lineage columns of every motion trigger on relation $1 (or on the relation it is a
-- partition of): the worker strips them from fit events.
SELECT DISTINCT r.lineage_column AS name FROM motion.routes r
WHERE r.lineage_column IS NOT NULL
  AND (r.relation = $1::oid
       OR r.relation IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors($1::oid) a))

-- name: lineage_routes
-- A motion trigger's routes with their relations, for making and dropping lineage columns.
SELECT r.ordinal, r.relation::oid::bigint AS relid, n.nspname::text AS schema,
       c.relname::text AS name, r.infer_method, r.lineage_column, r.pg_triggers
FROM motion.routes r
JOIN pg_catalog.pg_class c ON c.oid = r.relation
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.trigger_name = $1 ORDER BY r.ordinal

-- name: set_route_lineage
-- Record the lineage column of a route, and the Postgres triggers made for it (appended).
UPDATE motion.routes SET lineage_column = $3, pg_triggers = pg_triggers || $4::text[]
WHERE trigger_name = $1 AND ordinal = $2::integer

-- name: column_exists
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1::oid
               AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped) AS found

-- name: lineage_relation
SELECT c.oid::bigint AS relid, n.nspname::text AS schema, c.relname::text AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS relation
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1::pg_catalog.regclass

-- name: lineage_infer_routes
-- The infer routes into relation $1 (or into the relation it is a partition of).
SELECT r.trigger_name, r.ordinal, r.lineage_column, r.key_columns,
       r.relation::oid::bigint AS relid, r.relation::text AS relation,
       (SELECT pg_catalog.jsonb_object_agg(a.attnum, a.attname) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = r.relation AND a.attnum > 0 AND NOT a.attisdropped) AS attnames,
       t.enabled, (t.settings).lineage AS lineage_on
FROM motion.routes r JOIN motion.triggers t ON t.name = r.trigger_name
WHERE r.infer_method IS NOT NULL
  AND (r.relation = $1::oid
       OR r.relation IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors($1::oid) a))
ORDER BY r.trigger_name, r.ordinal

-- name: lineage_version
SELECT v.version, v.source, v.run_id, v.parent_version, v.params,
       pg_catalog.to_jsonb(v.settings) AS settings, v.created_at, v.code_digest, v.restored_from
FROM motion.versions v WHERE v.trigger_name = $1 AND v.version = $2::integer

-- name: lineage_deploy
SELECT d.id, d.action, d.deployed_at, d.deployed_by::text AS deployed_by, d.digest_after
FROM motion.deploys d WHERE d.id = $1::bigint

-- name: lineage_role
SELECT r.rolname::text AS name FROM pg_catalog.pg_roles r WHERE r.oid = $1::bigint::oid

-- name: lineage_infer_errors
SELECT e.id, e.created_at, e.error FROM motion.infer_errors e
WHERE e.trigger_name = $1 AND e.row_key = $2::jsonb ORDER BY e.id

-- name: lineage_changes_of
-- The changes recorded for a row since it was stamped with $4.
SELECT c.id, c.changed, c.old_values, c.forged, c.xact::text AS xact, c.changed_at,
       c.changed_by::text AS changed_by
FROM motion.lineage_changes c
WHERE c.relation = $1::oid AND c.lineage_column = $2 AND c.row_key = $3::jsonb
  AND c.stamp IS NOT DISTINCT FROM $4::bytea
ORDER BY c.id

-- name: lineage_chain
-- A version and its parents back to the setup that started them: each with its fit run, code,
-- how many events built it and whether its state and their data are still kept.
WITH RECURSIVE chain AS (
    SELECT v.version, v.source, v.run_id, v.parent_version, v.created_at, v.code_digest,
           v.restored_from, v.pruned_at, 1 AS depth
    FROM motion.versions v WHERE v.trigger_name = $1 AND v.version = $2::integer
    UNION ALL
    SELECT p.version, p.source, p.run_id, p.parent_version, p.created_at, p.code_digest,
           p.restored_from, p.pruned_at, c.depth + 1
    FROM chain c JOIN motion.versions p ON p.trigger_name = $1 AND p.version = c.parent_version
    WHERE c.source <> 'setup' AND c.depth < 10000
)
SELECT c.version, c.source, c.run_id, c.parent_version, c.created_at, c.code_digest,
       c.restored_from,
       (SELECT pg_catalog.count(*) FROM motion.jobs j
        WHERE j.run_id = c.run_id AND j.trigger_name = $1 AND j.state = 'done')
       + (SELECT pg_catalog.count(*) FROM motion.job_log l
          WHERE l.run_id = c.run_id AND l.trigger_name = $1) AS events,
       (SELECT pg_catalog.count(*) FROM motion.jobs j
        WHERE j.run_id = c.run_id AND j.trigger_name = $1 AND j.state = 'done')
       + (SELECT pg_catalog.count(*) FROM motion.job_log l
          WHERE l.run_id = c.run_id AND l.trigger_name = $1 AND l.row_data IS NOT NULL)
         AS events_kept,
       c.pruned_at IS NULL AS state_kept, c.pruned_at
FROM chain c ORDER BY c.depth

-- name: lineage_events
SELECT e.job_id, e.run_id, e.route, e.relation, e.op, e.row_key, e.enqueued_at, e.finished_at
FROM motion.version_events($1, $2::integer) e LIMIT $3::integer

-- Scheduled routes (ON SCHEDULE; motion_pg.compiler.schedules, motion_pg.worker.schedule).

-- name: upsert_schedule
-- CREATE [OR REPLACE]: a schedule whose expression is unchanged keeps its next firing.
INSERT INTO motion.schedules AS s (trigger_name, ordinal, cron, fit_method, next_run_at)
VALUES ($1, $2::integer, $3, $4, $5::timestamptz)
ON CONFLICT (trigger_name, ordinal) DO UPDATE SET cron = EXCLUDED.cron,
    fit_method = EXCLUDED.fit_method,
    next_run_at = CASE WHEN s.cron = EXCLUDED.cron THEN s.next_run_at
                       ELSE EXCLUDED.next_run_at END

-- name: delete_other_schedules
DELETE FROM motion.schedules WHERE trigger_name = $1 AND NOT (ordinal = ANY ($2::integer[]))

-- name: trigger_schedules
SELECT ordinal, cron, fit_method FROM motion.schedules WHERE trigger_name = $1 ORDER BY ordinal

-- name: due_schedules
-- The schedules due now of enabled triggers (a disabled trigger's firing waits for ENABLE, and
-- then fires once), oldest first, with the database's clock.
SELECT s.trigger_name, s.ordinal, s.cron, s.next_run_at, pg_catalog.now() AS now, s.refit_every
FROM motion.schedules s JOIN motion.triggers t ON t.name = s.trigger_name
WHERE s.next_run_at <= pg_catalog.now() AND t.enabled
ORDER BY s.next_run_at LIMIT $1::integer

-- name: fire_schedule
-- One firing: advances next_run_at to $5 and enqueues one schedule job, in one statement. The
-- guard on the next_run_at and expression read makes a concurrent firing of the same period (by
-- another worker) update no row, and so enqueue nothing.
WITH fired AS (
    UPDATE motion.schedules SET next_run_at = $5::timestamptz, last_run_at = pg_catalog.now(),
           last_job_id = pg_catalog.nextval('motion.jobs_id_seq'::regclass)
    WHERE trigger_name = $1 AND ordinal = $2::integer AND cron = $3
      AND next_run_at = $4::timestamptz
    RETURNING trigger_name, ordinal, last_job_id
)
INSERT INTO motion.jobs (id, trigger_name, route, relation, op, row_data)
SELECT last_job_id, trigger_name, ordinal, '', 'SCHEDULE', '{}'::jsonb FROM fired
RETURNING id

-- name: next_schedule
-- Seconds until the earliest future firing of an enabled trigger (NULL: none). One still due
-- after a step could not be fired (its expression is unreadable): the poll looks at it again.
SELECT extract(epoch FROM min(s.next_run_at) - pg_catalog.now())::float8 AS seconds
FROM motion.schedules s JOIN motion.triggers t ON t.name = s.trigger_name
WHERE t.enabled AND s.next_run_at > pg_catalog.now()

-- == experiments ==

-- name: experiment_of
-- The experiment trigger $1 runs against a baseline (SHADOW OF / CANARY OF), if any.
SELECT baseline, kind, percent, started_at FROM motion.experiments WHERE trigger_name = $1

-- name: experiments_against
-- The experiments that run against baseline $1.
SELECT trigger_name, kind, percent, started_at FROM motion.experiments WHERE baseline = $1
ORDER BY trigger_name

-- name: insert_experiment
-- $5: when the experiment began (NULL: now).
INSERT INTO motion.experiments (trigger_name, baseline, kind, percent, started_at)
VALUES ($1, $2, $3, $4::float8, coalesce($5::timestamptz, pg_catalog.now()))

-- name: delete_experiment
DELETE FROM motion.experiments WHERE trigger_name = $1 RETURNING baseline

-- name: repoint_experiments
-- PROMOTE: the experiments against $1 (other than $2's) run against $2 from now on.
UPDATE motion.experiments SET baseline = $2 WHERE baseline = $1 AND trigger_name <> $2

-- name: delete_shadow_outputs
DELETE FROM motion.shadow_outputs WHERE trigger_name = $1

-- name: record_shadow_output
INSERT INTO motion.shadow_outputs
    (trigger_name, relation, row_key, outputs, served, latency_seconds, error)
VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7)

-- name: trigger_definition_text
SELECT definition FROM motion.triggers WHERE name = $1

-- name: set_definition
UPDATE motion.triggers SET definition = $2, updated_at = pg_catalog.now() WHERE name = $1

-- name: infer_route_pg_triggers
-- The Postgres triggers of trigger $1's infer routes, with the routed relation's primary key.
SELECT r.relation::oid::bigint AS relid, r.relation::text AS relation, r.key_columns,
       r.pg_triggers
FROM motion.routes r WHERE r.trigger_name = $1 AND r.infer_method IS NOT NULL

-- name: compare_records
-- The latest record of trigger $1 per row (relation, key) since $2, with its label source.
SELECT DISTINCT ON (s.relation, s.row_key)
       s.relation, s.row_key, s.outputs, s.served, s.latency_seconds, s.error, s.at
FROM motion.shadow_outputs s
WHERE s.trigger_name = $1 AND s.at >= $2::timestamptz
ORDER BY s.relation, s.row_key, s.id DESC

-- name: compare_latencies
-- Every record of trigger $1 since $2: latency and whether it failed.
SELECT s.latency_seconds, s.error IS NOT NULL AS failed
FROM motion.shadow_outputs s WHERE s.trigger_name = $1 AND s.at >= $2::timestamptz

-- name: compare_fits
-- Trigger $1's fit runs since $2: count, seconds per run (mean, p50), events fitted.
SELECT count(*) AS runs,
       avg(extract(epoch FROM r.finished_at - r.started_at))::float8 AS mean_seconds,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM r.finished_at - r.started_at))::float8 AS p50_seconds,
       coalesce(sum(r.jobs), 0)::bigint AS events
FROM motion.runs r
WHERE r.trigger_name = $1 AND r.state = 'succeeded' AND r.started_at >= $2::timestamptz

-- name: compare_state
-- Trigger $1's serving version and its state's size.
SELECT t.serving_version AS version, v.state_bytes
FROM motion.triggers t
LEFT JOIN motion.versions v ON v.trigger_name = t.name AND v.version = t.serving_version
WHERE t.name = $1

-- name: compare_relation
-- The relation a record names (schema-qualified text), or no row when it is gone.
SELECT c.oid::bigint AS relid, n.nspname::text AS schema, c.relname::text AS name
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = pg_catalog.to_regclass($1)

-- == async ==
-- Async infer (WITH (infer_mode = 'async'); motion_pg.worker.async_infer).

-- name: async_claim
-- The oldest recorded rows of one trigger (the one whose oldest row waits longest, among those
-- not excluded by this worker's code gate), locked for the claiming transaction; rows other
-- workers hold are skipped, so workers share the work.
WITH first AS (
    SELECT a.trigger_name FROM motion.async_rows a
    WHERE NOT (a.trigger_name = ANY ($2::text[]))
    ORDER BY a.id LIMIT 1 FOR UPDATE SKIP LOCKED
)
SELECT a.id, a.trigger_name, a.route, a.row_key, a.xact, a.role,
       extract(epoch FROM a.recorded_at)::float8 AS recorded_at
FROM motion.async_rows a
WHERE a.trigger_name = (SELECT f.trigger_name FROM first f)
ORDER BY a.id LIMIT $1::integer FOR UPDATE SKIP LOCKED

-- name: async_done
DELETE FROM motion.async_rows WHERE id = ANY ($1::bigint[])

-- name: async_relation_names
SELECT n.nspname::text AS schema, c.relname::text AS name FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid

-- name: async_stats_add
-- Adds one batch's freshness (recorded -> outputs written) to the trigger's cumulative totals.
INSERT INTO motion.async_stats AS s (trigger_name, written, failed, buckets, sum_seconds,
                                     last_seconds)
VALUES ($1, $2::bigint, $3::bigint, $4::bigint[], $5::float8, $6::float8)
ON CONFLICT (trigger_name) DO UPDATE SET
    written = s.written + EXCLUDED.written,
    failed = s.failed + EXCLUDED.failed,
    buckets = ARRAY(SELECT coalesce(s.buckets[i], 0) + coalesce(EXCLUDED.buckets[i], 0)
                    FROM pg_catalog.generate_series(1, greatest(pg_catalog.cardinality(s.buckets),
                         pg_catalog.cardinality(EXCLUDED.buckets))) i ORDER BY i),
    sum_seconds = s.sum_seconds + EXCLUDED.sum_seconds,
    last_seconds = coalesce(EXCLUDED.last_seconds, s.last_seconds),
    updated_at = pg_catalog.now()

-- name: async_metrics
-- Per trigger with an async route or async totals: rows waiting, the oldest one's age, and the
-- freshness totals.
SELECT t.name,
       coalesce(p.pending, 0) AS pending,
       coalesce(extract(epoch FROM pg_catalog.clock_timestamp() - p.oldest), 0)::float8
           AS oldest_pending_s,
       coalesce(s.written, 0) AS written, coalesce(s.failed, 0) AS failed,
       coalesce(s.buckets, '{}') AS buckets, coalesce(s.sum_seconds, 0) AS sum_seconds,
       s.last_seconds
FROM motion.triggers t
LEFT JOIN (SELECT a.trigger_name, pg_catalog.count(*) AS pending,
                  pg_catalog.min(a.recorded_at) AS oldest
           FROM motion.async_rows a GROUP BY a.trigger_name) p ON p.trigger_name = t.name
LEFT JOIN motion.async_stats s ON s.trigger_name = t.name
WHERE (t.settings).infer_mode = 'async' OR s.trigger_name IS NOT NULL
ORDER BY t.name

-- name: async_managed
-- Whether motion is installed in managed mode (no PL/Python: every route infers asynchronously).
SELECT coalesce((SELECT l.lanname <> 'plpython3u' FROM pg_catalog.pg_proc p
                 JOIN pg_catalog.pg_language l ON l.oid = p.prolang
                 WHERE p.oid = pg_catalog.to_regprocedure('motion._exec(text, text[])')),
                false) AS managed

-- == backfill ==
-- Backfill runs (motion_pg.runtime.backfill).

-- name: backfill_running
SELECT * FROM motion.backfills WHERE trigger_name = $1 AND state = 'running' FOR UPDATE

-- name: backfill_supersede
UPDATE motion.backfills SET state = 'superseded', route = NULL, finished_at = pg_catalog.now(),
       updated_at = pg_catalog.now()
WHERE id = $1::bigint

-- name: backfill_insert
INSERT INTO motion.backfills (trigger_name, mode, condition, route, total)
VALUES ($1, $2, $3, $4::integer, $5::bigint)
RETURNING *

-- name: backfill_lock
-- The run, locked for its next chunk (two sessions driving one run take turns), with its start
-- in microseconds since the epoch (the unit of lineage stamps).
SELECT b.*, (EXTRACT(epoch FROM b.started_at) * 1000000)::int8 AS started_micros
FROM motion.backfills b WHERE b.id = $1::bigint FOR UPDATE

-- name: backfill_advance
-- Record a chunk, in the transaction that wrote it. route NULL: the run is done.
UPDATE motion.backfills
SET route = $2::integer, last_key = $3::text[], visited = visited + $4::bigint,
    inferred = inferred + $5::bigint, chunks = chunks + 1, updated_at = pg_catalog.now(),
    state = CASE WHEN $2::integer IS NULL THEN 'done' ELSE 'running' END,
    finished_at = CASE WHEN $2::integer IS NULL THEN pg_catalog.now() END
WHERE id = $1::bigint
RETURNING *

-- name: backfill_key_types
-- The types of key columns $2 of relation $1, in that order.
SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS k(name, i)
JOIN pg_catalog.pg_attribute a ON a.attrelid = $1::oid AND a.attname = k.name
ORDER BY k.i

-- name: backfill_partitions
-- Relation $1 and its partitions at any depth: a backfill's write-back fires their row triggers.
SELECT p.relid::oid::int8 AS relid FROM pg_catalog.pg_partition_tree($1::oid) p
UNION SELECT $1::int8

-- name: backfill_relation
SELECT n.nspname::text AS schema, c.relname::text AS name
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1::oid

-- == policy ==
-- Refit policies (FIT WHEN, REFIT EVERY, REFIT WHEN; motion_pg.policy) and drift profiles
-- (motion_pg.drift).

-- name: write_fit_policy
INSERT INTO motion.fit_policies (trigger_name, policy) VALUES ($1, $2::jsonb)
ON CONFLICT (trigger_name) DO UPDATE SET policy = EXCLUDED.policy

-- name: delete_fit_policy
DELETE FROM motion.fit_policies WHERE trigger_name = $1

-- name: upsert_refit_schedule
-- REFIT EVERY: a scheduled route whose firing enqueues a 'REFIT' job; an unchanged period keeps
-- its next firing (CREATE OR REPLACE does not reset the clock).
INSERT INTO motion.schedules AS s (trigger_name, ordinal, cron, fit_method, next_run_at,
                                   refit_every)
VALUES ($1, $2::integer, $3, 'setup',
        pg_catalog.now() + pg_catalog.make_interval(secs => $4::float8), $4::float8)
ON CONFLICT (trigger_name, ordinal) DO UPDATE SET cron = EXCLUDED.cron, fit_method = 'setup',
    refit_every = EXCLUDED.refit_every,
    next_run_at = CASE WHEN s.refit_every IS NOT DISTINCT FROM EXCLUDED.refit_every
                       THEN s.next_run_at ELSE EXCLUDED.next_run_at END

-- name: fire_refit
-- One firing of REFIT EVERY, guarded like fire_schedule: advances next_run_at to $5 and enqueues
-- one 'REFIT' job in one statement; a concurrent firing of the same period enqueues nothing.
WITH fired AS (
    UPDATE motion.schedules SET next_run_at = $5::timestamptz, last_run_at = pg_catalog.now(),
           last_job_id = pg_catalog.nextval('motion.jobs_id_seq'::regclass)
    WHERE trigger_name = $1 AND ordinal = $2::integer AND cron = $3
      AND next_run_at = $4::timestamptz AND refit_every IS NOT NULL
    RETURNING trigger_name, ordinal, last_job_id
)
INSERT INTO motion.jobs (id, trigger_name, route, relation, op, row_data)
SELECT last_job_id, trigger_name, ordinal, '', 'REFIT', '{"reason": "schedule"}'::jsonb FROM fired
RETURNING id

-- name: policy_gate
-- The enabled triggers with pending events that their policy holds ('hold': not claimed now),
-- refits ('refit': a REFIT job is enqueued and folds them) or releases now ('release': FIT WHEN
-- was met; the worker records the newest pending event, and every event up to it is fitted, in
-- as many batches as fit_batch needs). A trigger with a REFIT job pending is never held: the
-- refit runs. Read by the worker before each claim (motion_pg.worker.policy).
-- The statement is the body of the function called here (sql/idempotent/180-claim.sql), which
-- the worker's one-round-trip claim step (motion.claim_step) calls too.
SELECT * FROM motion._policy_gate()

-- name: release_policy
-- FIT WHEN was met: the trigger's events up to $2 are fitted whatever the policy says meanwhile.
INSERT INTO motion.drift_status AS d (trigger_name, share, drifted, released_through)
VALUES ($1, 0, false, $2::bigint)
ON CONFLICT (trigger_name) DO UPDATE
SET released_through = greatest(d.released_through, EXCLUDED.released_through)

-- name: ensure_drift_status
INSERT INTO motion.drift_status (trigger_name, share, drifted) VALUES ($1, 0, false)
ON CONFLICT (trigger_name) DO NOTHING

-- name: lock_drift_status
-- The trigger's drift status row (ensure_drift_status makes it), locked until the transaction
-- ends.
SELECT d.refit_job_id,
       EXISTS (SELECT 1 FROM motion.jobs j WHERE j.id = d.refit_job_id
               AND j.state IN ('pending', 'running')) AS refit_pending
FROM motion.drift_status d WHERE d.trigger_name = $1 FOR UPDATE

-- name: enqueue_refit
-- A 'REFIT' job for the trigger ($2: why), recorded in its drift status.
WITH job AS (
    INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)
    VALUES ($1, -1, '', 'REFIT', pg_catalog.jsonb_build_object('reason', $2::text))
    RETURNING id
)
UPDATE motion.drift_status d SET refit_job_id = job.id FROM job
WHERE d.trigger_name = $1 RETURNING job.id

-- name: pending_refit
-- The newest REFIT job of the trigger still pending or running (the scheduled one or the one a
-- policy or a drift enqueued), or no row.
-- The statement is the body of the function called here (sql/idempotent/180-claim.sql), which
-- the worker's one-round-trip claim step (motion.claim_step) calls too.
SELECT id FROM (SELECT motion._pending_refit($1) AS id) r WHERE id IS NOT NULL

-- name: refit_seen_jobs
-- The trigger's pending events up to $2 that a refit's setup saw (run in its snapshot).
SELECT j.id FROM motion.jobs j
WHERE (j.trigger_name, j.id) >= ($1, 0) AND (j.trigger_name, j.id) <= ($1, $2::bigint)
  AND j.state = 'pending'

-- name: absorb_jobs
-- A refit folds the pending events its setup saw ($3; its run's own among them): they are done
-- with its run, moved into the job log.
WITH moved AS (
    DELETE FROM motion.jobs j
    WHERE j.trigger_name = $1 AND j.id = ANY ($3::bigint[]) AND j.state = 'pending'
    RETURNING j.id, j.trigger_name, j.attempts, j.created_at, j.route, j.relation, j.op, j.row_data,
              j.errors
)
INSERT INTO motion.job_log (id, trigger_name, run_id, attempts, created_at, finished_at, route,
                            relation, op, row_data, errors)
SELECT id, trigger_name, $2::bigint, attempts + 1, created_at, pg_catalog.now(), route, relation,
       op, row_data, nullif(errors, '[]'::jsonb)
FROM moved
RETURNING id

-- name: drift_triggers
-- The enabled triggers the worker profiles: on_drift set, or a policy reading drift.
SELECT t.name, (t.settings).on_drift AS on_drift, (t.settings).drift_window AS drift_window
FROM motion.triggers t LEFT JOIN motion.fit_policies p ON p.trigger_name = t.name
WHERE t.enabled AND ((t.settings).on_drift <> 'off'
                     OR p.policy -> 'fit' ? 'drift' OR p.policy -> 'refit' ? 'drift')
ORDER BY t.name

-- name: drift_pause_of
-- Whether a claim of the trigger must be checked for drift first (on_drift = 'pause'), and the
-- newest event its last check saw.
-- A trigger with a REFIT pending is not held: the refit runs (and rebuilds the reference).
SELECT (t.settings).on_drift = 'pause'
         AND NOT EXISTS (SELECT 1 FROM motion.jobs j
                         WHERE j.id IN (SELECT s.last_job_id FROM motion.schedules s
                                        WHERE s.trigger_name = t.name
                                          AND s.refit_every IS NOT NULL
                                        UNION ALL SELECT d.refit_job_id)
                           AND j.state IN ('pending', 'running') AND j.op = 'REFIT') AS pause,
       (t.settings).drift_window AS drift_window, d.last_event_id,
       coalesce(d.drifted, false) AS drifted
FROM motion.triggers t LEFT JOIN motion.drift_status d ON d.trigger_name = t.name
WHERE t.name = $1

-- name: drift_columns
-- The profiled columns of the trigger's relation routes that fit (a NO FIT route has no events):
-- all but the key and lineage columns.
SELECT r.ordinal AS route, r.relation::oid::bigint AS relid, r.relation::text AS relation,
       a.attname::text AS column_name, ty.typname::text AS type_name, ty.typtype = 'e' AS is_enum
FROM motion.routes r
JOIN pg_catalog.pg_attribute a ON a.attrelid = r.relation AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
WHERE r.trigger_name = $1 AND r.fit_method IS NOT NULL
  AND NOT (a.attname::text = ANY (r.key_columns))
  AND NOT EXISTS (SELECT 1 FROM motion.routes l
                  WHERE l.relation = r.relation AND l.lineage_column = a.attname::text)
ORDER BY r.ordinal, a.attnum

-- name: drift_relation_sample
SELECT s.row FROM motion._drift_sample($1::bigint::oid, $2::integer) AS s(row)

-- name: drift_events
-- The route's newest row events (queue and log), newest first.
SELECT e.id, e.row_data FROM (
    (SELECT j.id, j.row_data FROM motion.jobs j
     WHERE j.trigger_name = $1 AND j.route = $2::integer AND j.op IN ('INSERT', 'UPDATE')
     ORDER BY j.id DESC LIMIT $3::integer)
    UNION ALL
    (SELECT l.id, l.row_data FROM motion.job_log l
     WHERE l.trigger_name = $1 AND l.route = $2::integer AND l.op IN ('INSERT', 'UPDATE')
       AND l.row_data IS NOT NULL
     ORDER BY l.id DESC LIMIT $3::integer)
) e ORDER BY e.id DESC LIMIT $3::integer

-- name: drift_reference
SELECT route, column_name, kind, profile, source, built_at FROM motion.drift_profiles
WHERE trigger_name = $1 AND side = 'reference' ORDER BY route, column_name

-- name: write_drift_profile
INSERT INTO motion.drift_profiles (trigger_name, route, column_name, side, kind, profile, source)
VALUES ($1, $2::integer, $3, $4, $5, $6::jsonb, $7)
ON CONFLICT (trigger_name, route, column_name, side) DO UPDATE SET kind = EXCLUDED.kind,
    profile = EXCLUDED.profile, source = EXCLUDED.source, built_at = pg_catalog.now()

-- name: write_drift_figure
INSERT INTO motion.drift_figures AS f (trigger_name, route, relation, column_name, kind, statistic,
    value, threshold, drifted, since, reference_count, current_count)
VALUES ($1, $2::integer, $3, $4, $5, $6, $7::float8, $8::float8, $9::boolean,
        CASE WHEN $9::boolean THEN pg_catalog.now() END, $10::integer, $11::integer)
ON CONFLICT (trigger_name, route, column_name) DO UPDATE SET relation = EXCLUDED.relation,
    kind = EXCLUDED.kind, statistic = EXCLUDED.statistic, value = EXCLUDED.value,
    threshold = EXCLUDED.threshold, drifted = EXCLUDED.drifted,
    since = CASE WHEN EXCLUDED.drifted THEN coalesce(f.since, pg_catalog.now()) END,
    reference_count = EXCLUDED.reference_count, current_count = EXCLUDED.current_count,
    checked_at = pg_catalog.now()

-- name: drift_status_of
SELECT share, drifted, since, checked_at, refit_job_id FROM motion.drift_status
WHERE trigger_name = $1

-- name: write_drift_status
INSERT INTO motion.drift_status AS d (trigger_name, share, drifted, since, last_event_id)
VALUES ($1, $2::float8, $3::boolean, CASE WHEN $3::boolean THEN pg_catalog.now() END, $4::bigint)
ON CONFLICT (trigger_name) DO UPDATE SET share = EXCLUDED.share, drifted = EXCLUDED.drifted,
    since = CASE WHEN EXCLUDED.drifted THEN coalesce(d.since, pg_catalog.now()) END,
    checked_at = pg_catalog.now(), last_event_id = EXCLUDED.last_event_id

-- name: reset_drift_figures
DELETE FROM motion.drift_figures WHERE trigger_name = $1

-- name: reset_drift_status
UPDATE motion.drift_status SET share = 0, drifted = false, since = NULL,
       checked_at = pg_catalog.now()
WHERE trigger_name = $1

-- name: drift_report
SELECT * FROM motion.drift WHERE trigger_name = $1 ORDER BY route, column_name

-- name: fit_policy_of
SELECT policy FROM motion.fit_policies WHERE trigger_name = $1

-- == fold ==
-- name: fold_definition
-- What a fit call reads first, in one statement: the trigger's catalog row, its deployed code
-- digest and its newest version (what the fit folds onto).
SELECT t.name, t.class_ref, t.params, pg_catalog.to_jsonb(t.settings) AS settings, t.search_path,
       t.enabled, t.serving_version, t.revision, t.code_digest,
       (SELECT pg_catalog.max(v.version) FROM motion.versions v WHERE v.trigger_name = t.name)
         AS head_version
FROM motion.triggers t WHERE t.name = $1

-- == flow ==
-- Backpressure, chains and validation (motion_pg.worker.backpressure, motion_pg.compiler.chains,
-- motion_pg.runtime.expect).

-- name: shed_backlog
-- Run by the worker before each claim: drops the pending events of enabled triggers that
-- discard_after makes too old or keep_latest puts beyond the newest n, and records how many per
-- trigger, reason and minute in motion.discards (never silently). Scheduled firings are never
-- dropped. Each step is an index range on (trigger_name, id): the cut for keep_latest is the
-- (n+1)-th newest pending event, the cut for discard_after the oldest pending event young enough
-- to stay; only events below a cut are visited. Events a claimer holds are skipped (SKIP LOCKED),
-- and the DELETE rechecks that an event is still pending.
-- The statement is the body of the function called here (sql/idempotent/180-claim.sql), which
-- the worker's one-round-trip claim step (motion.claim_step) calls too.
SELECT * FROM motion._shed_backlog()

-- name: backlog_status
-- Per trigger: its backlog policy, the events discarded so far (and when last) per reason.
SELECT t.name,
       (t.settings).discard_after AS discard_after, (t.settings).keep_latest AS keep_latest,
       coalesce(sum(d.events) FILTER (WHERE d.reason = 'discard_after'), 0)::bigint
           AS discarded_too_old,
       coalesce(sum(d.events) FILTER (WHERE d.reason = 'keep_latest'), 0)::bigint
           AS discarded_beyond_latest,
       max(d.last_at) AS last_discard_at,
       (SELECT count(*) FROM motion.violations v WHERE v.trigger_name = t.name) AS violations
FROM motion.triggers t LEFT JOIN motion.discards d ON d.trigger_name = t.name
GROUP BY t.name ORDER BY t.name

-- name: record_violation
INSERT INTO motion.violations (trigger_name, stage, relation, row_key, column_name, value, problem)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)

-- name: chain_routes
-- Every route on the relations $1 with what motion_pg.compiler.chains orders them by.
SELECT r.trigger_name, r.ordinal, r.relation::oid::bigint AS relid,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS relation,
       n.nspname::text AS schema, c.relname::text AS name, r.columns, r.outputs,
       r.infer_method, r.fit_method, r.key_columns, r.pg_triggers, r.chain_depth,
       r.chain_columns, t.enabled, (t.settings).fire_on_replica AS fire_on_replica
FROM motion.routes r
JOIN motion.triggers t ON t.name = r.trigger_name
JOIN pg_catalog.pg_class c ON c.oid = r.relation
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.relation = ANY ($1::oid[])
ORDER BY r.relation, r.trigger_name, r.ordinal

-- name: route_relids
SELECT DISTINCT r.relation::oid::bigint AS relid FROM motion.routes r WHERE r.trigger_name = $1

-- name: set_route_outputs
UPDATE motion.routes SET outputs = $3::text[] WHERE trigger_name = $1 AND ordinal = $2::integer

-- name: set_route_chain
UPDATE motion.routes SET chain_depth = $3::integer, chain_columns = $4::text[],
       pg_triggers = $5::text[]
WHERE trigger_name = $1 AND ordinal = $2::integer

-- == keyed ==
-- Keyed state (STATE PER): per-key claims, key states, key caches.

-- name: claim_keyed_jobs
-- The claim of keyed triggers (claim_jobs skips them): one run takes the oldest ready events of
-- one keyed trigger, of keys no other run holds, up to its fit_batch (default $3), skipping the
-- triggers named in $4. It holds each of their keys in motion.key_runs (primary key: no two runs
-- of one key; a key another claimer just took is left out, ON CONFLICT DO NOTHING waiting for that
-- claimer's commit), so fits of different keys run in parallel and each key's fits in order. An
-- event is taken only when no earlier pending event of its key waits for a retry, and under
-- on_fit_error = 'block' only when its key has no dead event: what a run takes of a key is always
-- a prefix of that key's pending events (in one snapshot: a concurrent claimer sees the same
-- prefix, and only one of them holds the key). The caller rolls back a claim that returned no rows
-- (its keys were all taken meanwhile: no empty run is left behind) and looks again.
-- The statement is the body of the function called here (sql/idempotent/180-claim.sql), which
-- the worker's one-round-trip claim step (motion.claim_step) calls too.
SELECT * FROM motion._claim_keyed($1, $2::float8, $3::integer, $4::text[])

-- name: trigger_state_per
SELECT state_per FROM motion.triggers WHERE name = $1

-- name: set_state_per
-- CREATE [OR REPLACE]: the trigger's STATE PER columns; the key of its waiting events follows.
WITH t AS (
    UPDATE motion.triggers SET state_per = $2::text[] WHERE name = $1 RETURNING name
)
UPDATE motion.jobs j SET state_key = motion._state_key(j.row_data, $2::text[])
FROM t WHERE j.trigger_name = t.name AND j.state IN ('pending', 'dead')

-- name: drop_key_states
DELETE FROM motion.key_states WHERE trigger_name = $1

-- name: key_state_at
-- The state of key $2 at version $3: its newest row with version <= $3.
SELECT version, data FROM motion.key_states
WHERE trigger_name = $1 AND key = $2::jsonb AND version <= $3::integer
ORDER BY version DESC LIMIT 1

-- name: key_states_head
-- The newest state of each of the keys $2 (what a fit folds onto): one index probe per key (a
-- DISTINCT ON over `key = ANY` read every row of the trigger, growing with the keys).
SELECT k.key::text AS key, s.version, s.data
FROM pg_catalog.unnest($2::jsonb[]) AS k(key)
CROSS JOIN LATERAL (SELECT v.version, v.data FROM motion.key_states v
                    WHERE v.trigger_name = $1 AND v.key = k.key
                    ORDER BY v.version DESC LIMIT 1) s

-- name: insert_key_states
-- The keys $2 changed by version $3, with their new states $4 (one statement per fit run).
INSERT INTO motion.key_states (trigger_name, key, version, data)
SELECT $1, u.key, $3::integer, u.data
FROM ROWS FROM (pg_catalog.unnest($2::text[]::jsonb[]), pg_catalog.unnest($4::bytea[])) AS u(key, data)

-- name: keys_changed
-- The keys whose state changed in versions ($2, $3], at most $4 of them.
SELECT DISTINCT key::text AS key FROM motion.key_states
WHERE trigger_name = $1 AND version > $2::integer AND version <= $3::integer
LIMIT $4::integer

-- name: rollback_keys
-- ROLLBACK TO VERSION $2 written as version $3: every key changed after $2 gets its state at $2
-- back (NULL data: it had none of its own then).
INSERT INTO motion.key_states (trigger_name, key, version, data)
SELECT $1, k.key, $3::integer,
       (SELECT s.data FROM motion.key_states s
        WHERE s.trigger_name = $1 AND s.key = k.key AND s.version <= $2::integer
        ORDER BY s.version DESC LIMIT 1)
FROM (SELECT DISTINCT c.key FROM motion.key_states c
      WHERE c.trigger_name = $1 AND c.version > $2::integer AND c.version < $3::integer) k

-- == exp2 ==
-- Set-based shadow records, canary salts (motion_pg.runtime.shadow_batch, runtime.experiments),
-- backfill runs the worker drives (motion_pg.worker.backfill_loop).

-- name: record_shadow_outputs
-- One statement's records of trigger $1 on relation $2, as one JSON array of
-- [row key, outputs, served, latency seconds, error] (one INSERT, parsed by the server).
INSERT INTO motion.shadow_outputs
    (trigger_name, relation, row_key, outputs, served, latency_seconds, error)
SELECT $1, $2, r.e OPERATOR(pg_catalog.->) 0,
       NULLIF(r.e OPERATOR(pg_catalog.->) 1, 'null'::jsonb),
       (r.e OPERATOR(pg_catalog.->>) 2)::boolean, (r.e OPERATOR(pg_catalog.->>) 3)::float8,
       r.e OPERATOR(pg_catalog.->>) 4
FROM pg_catalog.jsonb_array_elements($3::jsonb) WITH ORDINALITY AS r(e, i)
ORDER BY r.i

-- name: experiment_canary_salt
-- The secret split salt of the canary trigger $1 is, or of the canary that runs against it.
SELECT salt FROM motion.experiments
WHERE kind = 'canary' AND (trigger_name = $1 OR baseline = $1)
ORDER BY trigger_name LIMIT 1

-- name: experiment_salt_of
-- The salt of experiment $1 against baseline $2 (kept when the experiment is replaced in place).
SELECT salt FROM motion.experiments WHERE trigger_name = $1 AND baseline = $2 AND kind = 'canary'

-- name: set_experiment_salt
UPDATE motion.experiments SET salt = $2 WHERE trigger_name = $1

-- name: experiment_sides
-- Trigger $1 and every trigger of an experiment it takes part in (either side).
SELECT $1::text AS name
UNION SELECT trigger_name FROM motion.experiments WHERE baseline = $1
UNION SELECT baseline FROM motion.experiments WHERE trigger_name = $1

-- name: statement_trigger_routes
-- The infer routes of trigger $1 with their relation (schema-qualified parts) and Postgres triggers.
SELECT r.ordinal, r.pg_triggers, n.nspname::text AS schema, c.relname::text AS name
FROM motion.routes r
JOIN pg_catalog.pg_class c ON c.oid = r.relation::oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.trigger_name = $1 AND r.infer_method IS NOT NULL
ORDER BY r.ordinal

-- name: add_route_pg_triggers
UPDATE motion.routes SET pg_triggers = pg_triggers || $3::text[]
WHERE trigger_name = $1 AND ordinal = $2::integer

-- name: backfill_running_run
-- The running run of trigger $1 (not locked), for the message to a session that lost the race.
SELECT id, mode, condition, started_by, started_at, visited, total
FROM motion.backfills WHERE trigger_name = $1 AND state = 'running'

-- name: backfill_hand_to_worker
UPDATE motion.backfills SET by_worker = true WHERE id = $1::bigint

-- name: backfill_worker_next
-- A running run left to the worker that no session is stepping right now; locked (SKIP LOCKED: two
-- workers, or a worker and the CLI, never wait on each other) until the caller's transaction ends.
-- $1: runs not to take now (their last chunk failed; they wait for their back-off).
SELECT id, trigger_name FROM motion.backfills
WHERE state = 'running' AND by_worker AND id <> ALL ($1::bigint[])
ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED

-- == shared ==
-- name: state_cache_config
-- The shared state cache's settings as the server's configuration files hold them (never a session,
-- role or database value: runtime/shared_state.py), and the database's oid (its cache subdirectory).
SELECT d.oid::bigint AS database,
       (SELECT c.setting FROM motion._state_cache_settings() c
        WHERE c.name = 'motion.state_cache') AS location,
       (SELECT c.setting FROM motion._state_cache_settings() c
        WHERE c.name = 'motion.state_cache_min') AS min
FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()

-- name: state_cache_kept
-- Which of the hex digests $1 name a blob this database still holds.
SELECT DISTINCT pg_catalog.encode(digest, 'hex') AS digest FROM motion.blobs
WHERE digest = ANY (SELECT pg_catalog.decode(x, 'hex') FROM pg_catalog.unnest($1::text[]) x)

-- name: state_cache_location
SELECT path, identity, min_bytes FROM motion.state_cache_location()

-- == keyed2 ==
-- Keyed state, continued: a key's failed fit fails its events alone, key listings, replay.

-- name: fail_key_jobs
-- The events of run $1 of the keys $2 whose fits failed (errors $3, one per key): back to pending
-- with exponential backoff, or dead after max attempts ($4, delays $5 and $6), as fail_jobs does for
-- a whole run; the run's other events are completed after this.
UPDATE motion.jobs j SET
    state = CASE WHEN j.attempts >= $4::integer THEN 'dead' ELSE 'pending' END,
    run_at = now() + make_interval(secs => least($5::float8 * power(2, j.attempts - 1), $6::float8)
                                          * (0.75 + random() * 0.5)),
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'attempt', j.attempts, 'at', now(), 'run', $1::bigint, 'error', f.error)),
    finished_at = CASE WHEN j.attempts >= $4::integer THEN now() END
FROM ROWS FROM (pg_catalog.unnest($2::text[]::jsonb[]), pg_catalog.unnest($3::text[])) AS f(key, error)
WHERE j.run_id = $1::bigint AND j.state = 'running' AND j.state_key = f.key

-- name: key_states_of_version
-- The keys version $2 of keyed trigger $1 changed (only key $3 unless NULL), with the sha256 and
-- size of each key's pickled state (NULL: no state of its own there).
SELECT key::text AS key, pg_catalog.encode(pg_catalog.sha256(data), 'hex') AS digest,
       coalesce(pg_catalog.octet_length(data), 0) AS size
FROM motion.key_states
WHERE trigger_name = $1 AND version = $2::integer AND ($3::jsonb IS NULL OR key = $3::jsonb)
ORDER BY key

-- name: key_states_before
-- Each of the keys $2 as it was just before version $3: its newest row below it.
SELECT k.key::text AS key, s.version, s.data
FROM pg_catalog.unnest($2::jsonb[]) AS k(key)
CROSS JOIN LATERAL (SELECT v.version, v.data FROM motion.key_states v
                    WHERE v.trigger_name = $1 AND v.key = k.key AND v.version < $3::integer
                    ORDER BY v.version DESC LIMIT 1) s

-- name: key_digests_at
-- Each of the keys $2 at version $3 (its newest row at or below it): digest and size.
SELECT k.key::text AS key, pg_catalog.encode(pg_catalog.sha256(s.data), 'hex') AS digest,
       coalesce(pg_catalog.octet_length(s.data), 0) AS size
FROM pg_catalog.unnest($2::jsonb[]) AS k(key)
CROSS JOIN LATERAL (SELECT v.data FROM motion.key_states v
                    WHERE v.trigger_name = $1 AND v.key = k.key AND v.version <= $3::integer
                    ORDER BY v.version DESC LIMIT 1) s

-- name: event_keys
-- The key of each of the events $2 of keyed trigger $1: recorded in the queue, computed from the
-- row in the job log (it keeps no key).
SELECT e.id, coalesce(e.state_key, motion._state_key(e.row_data, t.state_per))::text AS key
FROM (SELECT j.id, j.state_key, j.row_data FROM motion.jobs j WHERE j.id = ANY ($2::bigint[])
      UNION ALL
      SELECT l.id, NULL::jsonb, l.row_data FROM motion.job_log l WHERE l.id = ANY ($2::bigint[])) e
CROSS JOIN motion.triggers t
WHERE t.name = $1

-- == obs ==

-- name: metrics_drift
-- Per profiled column: its last drift test (motion.drift_figures) and its trigger's verdict.
SELECT f.trigger_name, f.relation, f.column_name, f.statistic, f.value, f.threshold, f.drifted,
       f.current_count, s.share AS trigger_share, s.drifted AS trigger_drifted
FROM motion.drift_figures f
LEFT JOIN motion.drift_status s ON s.trigger_name = f.trigger_name
ORDER BY f.trigger_name, f.route, f.column_name

-- name: metrics_backfills
-- Per trigger: its running backfill runs and its last finished one (rows done of total).
SELECT b.trigger_name, b.id, b.state, b.total, b.visited, b.inferred, b.chunks
FROM motion.backfills b
WHERE b.state = 'running'
   OR b.id = (SELECT max(l.id) FROM motion.backfills l
              WHERE l.trigger_name = b.trigger_name AND l.state <> 'running')
ORDER BY b.trigger_name, b.id

-- name: metrics_lineage_coverage
SELECT trigger_name, route, relation, lineage_column, rows_total, rows_stamped, coverage, sampled
FROM motion.lineage_coverage($1)

-- == managed2 ==

-- name: async_claim_of
-- async_claim for one trigger ($2): its oldest recorded rows, $1 at most (the infer process
-- retries a timed-out or crashed batch's rows one by one).
SELECT a.id, a.trigger_name, a.route, a.row_key, a.xact, a.role,
       extract(epoch FROM a.recorded_at)::float8 AS recorded_at
FROM motion.async_rows a
WHERE a.trigger_name = $2
ORDER BY a.id LIMIT $1::integer FOR UPDATE SKIP LOCKED

-- name: async_abandon
-- A row whose async infer timed out or crashed the infer process, alone: its entries ($1) go, it
-- is recorded in motion.infer_errors with why ($3), and counted failed in the trigger's ($2) stats.
WITH gone AS (
    DELETE FROM motion.async_rows a WHERE a.id = ANY ($1::bigint[]) AND a.trigger_name = $2
    RETURNING a.route, a.row_key
), failed AS (
    INSERT INTO motion.infer_errors (trigger_name, relation, row_key, error)
    SELECT DISTINCT $2, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
           g.row_key,
           'motion trigger "' || $2 || '" async infer failed on '
           || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)
           || ' row ' || g.row_key::text || ': ' || $3::text
    FROM gone g
    JOIN motion.routes r ON r.trigger_name = $2 AND r.ordinal = g.route
    JOIN pg_catalog.pg_class c ON c.oid = r.relation
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    RETURNING 1
)
INSERT INTO motion.async_stats AS s (trigger_name, failed)
SELECT $2, count(*) FROM failed HAVING count(*) > 0
ON CONFLICT (trigger_name) DO UPDATE SET failed = s.failed + EXCLUDED.failed,
                                         updated_at = pg_catalog.now()

-- == claim2 ==
-- The claim step (motion_pg.worker.claiming, sql/idempotent/180-claim.sql).

-- name: function_body
-- The text of a motion function (the claim statements' bodies), for EXPLAIN in tests and bench:
-- a PL/pgSQL body that is one RETURN QUERY gives its statement.
SELECT pg_catalog.regexp_replace(
    p.prosrc,
    '^\s*(#variable_conflict use_column\s*)?BEGIN\s+RETURN QUERY\s+(.*);(\s*--[^\n]*)?\s*END\s*$',
    '\2')
FROM pg_catalog.pg_proc p WHERE p.oid = $1::pg_catalog.regprocedure

-- == peer2 ==
-- The read side of state versions (motion_pg.runtime.state.BlobCache.load).

-- name: state_entries_inline
-- A version's keys, each with its blob's size and digest (octet_length reads a TOAST pointer, not
-- the value), and the pickled values the reader does not hold ($3: blob ids it holds), smallest
-- first, as long as they add up to at most $4 bytes: a new version of a small state is one round
-- trip, and no more than $4 bytes ride along. bytes is NULL when the blob went meanwhile.
SELECT s.key, s.blob_id, s.digest, s.bytes,
       CASE WHEN NOT s.held AND s.sent <= $4 THEN s.data END AS data
FROM (SELECT e.key, e.blob_id, b.digest, b.data, pg_catalog.octet_length(b.data)::bigint AS bytes,
             pg_catalog.sum(CASE WHEN e.blob_id = ANY ($3::bigint[]) THEN NULL
                                 ELSE pg_catalog.octet_length(b.data) END)
                 OVER (ORDER BY pg_catalog.octet_length(b.data), e.key) AS sent,
             e.blob_id = ANY ($3::bigint[]) AS held
      FROM motion.state_entries e LEFT JOIN motion.blobs b ON b.id = e.blob_id
      WHERE e.trigger_name = $1 AND e.version = $2::integer) s

-- == shared3 ==
-- Shared large states, continued: the writer writes the cache file, dropped databases swept.

-- name: state_cache_databases
-- The oids of the server's databases: a cache directory named by any other oid is a dropped one's.
SELECT oid::bigint AS oid FROM pg_catalog.pg_database

-- name: blob_digest
-- The content digest of blob $1 (the name of its cache file).
SELECT digest FROM motion.blobs WHERE id = $1::bigint

-- name: blob_stream_meta
-- A blob's stored size and whether it is compressed (runtime/blob_stream.py reads it in slices).
SELECT pg_catalog.octet_length(data)::bigint AS bytes,
       pg_catalog.pg_column_compression(data) IS NOT NULL AS compressed
FROM motion.blobs WHERE id = $1::bigint

-- name: blob_slice
-- $3 bytes of blob $1 from byte $2 (1-based): only the TOAST chunks that hold them are read.
SELECT pg_catalog.substr(data, $2::integer, $3::integer) AS part FROM motion.blobs
WHERE id = $1::bigint

-- == group ==
-- Group commit of one-version-per-slice fit calls (motion_pg.worker.grouping): a claim of
-- several fit_batch slices is fitted slice by slice and committed in one transaction, each slice
-- with its own run, version and job log rows.

-- name: narrow_run
-- Run $1 of worker $2, still running, names only the events $3 (a group's first slice, or the
-- slice whose fit failed): the group's other events are pending again, their attempts untouched.
UPDATE motion.runs SET job_ids = $3::bigint[], jobs = pg_catalog.cardinality($3::bigint[])
WHERE id = $1::bigint AND worker_id = $2 AND state = 'running'

-- name: slice_run
-- A new run for the events $3 of a group whose run $1 worker $2 finished in this transaction (the
-- slices' runs are finished first: one running run per trigger); running, with the group's
-- lease, until a fold finishes it (or the worker records its failure). Returns its id.
INSERT INTO motion.runs (trigger_name, worker_id, lease_until, jobs, job_ids)
SELECT r.trigger_name, r.worker_id, r.lease_until, pg_catalog.cardinality($3::bigint[]),
       $3::bigint[]
FROM motion.runs r
WHERE r.id = $1::bigint AND r.worker_id = $2 AND r.state = 'succeeded'
  AND r.finished_at = pg_catalog.now()
RETURNING id

-- name: fold_group
-- The end of every fit call in one statement, run after trigger_code_for_update took the trigger's
-- row lock (a statement of its own: this one's snapshot then sees every version written before
-- the lock). A call commits $4 slices: one, or a group of fit_batch slices
-- (motion_pg.worker.grouping). Fenced: nothing is written unless run $2 is still worker $3's
-- running run and the deployed code is still $12, the code the fit ran. Slice k (1-based) is run
-- $2 for k = 1 and a new run (its id drawn here) for the others; its events are those of $5 whose
-- $6 is k ($6 NULL: one slice); its updates are the rows of ($7 slice, $8 key, $9 digest, $10 data; data NULL where
-- the blob is known to exist). Each slice with updates writes the next version (head + 1, + 2,
-- ...): its parent's entries overlaid by its own updates, with their size (state_bytes); every
-- slice's run is finished ('succeeded', its version before and after) and its events move into
-- the job log under that run. Serves the last version unless pinned. Returns whether the trigger
-- exists, the code matched, the run was still ours, and per slice the version written (NULL: no
-- updates) and the version it was folded onto.
WITH t AS (
    SELECT name, params, settings, code_digest IS NOT DISTINCT FROM $12::text AS code_ok
    FROM motion.triggers WHERE name = $1
), head AS (
    SELECT pg_catalog.max(v.version) AS version FROM motion.versions v WHERE v.trigger_name = $1
), input AS (
    SELECT u.ord, u.key, u.digest, u.data
    FROM ROWS FROM (pg_catalog.unnest($7::integer[]), pg_catalog.unnest($8::text[]),
                    pg_catalog.unnest($9::bytea[]), pg_catalog.unnest($10::bytea[]))
         AS u(ord, key, digest, data)
), sl AS (
    -- each slice's run: the claim's for the first, a new one for each other (drawn once: a CTE
    -- with a volatile function is computed once)
    SELECT s.ord,
           CASE WHEN s.ord = 1 THEN $2::bigint
                ELSE pg_catalog.nextval('motion.runs_id_seq'::pg_catalog.regclass) END AS run,
           w.ord IS NOT NULL AS writes
    FROM pg_catalog.generate_series(1, $4::integer) AS s(ord)
    LEFT JOIN (SELECT DISTINCT i.ord FROM input i) w ON w.ord = s.ord
), numbered AS (
    SELECT c.run, c.ord,
           CASE WHEN c.writes THEN coalesce(h.version, 0) + c.upto END AS version,
           CASE WHEN h.version IS NULL AND c.upto - c.writes::integer = 0 THEN NULL
                ELSE coalesce(h.version, 0) + c.upto - c.writes::integer END AS parent
    FROM (SELECT sl.run, sl.ord, sl.writes,
                 (pg_catalog.count(*) FILTER (WHERE sl.writes) OVER (ORDER BY sl.ord))::integer
                   AS upto
          FROM sl) c, head h
), ev AS (
    -- $6 NULL: one slice
    SELECT e.id, coalesce(e.ord, 1) AS ord
    FROM ROWS FROM (pg_catalog.unnest($5::bigint[]), pg_catalog.unnest($6::integer[])) AS e(id, ord)
), per_slice AS (
    SELECT ev.ord, pg_catalog.count(*)::integer AS jobs,
           pg_catalog.array_agg(ev.id ORDER BY ev.id) AS ids
    FROM ev GROUP BY ev.ord
), fenced AS (
    -- the claim's run keeps its event ids unless it fitted fewer (a group cut short)
    UPDATE motion.runs r SET state = 'succeeded', finished_at = pg_catalog.now(),
           jobs = p.jobs, job_ids = CASE WHEN r.jobs = p.jobs THEN r.job_ids ELSE p.ids END,
           version_before = n.parent, version_after = n.version, error = NULL
    FROM numbered n, per_slice p, t
    WHERE n.ord = 1 AND p.ord = 1 AND t.code_ok AND r.id = $2::bigint AND r.worker_id = $3
      AND r.state = 'running'
    RETURNING r.id
), opened AS (
    INSERT INTO motion.runs (id, trigger_name, worker_id, state, started_at, lease_until,
                             finished_at, jobs, job_ids, version_before, version_after)
    SELECT n.run, $1, $3, 'succeeded', pg_catalog.now(), pg_catalog.now(), pg_catalog.now(),
           p.jobs, p.ids, n.parent, n.version
    FROM numbered n JOIN per_slice p ON p.ord = n.ord
    WHERE n.ord > 1 AND EXISTS (SELECT 1 FROM fenced)
), found AS (
    -- one blob per digest (blobs_trigger_name_digest_key)
    SELECT b.id, b.digest, pg_catalog.octet_length(b.data) AS bytes
    FROM motion.blobs b WHERE b.trigger_name = $1 AND b.digest = ANY ($9::bytea[])
), inserted AS (
    INSERT INTO motion.blobs (trigger_name, digest, data)
    SELECT DISTINCT ON (i.digest) $1, i.digest, i.data FROM input i
    WHERE EXISTS (SELECT 1 FROM fenced) AND i.data IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM found f WHERE f.digest = i.digest)
    ORDER BY i.digest
    RETURNING id, digest, pg_catalog.octet_length(data) AS bytes
), blob AS (
    SELECT id, digest, bytes FROM found UNION ALL SELECT id, digest, bytes FROM inserted
), upd AS (
    -- each update holds from its slice to the slice before the next update of its key
    SELECT i.key, b.id AS blob_id, b.bytes, i.ord AS first,
           coalesce(pg_catalog.lead(i.ord) OVER (PARTITION BY i.key ORDER BY i.ord),
                    $4::integer + 1) AS after
    FROM input i JOIN blob b ON b.digest = i.digest
), base AS (
    -- the head's entries, each until its key's first update
    SELECT e.key, e.blob_id, pg_catalog.octet_length(b.data) AS bytes, 1 AS first,
           coalesce(f.first, $4::integer + 1) AS after
    FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id
    LEFT JOIN (SELECT u.key, pg_catalog.min(u.first) AS first FROM upd u GROUP BY u.key) f
      ON f.key = e.key
    WHERE e.trigger_name = $1 AND e.version = (SELECT version FROM head)
      AND EXISTS (SELECT 1 FROM fenced)
), entry AS (
    SELECT n.version, s.key, s.blob_id, s.bytes
    FROM (SELECT key, blob_id, bytes, first, after FROM upd
          UNION ALL SELECT key, blob_id, bytes, first, after FROM base) s
    CROSS JOIN LATERAL pg_catalog.generate_series(s.first, s.after - 1) AS g(ord)
    JOIN numbered n ON n.ord = g.ord
    WHERE n.version IS NOT NULL
), written AS (
    INSERT INTO motion.versions (trigger_name, version, source, run_id, parent_version, params,
                                 settings, code_digest, state_bytes)
    SELECT $1, n.version, 'fit', n.run, n.parent, t.params, t.settings, $11::text,
           coalesce(z.bytes, 0)
    FROM numbered n CROSS JOIN t
    LEFT JOIN (SELECT version, pg_catalog.sum(bytes) AS bytes FROM entry GROUP BY version) z
      ON z.version = n.version
    WHERE n.version IS NOT NULL AND EXISTS (SELECT 1 FROM fenced)
), entries AS (
    INSERT INTO motion.state_entries (trigger_name, version, key, blob_id)
    SELECT $1, e.version, e.key, e.blob_id FROM entry e WHERE EXISTS (SELECT 1 FROM fenced)
), served AS (
    UPDATE motion.triggers SET updated_at = pg_catalog.now(),
           serving_version = CASE WHEN pinned_version IS NULL THEN z.version
                                  ELSE serving_version END
    FROM (SELECT pg_catalog.max(n.version) AS version FROM numbered n) z
    WHERE name = $1 AND z.version IS NOT NULL AND EXISTS (SELECT 1 FROM fenced)
), moved AS (
    -- the slices' events are done: moved into the job log, each with its slice's run
    DELETE FROM motion.jobs j
    WHERE j.id = ANY ($5::bigint[]) AND j.trigger_name = $1 AND j.state IN ('pending', 'running')
      AND EXISTS (SELECT 1 FROM fenced)
    RETURNING j.id, j.trigger_name, j.attempts, j.state, j.created_at, j.route, j.relation, j.op,
              j.row_data, j.errors
), logged AS (
    INSERT INTO motion.job_log (id, trigger_name, run_id, attempts, created_at, finished_at, route,
                                relation, op, row_data, errors)
    SELECT m.id, m.trigger_name, n.run,
           m.attempts + CASE WHEN m.state = 'pending' THEN 1 ELSE 0 END, m.created_at,
           pg_catalog.now(), m.route, m.relation, m.op, m.row_data, nullif(m.errors, '[]'::jsonb)
    FROM moved m JOIN ev ON ev.id = m.id JOIN numbered n ON n.ord = ev.ord
)
SELECT EXISTS (SELECT 1 FROM t) AS found, coalesce((SELECT code_ok FROM t), false) AS code_ok,
       EXISTS (SELECT 1 FROM fenced) AS fenced,
       ARRAY(SELECT n.version FROM numbered n ORDER BY n.ord) AS versions,
       ARRAY(SELECT n.parent FROM numbered n ORDER BY n.ord) AS parents

-- == trickle ==
-- State freshness at a trickle (issue 15 goal 6, P3).

-- name: trickle_ready
-- After a fit call whose claim the budget did not cut: is an event of an enabled trigger this
-- worker may fit ($1: the triggers it may not) ready now? If not, the worker waits for a
-- notification instead of sending a whole claim step that finds nothing (at a trickle, every
-- other claim step did). An event committed after this query notifies the listener, which
-- wakes the worker at once.
SELECT EXISTS (
    SELECT 1 FROM motion.jobs j
    WHERE j.state = 'pending' AND j.run_at <= pg_catalog.now()
      AND NOT (j.trigger_name = ANY ($1::text[]))
      AND EXISTS (SELECT 1 FROM motion.triggers t WHERE t.name = j.trigger_name AND t.enabled)
) AS ready
