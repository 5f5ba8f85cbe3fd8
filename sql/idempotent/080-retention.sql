-- Retention: motion.prune removes the state of versions and the data of events outside each
-- trigger's policy (settings keep_versions, keep_events). Administrators only.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).
--
-- Kept, per trigger: the newest keep_versions versions, the serving and the pinned version, and
-- every version from the one that was newest when a still-running fit started (the fit folds onto
-- it). Each kept version holds all its state entries (a version copies its parent's), so no older
-- version's state is needed to load one; an older version keeps its row as a tombstone
-- (pruned_at). Events: a logged event (motion.job_log) goes once it is older than keep_events and
-- the version its run built is not kept. Queued, running and dead jobs are never touched, nor are
-- motion.runs rows (small; they say who fitted a tombstone), but a finished run's list of event ids
-- is cleared.
--
-- Each trigger's catalog row is locked (FOR UPDATE) while it is pruned: the lock ALTER (ROLLBACK,
-- PIN, SET, REFIT) and a fit's commit take, so none of them reads a state being removed. A dry run
-- takes no lock and reports what a real prune at that moment would remove. batch (NULL: no limit)
-- bounds the versions and the events removed per trigger and call: the worker prunes in steps.
CREATE OR REPLACE FUNCTION motion.prune(trigger text DEFAULT NULL, dry_run boolean DEFAULT false,
                                        batch integer DEFAULT NULL)
