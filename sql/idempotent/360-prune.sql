-- The worker's statements that end a run (fail_jobs, reclaim_expired and release_runs in
-- sql/queries.sql call these), without sequential scans, as motion._claim_plain. They run on the
-- worker's connection, which psycopg prepares after five runs (reclaim_expired at every
-- housekeeping turn); a generic plan made while motion.jobs was drained (no pages, analyzed empty)
-- read the queue sequentially and called motion._run_jobs once per queued row until the next
-- ANALYZE (tests/integration/test_worker_plans.py). Functions, so that the setting holds for these
-- statements only: the worker's connection also samples user tables for drift with its own
-- settings. PL/pgSQL keeps each plan; RETURN QUERY, so that EXPLAIN sees the statement. Each read
-- of the queue here has an index made for it: the primary key, for the run's event ids.
-- Administrators only. Idempotent.

-- fail_jobs: the run's events back to pending with exponential backoff, or dead after max
-- attempts ($3); keeps every traceback. $1 run, $2 error, $4 retry delay, $5 its cap (seconds).
-- n: the attempts with this one (a plain run's events count it now, a keyed run's at claim).
-- Returns the events failed.
CREATE OR REPLACE FUNCTION motion._fail_jobs(bigint, text, integer, float8, float8)
RETURNS TABLE (id bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH failed AS (
    UPDATE motion.jobs j SET
        state = CASE WHEN (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END) >= $3::integer THEN 'dead' ELSE 'pending' END,
        attempts = (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END), run_id = $1::bigint,
        run_at = now() + make_interval(secs => least($4::float8 * power(2, (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END) - 1),
                                                     $5::float8) * (0.75 + random() * 0.5)),
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END), 'at', now(), 'run', $1::bigint, 'error', $2::text)),
        finished_at = CASE WHEN (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END) >= $3::integer THEN now() END
    WHERE j.id = ANY (motion._run_jobs($1::bigint)) AND j.state IN ('pending', 'running')
    RETURNING j.id
)
SELECT f.id FROM failed f;
END
$$;
REVOKE ALL ON FUNCTION motion._fail_jobs(bigint, text, integer, float8, float8) FROM PUBLIC;

-- reclaim_expired: fits whose lease expired and whose worker stopped heartbeating for $1 seconds
-- go back to pending (or dead after max_attempts: a job that kills its worker does not loop
-- forever). The run's state is re-checked under its row lock, so a fit that completed meanwhile
-- is never re-run. Returns the events and their new state.
CREATE OR REPLACE FUNCTION motion._reclaim_expired(float8)
RETURNS TABLE (id bigint, state text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH expired AS (
    SELECT r.id FROM motion.runs r
    WHERE r.state = 'running' AND r.lease_until < now()
      AND NOT EXISTS (SELECT 1 FROM motion.workers w WHERE w.id = r.worker_id
                      AND w.heartbeat_at > now() - make_interval(secs => $1::float8))
    FOR UPDATE SKIP LOCKED
), abandoned AS (
    UPDATE motion.runs r SET state = 'abandoned', finished_at = now(),
           error = 'lease expired: worker ' || r.worker_id || ' is gone'
    FROM expired WHERE r.id = expired.id AND r.state = 'running'
    RETURNING r.id, r.worker_id, r.trigger_name
), reclaimed AS (
    -- n: the attempts with the lost one (a plain run's events count it now, a keyed run's at claim)
    UPDATE motion.jobs j SET
        state = CASE WHEN (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END) >= coalesce((t.settings).max_attempts, 5)
                     THEN 'dead' ELSE 'pending' END,
        attempts = (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END), run_id = a.id,
        run_at = now(),
        finished_at = CASE WHEN (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END) >= coalesce((t.settings).max_attempts, 5)
                           THEN now() END,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', (j.attempts + CASE WHEN j.state = 'pending' THEN 1 ELSE 0 END), 'at', now(), 'run', a.id,
            'error', 'worker ' || a.worker_id || ' was lost during the fit (lease expired)'))
    FROM abandoned a LEFT JOIN motion.triggers t ON t.name = a.trigger_name
    WHERE j.id = ANY (motion._run_jobs(a.id)) AND j.state IN ('pending', 'running')
    RETURNING j.id, j.state
)
SELECT c.id, c.state FROM reclaimed c;
END
$$;
REVOKE ALL ON FUNCTION motion._reclaim_expired(float8) FROM PUBLIC;

-- release_runs: hand worker $1's running fits back (shutdown, lost connection) with the reason
-- $3; $2 refunds the attempt the claim counted. Returns the events handed back.
CREATE OR REPLACE FUNCTION motion._release_runs(text, boolean, text) RETURNS TABLE (id bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH released AS (
    UPDATE motion.runs r SET state = 'abandoned', finished_at = now(), error = $3::text
    WHERE r.worker_id = $1 AND r.state = 'running'
    RETURNING r.id
), handed AS (
    -- a plain run's events are still pending: written only when the attempt counts
    UPDATE motion.jobs j SET state = 'pending', run_at = now(), run_id = released.id,
           attempts = j.attempts + CASE WHEN j.state = 'pending' THEN (CASE WHEN $2::boolean THEN 0 ELSE 1 END)
                                        ELSE (CASE WHEN $2::boolean THEN -1 ELSE 0 END) END
    FROM released
    WHERE j.id = ANY (motion._run_jobs(released.id)) AND j.state IN ('pending', 'running')
      -- a CASE, not an OR: the planner would serve an OR from the partial indexes on state
      AND CASE WHEN j.state = 'pending' THEN NOT $2::boolean ELSE true END
    RETURNING j.id
)
SELECT h.id FROM handed h;
END
$$;
REVOKE ALL ON FUNCTION motion._release_runs(text, boolean, text) FROM PUBLIC;
