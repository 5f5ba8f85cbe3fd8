-- The worker's claim step (issue 15): the fit-policy gate, the backlog trim, the keyed and the plain
-- claim in one statement, so one round trip per claim, and each part skipped when no enabled trigger
-- needs it. The parts are the statements the worker used to send one by one (their texts are these
-- functions' bodies; sql/queries.sql runs them by name through the same functions). Administrators
-- only. Idempotent: re-applied by every install and upgrade.

-- The plain claim (claim_jobs in sql/queries.sql): see the comment there.
-- PL/pgSQL only to keep the statement's plan: a LANGUAGE sql function is parsed and planned again
-- on every call (about 1 ms of a one-event claim). Its plan depends on no parameter's value (the
-- ranges come from the candidate CTE, known only at run time), so the generic plan PL/pgSQL settles
-- on is the custom one (tests/integration/test_claim_plan.py checks both).
-- Without sequential scans (and so claim_step, whose statements PL/pgSQL caches alike): a worker
-- polling a drained queue makes its generic plans while motion.jobs has no pages and was analyzed
-- empty, where a sequential read costs nothing; a cached plan does not follow the table's size
-- until the next ANALYZE, so a bulk load was claimed by reading the whole queue, ~0.2 s per claim
-- at 100k, for up to a minute (the P4 outlier; tests/integration/test_outlier_plan.py). Every read
-- of the queue here has an index made for it.
CREATE OR REPLACE FUNCTION motion._claim_plain(text, float8, integer, text[], jsonb, integer, bigint)
RETURNS TABLE (run_id bigint, trigger_name text, id bigint, route integer, relation text, op text,
               row_data jsonb, attempts integer)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH candidate AS MATERIALIZED (
    SELECT t.name AS trigger_name,
           -- the event cap: what its time budget allows ($5: caps by trigger name, $6 for a
           -- trigger the worker has not timed), and the trigger's fit_batch (else the worker's
           -- $3) or, when that is smaller, a group of fit calls of up to 10,000 events
           -- (motion_pg.worker.grouping: one version per fit_batch slice, one commit)
           LEAST(GREATEST(coalesce((t.settings).fit_batch, $3::integer), 10000),
                 coalesce(($5::jsonb ->> t.name)::integer, $6::integer)) AS fit_batch,
           coalesce((t.settings).fit_batch_bytes, $7::bigint) AS fit_bytes,
           (t.settings).on_fit_error = 'block' AS strict
    FROM motion.triggers t
    CROSS JOIN LATERAL (
        -- the trigger's oldest ready event; under 'block' its oldest pending one, which must be
        -- ready. A row range, not trigger_name = t.name: the planner then cannot take an index on
        -- id and filter a deep queue of other triggers' events for a trigger with none pending.
        SELECT j.id, j.run_at <= now() AS due FROM motion.jobs j
        WHERE (j.trigger_name, j.id) >= (t.name, 0)
          AND (j.trigger_name, j.id) <= (t.name, 9223372036854775807)
          AND j.state = 'pending'
          AND (j.run_at <= now() OR (t.settings).on_fit_error = 'block')
        ORDER BY j.trigger_name, j.id LIMIT 1
    ) oldest
    -- a disabled trigger keeps its events: they are fitted after ENABLE; $4: the triggers whose
    -- deployed code this worker does not have (motion_pg.worker.code_gate)
    WHERE t.enabled AND oldest.due AND NOT (t.name = ANY ($4::text[]))
      AND t.state_per IS NULL  -- keyed triggers (STATE PER) are claimed per key: claim_keyed_jobs
      AND NOT EXISTS (SELECT 1 FROM motion.runs r
                      WHERE r.trigger_name = t.name AND r.state = 'running')
      AND NOT ((t.settings).on_fit_error = 'block'
               AND (SELECT d.id FROM motion.jobs d
                    WHERE (d.trigger_name, d.id) >= (t.name, 0)
                      AND (d.trigger_name, d.id) <= (t.name, 9223372036854775807)
                      AND d.state = 'dead'
                    ORDER BY d.trigger_name, d.id LIMIT 1) IS NOT NULL)
    ORDER BY oldest.id
    LIMIT 1
), locked AS MATERIALIZED (
    -- the candidate's oldest ready events (under 'block' its oldest pending ones), locked in the
    -- same walk of its row range: each event is read once, never looked up again by primary key.
    -- A row another transaction holds is skipped here; the batch ends before it (cut).
    SELECT j.id, j.run_at <= now() AS due, pg_catalog.pg_column_size(j.row_data) AS size,
           j.trigger_name, j.route, j.relation, j.op, j.row_data, j.attempts
    FROM motion.jobs j
    WHERE (j.trigger_name, j.id) >= ((SELECT trigger_name FROM candidate), 0)
      AND (j.trigger_name, j.id) <= ((SELECT trigger_name FROM candidate), 9223372036854775807)
      AND j.state = 'pending'
      AND (j.run_at <= now() OR (SELECT strict FROM candidate))
    ORDER BY j.trigger_name, j.id
    LIMIT (SELECT fit_batch FROM candidate)
    FOR UPDATE SKIP LOCKED
), skipped AS MATERIALIZED (
    -- the first ready event the lock skipped (another transaction holds it, or changed it since
    -- this statement's snapshot): none when the n-th ready event is the last one locked (n: the
    -- events locked), the usual case. Both walks are ordered with a LIMIT: a row comparison
    -- bounds an index walk only on its first column, so a walk bounded by the last event locked
    -- would go on through every pending event of the trigger
    SELECT CASE WHEN (SELECT pg_catalog.max(r.id)
                      FROM (SELECT j.id FROM motion.jobs j
                            WHERE (j.trigger_name, j.id)
                                    >= ((SELECT trigger_name FROM candidate), 0)
                              AND (j.trigger_name, j.id)
                                    <= ((SELECT trigger_name FROM candidate), 9223372036854775807)
                              AND j.state = 'pending'
                              AND (j.run_at <= now() OR (SELECT strict FROM candidate))
                            ORDER BY j.trigger_name, j.id
                            LIMIT (SELECT pg_catalog.count(*) FROM locked)) r)
                     IS NOT DISTINCT FROM (SELECT pg_catalog.max(id) FROM locked)
                THEN NULL
                ELSE (SELECT j.id FROM motion.jobs j
                      WHERE (j.trigger_name, j.id) >= ((SELECT trigger_name FROM candidate), 0)
                        AND (j.trigger_name, j.id) <= ((SELECT trigger_name FROM candidate),
                                                       9223372036854775807)
                        AND j.state = 'pending'
                        AND (j.run_at <= now() OR (SELECT strict FROM candidate))
                        AND j.id NOT IN (SELECT id FROM locked)
                      ORDER BY j.trigger_name, j.id LIMIT 1) END AS id
), cut AS MATERIALIZED (
    -- the first locked event not to take (least() ignores the NULLs of the cuts that do not
    -- apply): the first that waits (under 'block'), the one the lock skipped (taking later
    -- events would fit them before it), and the first beyond the bytes budget (the first event
    -- always goes, whatever its size), summed in order only when the whole batch exceeds it
    SELECT least(
        (SELECT id FROM skipped),
        (SELECT pg_catalog.min(id) FROM locked WHERE NOT due),
        CASE WHEN (SELECT pg_catalog.sum(size) FROM locked) > (SELECT fit_bytes FROM candidate)
             THEN (SELECT pg_catalog.min(s.id)
                   FROM (SELECT l.id, pg_catalog.sum(l.size) OVER (ORDER BY l.id) AS bytes
                         FROM locked l) s
                   WHERE s.bytes > (SELECT fit_bytes FROM candidate)
                     AND s.id > (SELECT pg_catalog.min(id) FROM locked)) END) AS id
), batch AS MATERIALIZED (
    -- the locked events before the cut
    SELECT id FROM locked WHERE id < coalesce((SELECT id FROM cut), 9223372036854775807)
), run AS (
    -- no run without events: an empty run would hold the trigger's one running slot. The run
    -- names its events; they are not written (completion moves them to the job log)
    INSERT INTO motion.runs (trigger_name, worker_id, lease_until, jobs, job_ids)
    SELECT trigger_name, $1, now() + make_interval(secs => $2::float8),
           (SELECT count(*) FROM batch)::integer, ARRAY(SELECT id FROM batch ORDER BY id)
    FROM candidate
    WHERE EXISTS (SELECT 1 FROM batch)
    RETURNING id
)
-- attempts: this one included (the event's row counts the attempts that ended)
SELECT run.id AS run_id, l.trigger_name, l.id, l.route, l.relation, l.op, l.row_data,
       l.attempts + 1 AS attempts
FROM run CROSS JOIN locked l
WHERE l.id <= (SELECT max(id) FROM batch);  -- batch is a prefix of locked
END
$$;
REVOKE ALL ON FUNCTION motion._claim_plain(text, float8, integer, text[], jsonb, integer, bigint)
    FROM PUBLIC;

-- The events of run $1: those a plain run named when it claimed them (still 'pending' in
-- motion.jobs until the run ends), or those a keyed run marked 'running'. Primary key lookups.
CREATE OR REPLACE FUNCTION motion._run_jobs(bigint) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT coalesce(r.job_ids, ARRAY(SELECT j.id FROM motion.jobs j
                                 WHERE j.run_id = r.id AND j.state = 'running'))
FROM motion.runs r WHERE r.id = $1
$$;
REVOKE ALL ON FUNCTION motion._run_jobs(bigint) FROM PUBLIC;

-- The keyed claim (claim_keyed_jobs in sql/queries.sql): see the comment there.
CREATE OR REPLACE FUNCTION motion._claim_keyed(text, float8, integer, text[])
RETURNS TABLE (run_id bigint, trigger_name text, id bigint, route integer, relation text, op text,
               row_data jsonb, attempts integer, state_key jsonb)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
WITH candidate AS MATERIALIZED (
    SELECT t.name AS trigger_name,
           coalesce((t.settings).fit_batch, $3::integer) AS fit_batch,
           (t.settings).on_fit_error = 'block' AS strict
    FROM motion.triggers t
    CROSS JOIN LATERAL (
        SELECT j.id FROM motion.jobs j
        WHERE (j.trigger_name, j.id) >= (t.name, 0)
          AND (j.trigger_name, j.id) <= (t.name, 9223372036854775807)
          AND j.state = 'pending' AND j.run_at <= now()
          AND (SELECT 1 FROM motion.key_runs k
               WHERE k.trigger_name = t.name AND k.state_key = j.state_key) IS NULL
        ORDER BY j.trigger_name, j.id LIMIT 1
    ) oldest
    WHERE t.state_per IS NOT NULL AND t.enabled AND NOT (t.name = ANY ($4::text[]))
    ORDER BY oldest.id
    LIMIT 1
), ready AS MATERIALIZED (
    SELECT j.id, j.state_key FROM motion.jobs j
    WHERE (j.trigger_name, j.id) >= ((SELECT trigger_name FROM candidate), 0)
      AND (j.trigger_name, j.id) <= ((SELECT trigger_name FROM candidate), 9223372036854775807)
      AND j.state = 'pending' AND j.run_at <= now() AND j.state_key IS NOT NULL
      -- the keys running fits hold: a few hundred at most, hashed once per claim
      AND j.state_key NOT IN (SELECT k.state_key FROM motion.key_runs k
                              WHERE k.trigger_name = (SELECT trigger_name FROM candidate))
      -- a scalar subquery with LIMIT, not NOT EXISTS: one index probe per event walked, never an
      -- anti-join that reads every pending event (the planner's choice on a fresh queue). It
      -- reads jobs_pending_by_key: with the share of pending events taken from statistics, a
      -- drained queue's made jobs_pending_by_trigger look as cheap, a walk of every earlier
      -- pending event of the trigger per event (motion.jobs.state has no statistics since 0.5)
      AND (SELECT e.id FROM motion.jobs e
           WHERE e.trigger_name = j.trigger_name AND e.state_key = j.state_key
             AND e.state = 'pending' AND e.state_key IS NOT NULL AND e.id < j.id
             AND e.run_at > now()
           LIMIT 1) IS NULL
      AND NOT ((SELECT strict FROM candidate)
               AND (SELECT d.id FROM motion.jobs d
                    WHERE (d.trigger_name, d.id) >= (j.trigger_name, 0)
                      AND (d.trigger_name, d.id) <= (j.trigger_name, 9223372036854775807)
                      AND d.state = 'dead' AND d.state_key = j.state_key
                    LIMIT 1) IS NOT NULL)
    ORDER BY j.trigger_name, j.id
    LIMIT (SELECT fit_batch FROM candidate)
), run AS (
    INSERT INTO motion.runs (trigger_name, worker_id, lease_until, keyed)
    SELECT trigger_name, $1, now() + make_interval(secs => $2::float8), true FROM candidate
    WHERE EXISTS (SELECT 1 FROM ready)
    RETURNING id, trigger_name
), held AS (
    INSERT INTO motion.key_runs (trigger_name, state_key, run_id)
    -- in key order: two claimers wait for each other's keys in one order, never in a cycle
    SELECT DISTINCT run.trigger_name, r.state_key, run.id FROM ready r CROSS JOIN run
    ORDER BY r.state_key
    ON CONFLICT DO NOTHING
    RETURNING state_key
)
UPDATE motion.jobs j SET state = 'running', run_id = run.id, attempts = j.attempts + 1
FROM run
WHERE j.id = ANY (ARRAY(SELECT r.id FROM ready r
                        WHERE r.state_key IN (SELECT h.state_key FROM held h)))
  -- by primary key only: a CASE, which no partial index's predicate (state = 'pending') matches;
  -- with that condition as such, stale statistics had the planner walk jobs_pending_by_trigger
  -- (every pending event) for the ids (tests/integration/test_keyed_claim_plan.py)
  AND CASE WHEN j.state = 'pending' THEN true ELSE false END
RETURNING run.id AS run_id, j.trigger_name, j.id, j.route, j.relation, j.op, j.row_data,
          j.attempts, j.state_key
$$;
REVOKE ALL ON FUNCTION motion._claim_keyed(text, float8, integer, text[]) FROM PUBLIC;

-- Whether event $2 of trigger $1 is named by the trigger's running plain run (its events are not
-- marked: a run's events are a range of ids in claim order).
CREATE OR REPLACE FUNCTION motion._in_running_run(text, bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT EXISTS (SELECT 1 FROM motion.runs r
               WHERE r.trigger_name = $1 AND r.state = 'running' AND NOT r.keyed
                 AND $2 BETWEEN r.job_ids[1] AND r.job_ids[pg_catalog.cardinality(r.job_ids)])
$$;
REVOKE ALL ON FUNCTION motion._in_running_run(text, bigint) FROM PUBLIC;

-- The backlog trim (shed_backlog in sql/queries.sql): see the comment there. Two statements: the
-- second one's snapshot sees every plain run that committed before the first locked its events.
CREATE OR REPLACE FUNCTION motion._shed_backlog()
RETURNS TABLE (trigger_name text, reason text, events bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_ids bigint[];
    v_reasons text[];
BEGIN
    -- 1. lock the doomed events (a claim in flight holds its events: skipped)
    WITH policy AS MATERIALIZED (
    SELECT t.name, (t.settings).keep_latest AS keep_latest,
           pg_catalog.now() - pg_catalog.make_interval(secs => (t.settings).discard_after)
               AS older_than
    FROM motion.triggers t
    WHERE t.enabled
      AND ((t.settings).discard_after IS NOT NULL OR (t.settings).keep_latest IS NOT NULL)
), cut AS MATERIALIZED (
    SELECT p.name, p.older_than,
           CASE WHEN p.keep_latest IS NOT NULL THEN  -- (OFFSET NULL would mean OFFSET 0)
               (SELECT j.id FROM motion.jobs j
                WHERE (j.trigger_name, j.id) >= (p.name, 0)
                  AND (j.trigger_name, j.id) <= (p.name, 9223372036854775807)
                  AND j.state = 'pending' AND j.op <> 'SCHEDULE'
                ORDER BY j.trigger_name DESC, j.id DESC
                OFFSET p.keep_latest LIMIT 1) END AS latest_cut,
           CASE WHEN p.older_than IS NOT NULL THEN coalesce(
               (SELECT j.id - 1 FROM motion.jobs j
                WHERE (j.trigger_name, j.id) >= (p.name, 0)
                  AND (j.trigger_name, j.id) <= (p.name, 9223372036854775807)
                  AND j.state = 'pending' AND j.created_at >= p.older_than
                ORDER BY j.trigger_name, j.id LIMIT 1),
               9223372036854775807) END AS age_cut
    FROM policy p
), doomed AS MATERIALIZED (
    SELECT d.id, c.name,
           CASE WHEN d.id <= c.latest_cut THEN 'keep_latest' ELSE 'discard_after' END AS reason
    FROM cut c
    CROSS JOIN LATERAL (
        SELECT j.id FROM motion.jobs j
        WHERE (j.trigger_name, j.id) >= (c.name, 0)
          AND (j.trigger_name, j.id) <= (c.name, greatest(c.latest_cut, c.age_cut))
          AND j.state = 'pending' AND j.op <> 'SCHEDULE'
          AND (j.id <= c.latest_cut OR j.created_at < c.older_than)
          AND NOT motion._in_running_run(j.trigger_name, j.id)
        FOR UPDATE SKIP LOCKED
    ) d
)
    SELECT array_agg(d.id ORDER BY d.id), array_agg(d.reason ORDER BY d.id)
      INTO v_ids, v_reasons FROM doomed d;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    -- 2. in a snapshot taken with those locks held: a plain run that committed meanwhile names
    -- events it did not write; they are not dropped
    RETURN QUERY
    WITH doomed AS (
        SELECT u.id, u.reason FROM unnest(v_ids, v_reasons) AS u(id, reason)
    ), gone AS (
        DELETE FROM motion.jobs j USING doomed d
        WHERE j.id = d.id AND j.state = 'pending'
          AND NOT motion._in_running_run(j.trigger_name, j.id)
        RETURNING j.trigger_name, d.reason, j.created_at
    ), counted AS (
    SELECT trigger_name, reason, count(*) AS events, min(created_at) AS oldest,
           max(created_at) AS newest
    FROM gone GROUP BY trigger_name, reason
), recorded AS (
    INSERT INTO motion.discards AS x (trigger_name, reason, minute, events, oldest_created_at,
                                      newest_created_at, last_at)
    SELECT trigger_name, reason, pg_catalog.date_trunc('minute', pg_catalog.now()), events,
           oldest, newest, pg_catalog.now()
    FROM counted
    ON CONFLICT (trigger_name, reason, minute) DO UPDATE
    SET events = x.events + excluded.events,
        oldest_created_at = least(x.oldest_created_at, excluded.oldest_created_at),
        newest_created_at = greatest(x.newest_created_at, excluded.newest_created_at),
        last_at = excluded.last_at
)
SELECT trigger_name, reason, events FROM counted ORDER BY trigger_name, reason;
END
$$;
REVOKE ALL ON FUNCTION motion._shed_backlog() FROM PUBLIC;

-- The fit-policy gate (policy_gate in sql/queries.sql): see the comment there.
CREATE OR REPLACE FUNCTION motion._policy_gate()
RETURNS TABLE (name text, newest bigint, action text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT g.name, g.newest,
       CASE WHEN g.paused THEN 'hold' WHEN g.refit THEN 'refit' WHEN g.released THEN 'go'
            WHEN g.fit THEN 'release' ELSE 'hold' END AS action
FROM (
    SELECT t.name, n.id AS newest,
           coalesce(d.drifted, false) AND (t.settings).on_drift = 'pause' AS paused,
           p.policy IS NOT NULL AND p.policy -> 'refit' <> '{}'::jsonb
             AND motion._policy_met(p.policy -> 'refit', t.name, o.created_at, d.share) AS refit,
           p.policy IS NULL OR p.policy -> 'fit' = '{}'::jsonb
             OR o.id <= coalesce(d.released_through, 0) AS released,
           motion._policy_met(p.policy -> 'fit', t.name, o.created_at, d.share) AS fit,
           EXISTS (SELECT 1 FROM motion.jobs j
                   WHERE j.id IN (SELECT s.last_job_id FROM motion.schedules s
                                  WHERE s.trigger_name = t.name AND s.refit_every IS NOT NULL
                                  UNION ALL SELECT d.refit_job_id)
                     AND j.state IN ('pending', 'running') AND j.op = 'REFIT') AS refit_pending
    FROM motion.triggers t
    LEFT JOIN motion.fit_policies p ON p.trigger_name = t.name
    LEFT JOIN motion.drift_status d ON d.trigger_name = t.name
    CROSS JOIN LATERAL (
        SELECT j.id, j.created_at FROM motion.jobs j
        WHERE (j.trigger_name, j.id) >= (t.name, 0)
          AND (j.trigger_name, j.id) <= (t.name, 9223372036854775807)
          AND j.state = 'pending'
        ORDER BY j.trigger_name, j.id LIMIT 1
    ) o
    CROSS JOIN LATERAL (
        SELECT j.id FROM motion.jobs j
        WHERE (j.trigger_name, j.id) >= (t.name, 0)
          AND (j.trigger_name, j.id) <= (t.name, 9223372036854775807)
          AND j.state = 'pending'
        ORDER BY j.trigger_name DESC, j.id DESC LIMIT 1
    ) n
    WHERE t.enabled AND (p.policy IS NOT NULL OR (d.drifted AND (t.settings).on_drift = 'pause'))
) g
WHERE NOT g.refit_pending AND (g.paused OR g.refit OR NOT g.released)
$$;
REVOKE ALL ON FUNCTION motion._policy_gate() FROM PUBLIC;

-- The trigger's REFIT job still pending or running (pending_refit in sql/queries.sql), or NULL.
CREATE OR REPLACE FUNCTION motion._pending_refit(text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT j.id FROM motion.jobs j
WHERE j.id IN (SELECT s.last_job_id FROM motion.schedules s
               WHERE s.trigger_name = $1 AND s.refit_every IS NOT NULL
               UNION ALL
               SELECT d.refit_job_id FROM motion.drift_status d WHERE d.trigger_name = $1)
  AND j.state IN ('pending', 'running') AND j.op = 'REFIT'
ORDER BY j.id DESC LIMIT 1
$$;
REVOKE ALL ON FUNCTION motion._pending_refit(text) FROM PUBLIC;

-- A REFIT job for the trigger ($2: why) unless one is pending already; its id, or NULL. The
-- trigger's drift status row lock makes concurrent workers enqueue one (motion_pg.worker.policy).
CREATE OR REPLACE FUNCTION motion._enqueue_refit(text, text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pending boolean;
    job bigint;
BEGIN
    INSERT INTO motion.drift_status (trigger_name, share, drifted) VALUES ($1, 0, false)
    ON CONFLICT (trigger_name) DO NOTHING;
    SELECT EXISTS (SELECT 1 FROM motion.jobs j WHERE j.id = d.refit_job_id
                   AND j.state IN ('pending', 'running'))
      INTO pending
      FROM motion.drift_status d WHERE d.trigger_name = $1 FOR UPDATE;
    IF pending IS NULL OR pending THEN
        RETURN NULL;
    END IF;
    WITH made AS (
        INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)
        VALUES ($1, -1, '', 'REFIT', jsonb_build_object('reason', $2))
        RETURNING motion.jobs.id
    )
    UPDATE motion.drift_status d SET refit_job_id = made.id FROM made
    WHERE d.trigger_name = $1 RETURNING made.id INTO job;
    RETURN job;
END
$$;
REVOKE ALL ON FUNCTION motion._enqueue_refit(text, text) FROM PUBLIC;

-- One claim step of worker p_worker, in one statement (one round trip):
--  1. the backlog trim (discard_after, keep_latest), when an enabled trigger has either setting:
--     rows of kind 'shed' (trigger_name, reason, events);
--  2. the fit-policy gate (FIT WHEN, REFIT WHEN, on_drift = 'pause'), when an enabled trigger has a
--     policy or pauses on drift: held triggers are not claimed (plain or keyed), releases are
--     recorded, refits enqueued (rows of kind 'refit': trigger_name, id of the REFIT job);
--  3. the keyed claim (STATE PER) and the plain claim, in the order p_keyed_first says, each only
--     when an enabled trigger of its kind exists: rows of kind 'plain' or 'keyed', the claimed
--     events (refit_job: the REFIT job a plain claim must refit for, else NULL; drift_pause:
--     whether its trigger pauses on drift, so the worker checks the events first).
-- Which parts run is read from the catalog in the same statement, so a definition change applies
-- from the next claim on, with no cache to invalidate.
-- p_batch, p_excluded, p_caps, p_probe, p_bytes: as claim_jobs' $3 to $7.
CREATE OR REPLACE FUNCTION motion.claim_step(
    p_worker text, p_lease float8, p_batch integer, p_excluded text[], p_caps jsonb,
    p_probe integer, p_bytes bigint, p_keyed_first boolean)
RETURNS TABLE (kind text, run_id bigint, trigger_name text, id bigint, route integer,
               relation text, op text, row_data jsonb, attempts integer, state_key jsonb,
               refit_job bigint, drift_pause boolean, events bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$  -- as motion._claim_plain: no plan made for an empty queue
#variable_conflict use_column
DECLARE
    v_keyed boolean;
    v_plain boolean;
    v_shed boolean;
    v_gate boolean;
    v_refit boolean;
    v_excluded text[] := coalesce(p_excluded, '{}');
    v_gated record;
    v_job bigint;
    v_claimed bigint;
    v_busy text;
    v_step integer;
    v_attempt integer;
BEGIN
    SELECT coalesce(bool_or(t.state_per IS NOT NULL), false),
           coalesce(bool_or(t.state_per IS NULL), false),
           coalesce(bool_or((t.settings).discard_after IS NOT NULL
                            OR (t.settings).keep_latest IS NOT NULL), false),
           coalesce(bool_or((t.settings).on_drift = 'pause'
                            OR EXISTS (SELECT 1 FROM motion.fit_policies p
                                       WHERE p.trigger_name = t.name)), false)
      INTO v_keyed, v_plain, v_shed, v_gate
      FROM motion.triggers t WHERE t.enabled;
    -- whether a REFIT can be pending at all (REFIT EVERY, or one a drift or a policy enqueued):
    -- motion._pending_refit, a LANGUAGE sql function planned on every call (~0.2 ms), runs for
    -- a plain claim only then. A REFIT enqueued after this read is found by the next claim, as
    -- one enqueued after the claim's own statement always was
    v_refit := EXISTS (SELECT 1 FROM motion.schedules s WHERE s.refit_every IS NOT NULL)
               OR EXISTS (SELECT 1 FROM motion.drift_status d WHERE d.refit_job_id IS NOT NULL);

    IF v_shed THEN
        RETURN QUERY SELECT 'shed'::text, NULL::bigint, s.trigger_name, NULL::bigint,
                            NULL::integer, NULL::text, NULL::text, NULL::jsonb, NULL::integer,
                            NULL::jsonb, NULL::bigint, NULL::boolean, s.events, s.reason
                     FROM motion._shed_backlog() s;
    END IF;

    IF v_gate THEN
        FOR v_gated IN SELECT g.name, g.newest, g.action FROM motion._policy_gate() g LOOP
            IF v_gated.action = 'refit' THEN
                v_job := motion._enqueue_refit(v_gated.name, 'REFIT WHEN policy met');
                IF v_job IS NOT NULL THEN
                    RETURN QUERY SELECT 'refit'::text, NULL::bigint, v_gated.name, v_job,
                                        NULL::integer, NULL::text, NULL::text, NULL::jsonb,
                                        NULL::integer, NULL::jsonb, NULL::bigint, NULL::boolean,
                                        NULL::bigint, 'REFIT WHEN policy met'::text;
                END IF;
            ELSIF v_gated.action = 'release' THEN
                INSERT INTO motion.drift_status AS d (trigger_name, share, drifted,
                                                      released_through)
                VALUES (v_gated.name, 0, false, v_gated.newest)
                ON CONFLICT (trigger_name) DO UPDATE
                SET released_through = greatest(d.released_through, EXCLUDED.released_through);
            ELSIF v_gated.action = 'hold' THEN
                v_excluded := v_excluded || v_gated.name;
            END IF;
        END LOOP;
    END IF;

    FOR v_step IN 1..2 LOOP
        IF (v_step = 1) = p_keyed_first THEN
            CONTINUE WHEN NOT v_keyed;
            -- a claim whose keys were all taken meanwhile made an empty run: drop it, look again
            FOR v_attempt IN 1..3 LOOP
                RETURN QUERY SELECT 'keyed'::text, c.run_id, c.trigger_name, c.id, c.route,
                                    c.relation, c.op, c.row_data, c.attempts, c.state_key,
                                    NULL::bigint, NULL::boolean, NULL::bigint, NULL::text
                             FROM motion._claim_keyed(p_worker, p_lease, p_batch, v_excluded) c;
                GET DIAGNOSTICS v_claimed = ROW_COUNT;
                IF v_claimed > 0 THEN
                    RETURN;
                END IF;
                DELETE FROM motion.runs r
                WHERE r.worker_id = p_worker AND r.state = 'running' AND r.keyed
                  AND r.started_at = now()  -- made by this transaction
                  AND NOT EXISTS (SELECT 1 FROM motion.jobs j
                                  WHERE j.run_id = r.id AND j.state = 'running');
                EXIT WHEN NOT FOUND;  -- nothing was ready: no need to look again
            END LOOP;
        ELSE
            CONTINUE WHEN NOT v_plain;
            FOR v_attempt IN 1..3 LOOP
                IF v_attempt > 1 AND v_claimed = 0 THEN
                    -- nothing claimed: the trigger with the oldest ready event may be held by a
                    -- claim in flight (its events locked, its run not committed yet). Leave it
                    -- to that claim and try the next trigger now: a worker that took nothing
                    -- would sleep until the next notification or poll while events wait
                    SELECT t.name INTO v_busy
                    FROM motion.triggers t
                    CROSS JOIN LATERAL (
                        SELECT j.id FROM motion.jobs j
                        WHERE (j.trigger_name, j.id) >= (t.name, 0)
                          AND (j.trigger_name, j.id) <= (t.name, 9223372036854775807)
                          AND j.state = 'pending' AND j.run_at <= now()
                        ORDER BY j.trigger_name, j.id LIMIT 1
                    ) o
                    WHERE t.enabled AND t.state_per IS NULL AND NOT (t.name = ANY (v_excluded))
                      AND NOT EXISTS (SELECT 1 FROM motion.runs r
                                      WHERE r.trigger_name = t.name AND r.state = 'running')
                    ORDER BY o.id LIMIT 1;
                    EXIT WHEN v_busy IS NULL;  -- nothing else is ready
                    v_excluded := v_excluded || v_busy;
                END IF;
                BEGIN
                    RETURN QUERY
                    WITH c AS MATERIALIZED (
                        SELECT * FROM motion._claim_plain(p_worker, p_lease, p_batch, v_excluded,
                                                          p_caps, p_probe, p_bytes)
                    )
                    -- an event's row only for a scheduled firing: the fit process reads the
                    -- others back typed (a bulk claim would ship and decode each row twice)
                    SELECT 'plain'::text, c.run_id, c.trigger_name, c.id, c.route, c.relation,
                           c.op, CASE WHEN c.op = 'SCHEDULE' THEN c.row_data END, c.attempts,
                           NULL::jsonb,
                           CASE WHEN v_refit
                                THEN (SELECT motion._pending_refit(x.trigger_name) FROM c x LIMIT 1)
                           END,
                           (SELECT (t.settings).on_drift = 'pause' FROM motion.triggers t
                            WHERE t.name = (SELECT x.trigger_name FROM c x LIMIT 1)),
                           NULL::bigint, NULL::text
                    FROM c;
                    GET DIAGNOSTICS v_claimed = ROW_COUNT;
                    EXIT WHEN v_claimed > 0;
                EXCEPTION WHEN unique_violation THEN
                    -- another worker opened a run for that trigger first: the next attempt's
                    -- snapshot sees it, and takes another trigger
                    v_claimed := -1;
                END;
            END LOOP;
            IF v_claimed > 0 THEN
                RETURN;
            END IF;
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION motion.claim_step(text, float8, integer, text[], jsonb, integer, bigint,
                                         boolean) FROM PUBLIC;

-- Every event motion still knows of: the queue (pending, dead; 'running' for a keyed run's) and
-- the finished ones in the job log (state 'done'), one row per event. For administrators.
DROP VIEW IF EXISTS motion.job_history;
CREATE VIEW motion.job_history AS
SELECT j.id, j.trigger_name, j.state, j.attempts, j.run_id, j.route, j.relation, j.op, j.row_data,
       j.errors, j.created_at, j.finished_at
FROM motion.jobs j
UNION ALL
SELECT l.id, l.trigger_name, 'done', l.attempts, l.run_id, l.route, l.relation, l.op, l.row_data,
       coalesce(l.errors, '[]'::jsonb), l.created_at, l.finished_at
FROM motion.job_log l;
REVOKE ALL ON motion.job_history FROM PUBLIC;