RETURNS TABLE (trigger_name text, kind text, count bigint, versions integer[], bytes bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    want ALIAS FOR $1;
    tn text;
    keep_n integer;
    keep_s float8;
    serving integer;
    pinned integer;
    head integer;
    protect_from integer;
    doomed integer[];
    entry_bytes bigint;
    blob_ids bigint[];
    blob_bytes bigint;
    event_ids bigint[];
    event_versions integer[];
    event_bytes bigint;
BEGIN
    IF batch IS NOT NULL AND batch < 1 THEN
        RAISE EXCEPTION 'motion.prune: batch must be positive, got %', batch
            USING ERRCODE = '22023', HINT = 'pass NULL to prune everything outside the policy';
    END IF;
    IF want IS NOT NULL AND NOT EXISTS (SELECT FROM motion.triggers t WHERE t.name = want) THEN
        PERFORM motion._unknown_trigger(want);
    END IF;
    FOR tn IN SELECT t.name FROM motion.triggers t WHERE want IS NULL OR t.name = want
              ORDER BY t.name LOOP
        IF dry_run THEN
            SELECT (t.settings).keep_versions, (t.settings).keep_events, t.serving_version,
                   t.pinned_version
              INTO keep_n, keep_s, serving, pinned
            FROM motion.triggers t WHERE t.name = tn;
        ELSE
            SELECT (t.settings).keep_versions, (t.settings).keep_events, t.serving_version,
                   t.pinned_version
              INTO keep_n, keep_s, serving, pinned
            FROM motion.triggers t WHERE t.name = tn FOR UPDATE;
        END IF;
        CONTINUE WHEN NOT FOUND;  -- dropped meanwhile
        SELECT max(v.version) INTO head FROM motion.versions v WHERE v.trigger_name = tn;
        -- a running fit folds onto the version newest when it started, or a newer one
        SELECT coalesce(min(coalesce(
                   (SELECT max(v.version) FROM motion.versions v
                    WHERE v.trigger_name = tn AND v.created_at <= r.started_at), 0)),
                   2147483647)
          INTO protect_from
        FROM motion.runs r WHERE r.trigger_name = tn AND r.state = 'running';

        SELECT array_agg(d.version ORDER BY d.version) INTO doomed FROM (
            SELECT v.version FROM motion.versions v
            WHERE v.trigger_name = tn AND v.pruned_at IS NULL
              AND v.version <= head - keep_n
              AND v.version < protect_from
              AND v.version IS DISTINCT FROM serving
              AND v.version IS DISTINCT FROM pinned
            ORDER BY v.version LIMIT batch) d;
        doomed := coalesce(doomed, '{}');

        SELECT coalesce(sum(pg_column_size(e.*)), 0) INTO entry_bytes
        FROM motion.state_entries e WHERE e.trigger_name = tn AND e.version = ANY (doomed);
        -- blobs are shared by content: only those no kept version's entry uses go
        SELECT array_agg(b.id ORDER BY b.id), coalesce(sum(octet_length(b.data)), 0)
          INTO blob_ids, blob_bytes
        FROM motion.blobs b
        WHERE b.id IN (SELECT e.blob_id FROM motion.state_entries e
                       WHERE e.trigger_name = tn AND e.version = ANY (doomed))
          AND NOT EXISTS (SELECT FROM motion.state_entries o
                          WHERE o.blob_id = b.id AND NOT (o.trigger_name = tn
                                                          AND o.version = ANY (doomed)));
        blob_ids := coalesce(blob_ids, '{}');

        SELECT array_agg(g.id ORDER BY g.id), coalesce(sum(g.size), 0),
               array_agg(DISTINCT g.built) FILTER (WHERE g.built IS NOT NULL)
          INTO event_ids, event_bytes, event_versions
        FROM (
            SELECT l.id, pg_column_size(l.*)::bigint AS size, r.version_after AS built
            FROM motion.job_log l LEFT JOIN motion.runs r ON r.id = l.run_id
            WHERE l.trigger_name = tn
              AND l.created_at < now() - make_interval(secs => keep_s)
              AND NOT EXISTS (SELECT FROM motion.versions v
                              WHERE v.trigger_name = tn AND v.version = r.version_after
                                AND v.pruned_at IS NULL AND NOT (v.version = ANY (doomed)))
            ORDER BY l.created_at, l.id LIMIT batch) g;
        event_ids := coalesce(event_ids, '{}');

        IF NOT dry_run THEN
            DELETE FROM motion.state_entries e
            WHERE e.trigger_name = tn AND e.version = ANY (doomed);
            UPDATE motion.versions v SET pruned_at = now()
            WHERE v.trigger_name = tn AND v.version = ANY (doomed);
            DELETE FROM motion.blobs b WHERE b.id = ANY (blob_ids);
            DELETE FROM motion.job_log l WHERE l.id = ANY (event_ids);
            -- a plain run's event ids (runs.job_ids) are read only while it runs (motion._run_jobs,
            -- motion._in_running_run); once it ended, its events name it (run_id, in motion.jobs
            -- or motion.job_log) and the array is dead weight: ~8 bytes per event, forever
            UPDATE motion.runs r SET job_ids = NULL
            WHERE r.trigger_name = tn AND r.job_ids IS NOT NULL AND r.state <> 'running';
        END IF;

        trigger_name := tn;
        kind := 'versions'; count := cardinality(doomed); versions := doomed;
        bytes := entry_bytes;
        RETURN NEXT;
        kind := 'events'; count := cardinality(event_ids);
        versions := coalesce(event_versions, '{}'); bytes := event_bytes;
        RETURN NEXT;
        kind := 'blobs'; count := cardinality(blob_ids); versions := doomed; bytes := blob_bytes;
        RETURN NEXT;
    END LOOP;
    -- the shared state cache's files of the blobs gone (190-shared.sql; absent in managed mode)
    IF NOT dry_run AND pg_catalog.to_regprocedure('motion._sweep_state_cache()') IS NOT NULL THEN
        PERFORM motion._sweep_state_cache();
    END IF;
END
$$;
REVOKE ALL ON FUNCTION motion.prune(text, boolean, integer) FROM PUBLIC;

-- Why a version has no state: NULL when it is kept (or does not exist), else the message
-- ROLLBACK, PIN, motion.state and state loading refuse it with.
CREATE OR REPLACE FUNCTION motion._pruned_message(trigger text, version integer) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('version %s of trigger %s was pruned by retention at %s; versions kept: %s',
                  v.version, v.trigger_name, v.pruned_at,
                  coalesce((SELECT string_agg(CASE WHEN r.lo = r.hi THEN r.lo::text
                                                   ELSE r.lo || '-' || r.hi END, ', ' ORDER BY r.lo)
                            FROM (SELECT min(k.version) AS lo, max(k.version) AS hi
                                  FROM (SELECT k.version, k.version - row_number() OVER (
                                               ORDER BY k.version) AS grp
                                        FROM motion.versions k
                                        WHERE k.trigger_name = $1 AND k.pruned_at IS NULL) k
                                  GROUP BY k.grp) r), 'none'))
    FROM motion.versions v
    WHERE v.trigger_name = $1 AND v.version = $2 AND v.pruned_at IS NOT NULL
$$;
REVOKE ALL ON FUNCTION motion._pruned_message(text, integer) FROM PUBLIC;
