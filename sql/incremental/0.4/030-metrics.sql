-- motion schema 0.4: infer latency, sampled in the backends (motion_pg.runtime.latency) and read by
-- `motion-pg metrics` and `motion-pg worker --metrics-port`. Incremental: runs once.

-- One row per trigger and backend: that backend's cumulative histogram of sampled infer latencies.
-- A backend upserts its row (whole totals, never deltas) from inside a statement, so a flush that
-- rolls back with the user's transaction is superseded by the backend's next one. Rows of backends
-- that exited are folded into the trigger's pid-0 row by motion.fold_infer_latency().
CREATE TABLE motion.infer_latency (
    trigger_name text NOT NULL,
    pid integer NOT NULL,                    -- 0: the folded totals of backends that exited
    backend_start timestamptz NOT NULL,      -- with pid: one backend (pids are reused)
    buckets bigint[] NOT NULL,               -- per bucket counts (not cumulative), last is +Inf
    sum_seconds float8 NOT NULL,
    count bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (trigger_name, pid, backend_start)
);
