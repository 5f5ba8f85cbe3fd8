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
