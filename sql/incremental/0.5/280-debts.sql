-- motion schema 0.5: debts of earlier releases (issue 15's follow-up). Incremental: runs once;
-- never edited after the release.

-- motion.prune clears the event ids of finished plain runs (runs.job_ids, read only while a run
-- runs): this index finds them without reading every run ever made. A run enters it when it ends
-- and leaves it when pruned, so it holds about a minute of runs (the worker prunes every minute).
CREATE INDEX runs_finished_with_job_ids ON motion.runs (trigger_name)
    WHERE job_ids IS NOT NULL AND state <> 'running';

-- Canaries made before 0.5 have no secret split salt (motion.experiments.salt, 210-exp.sql): their
-- rows were split by a plain SHA-256 of the row key, which a writer can aim at. They get one now,
-- like the one CREATE … CANARY OF draws (16 random bytes as hex; here hashed from 244 bits of the
-- server's strong random source, gen_random_uuid), so an upgraded canary splits like a fresh one.
-- Both sides of the experiment reload (their revision changes).
WITH salted AS (
    UPDATE motion.experiments
    SET salt = pg_catalog.encode(pg_catalog.substr(pg_catalog.sha256(
            pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
            || pg_catalog.uuid_send(pg_catalog.gen_random_uuid())), 1, 16), 'hex')
    WHERE kind = 'canary' AND salt IS NULL
    RETURNING trigger_name, baseline
)
UPDATE motion.triggers t SET revision = pg_catalog.nextval('motion.revisions'::regclass)
WHERE t.name IN (SELECT trigger_name FROM salted UNION SELECT baseline FROM salted);

-- The claims' plans must not depend on when motion.jobs was last analyzed. Autoanalyze mostly sees
-- the queue drained (every event done, or one batch running), and its share of 'pending' then
-- makes the planner believe the pending indexes empty: any of them looks as cheap as the right
-- one, and the keyed claim walked every pending event of its trigger per claimed event. Without
-- statistics on state the planner takes a fixed share for `state = 'pending'`, the same at any
-- moment (tests/integration/test_keyed_claim_plan.py). The statistics already taken are removed
-- (ANALYZE would keep them); that needs a superuser, which a managed install's owner is not: its
-- next fresh install does without them.
ALTER TABLE motion.jobs ALTER COLUMN state SET STATISTICS 0;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_stats s WHERE s.schemaname = 'motion'
                   AND s.tablename = 'jobs' AND s.attname = 'state') THEN
        RETURN;  -- a fresh install, or never analyzed
    END IF;
    DELETE FROM pg_catalog.pg_statistic s
    WHERE s.starelid = 'motion.jobs'::pg_catalog.regclass
      AND s.staattnum = (SELECT a.attnum FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = 'motion.jobs'::pg_catalog.regclass
                           AND a.attname = 'state');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'the statistics of motion.jobs.state stay until a superuser removes them: the claim of keyed triggers may walk the queue until then'
        USING HINT = 'as a superuser: DELETE FROM pg_statistic WHERE starelid = ''motion.jobs''::regclass AND staattnum = (SELECT attnum FROM pg_attribute WHERE attrelid = ''motion.jobs''::regclass AND attname = ''state'')';
END
$$;
