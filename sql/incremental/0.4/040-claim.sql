-- motion schema 0.4: the plans of the claim and of the statements that finish or hand back a run
-- do not depend on when motion.jobs was last analyzed (a drained queue, a queue of one running
-- batch). Incremental: runs once.

-- on_fit_error = 'block' asks whether a trigger has a dead job by an ordered row range on
-- (trigger_name, id), like the pending index: one cheap plan whatever the statistics say
DROP INDEX motion.jobs_dead;
CREATE INDEX jobs_dead_by_trigger ON motion.jobs (trigger_name, id) WHERE state = 'dead';

-- a run holds about a hundred events (fit_batch's default) whatever ANALYZE last saw: statistics
-- taken while the queue was one running batch say every row belongs to one run, and the joins of
-- release_runs and reclaim_expired then read the whole queue instead of jobs_running
ALTER TABLE motion.jobs ALTER COLUMN run_id SET (n_distinct = -0.01);
