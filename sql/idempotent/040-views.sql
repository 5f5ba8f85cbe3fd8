-- Idempotent: dropped and made again by every install and upgrade.

-- Catalog views a DBA reads without the CLI.
DROP VIEW IF EXISTS motion.trigger_status;
CREATE VIEW motion.trigger_status AS
SELECT t.name, t.class_ref, t.enabled, t.serving_version, t.pinned_version, t.params,
       to_jsonb(t.settings) AS settings,
       t.search_path,
       (SELECT string_agg(format('ON %s%s%s%s', r.relation,
                                 CASE WHEN r.columns IS NULL THEN ''
                                      ELSE ' (' || array_to_string(r.columns, ', ') || ')' END,
                                 coalesce(' INFER ' || r.infer_method, ' NO INFER'),
                                 coalesce(' FIT ' || r.fit_method, ' NO FIT')), ' ' ORDER BY r.ordinal)
        FROM motion.routes r WHERE r.trigger_name = t.name) AS routes,
       (SELECT string_agg(CASE WHEN s.refit_every IS NULL
                               THEN format('ON SCHEDULE %L FIT %s', s.cron, s.fit_method)
                               ELSE format('REFIT EVERY %L', s.cron) END, ' '
                          ORDER BY s.ordinal)
        FROM motion.schedules s WHERE s.trigger_name = t.name) AS schedules,
       (SELECT min(s.next_run_at) FROM motion.schedules s WHERE s.trigger_name = t.name)
           AS next_run_at,
       -- a plain run's events stay 'pending' while it runs (claim2): they count as running
       count(j.id) FILTER (WHERE j.state = 'pending') - h.held AS pending,
       count(j.id) FILTER (WHERE j.state = 'running') + h.held AS running,
       count(j.id) FILTER (WHERE j.state = 'dead') AS dead,
       now() - min(j.created_at) FILTER (WHERE j.state = 'pending') AS oldest_pending_age,
       (SELECT count(*) FROM motion.versions v
        WHERE v.trigger_name = t.name AND v.pruned_at IS NULL) AS versions_kept,
       (SELECT count(*) FROM motion.versions v
        WHERE v.trigger_name = t.name AND v.pruned_at IS NOT NULL) AS versions_pruned,
       t.created_at, t.updated_at
FROM motion.triggers t LEFT JOIN motion.jobs j ON j.trigger_name = t.name
CROSS JOIN LATERAL (SELECT coalesce(sum(r.jobs), 0)::bigint AS held FROM motion.runs r
                    WHERE r.trigger_name = t.name AND r.state = 'running' AND NOT r.keyed) h
GROUP BY t.name, h.held;

DROP VIEW IF EXISTS motion.version_history;
CREATE VIEW motion.version_history AS
SELECT v.trigger_name, v.version, v.created_at, v.source, v.run_id, v.parent_version,
       v.restored_from, v.params, to_jsonb(v.settings) AS settings, v.code_digest, v.state_bytes,
       (v.version = t.serving_version) AS serving,
       v.pruned_at,  -- set: retention removed its state; the row stays as the lineage's tombstone
       (SELECT array_agg(e.key ORDER BY e.key) FROM motion.state_entries e
        WHERE e.trigger_name = v.trigger_name AND e.version = v.version) AS state_keys
FROM motion.versions v JOIN motion.triggers t ON t.name = v.trigger_name;

DROP VIEW IF EXISTS motion.job_summary;
CREATE VIEW motion.job_summary AS
SELECT trigger_name, state, count(*) AS jobs, now() - min(created_at) AS oldest_age,
       max(attempts) AS max_attempts
FROM motion.jobs GROUP BY trigger_name, state;
