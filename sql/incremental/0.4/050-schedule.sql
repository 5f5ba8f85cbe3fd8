-- motion schema 0.4: scheduled routes (ON SCHEDULE 'cron expression' [FIT m]). Incremental: runs
-- once; never edited after the release.

-- One row per scheduled route. A worker fires a due schedule by advancing next_run_at and enqueuing
-- one 'SCHEDULE' job in a single statement guarded by the next_run_at it read, so however many
-- workers run, one period fires once; next_run_at then jumps to the first time after now, so the
-- periods missed while no worker ran fire once, not once each.
CREATE TABLE motion.schedules (
    trigger_name text NOT NULL REFERENCES motion.triggers ON DELETE CASCADE,
    ordinal integer NOT NULL,               -- the route ordinal: after the relation routes'
    cron text NOT NULL,                     -- as written; motion_pg.cron reads it (UTC)
    fit_method text NOT NULL,
    next_run_at timestamptz NOT NULL,
    last_run_at timestamptz,
    last_job_id bigint,                     -- the job of the last firing (motion.jobs, job_log)
    PRIMARY KEY (trigger_name, ordinal)
);
CREATE INDEX schedules_due ON motion.schedules (next_run_at);

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.schedules', '');
-- extension-only: end
