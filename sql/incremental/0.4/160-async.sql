-- motion schema 0.4: async infer (WITH (infer_mode = 'async'); motion_pg.worker.async_infer).
-- Incremental: runs once.

-- infer_mode gains 'async': the worker infers after commit.
ALTER TABLE motion.triggers DROP CONSTRAINT settings_valid,
    ADD CONSTRAINT settings_valid CHECK (
        ((settings).fit_batch IS NULL OR (settings).fit_batch > 0)
        AND ((settings).fit_timeout IS NULL OR (settings).fit_timeout > 0)
        AND (settings).max_attempts > 0
        AND (settings).retry_delay >= 0 AND (settings).retry_delay_max >= 0
        AND (settings).on_error IN ('raise', 'skip')
        AND (settings).on_fit_error IN ('retry', 'block')
        AND (settings).infer_mode IN ('auto', 'row', 'batch', 'async')
        AND (settings).fire_on_replica IS NOT NULL);

-- The rows an async route must infer: one entry per written row (its primary key only; the
-- worker reads the row's content when it infers, so a row written again meanwhile is inferred
-- with its latest content). Written by motion.async_record / motion.async_record_row, read and
-- deleted by the worker; no other role may read or write it.
CREATE TABLE motion.async_rows (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    route integer NOT NULL,
    row_key jsonb NOT NULL,
    xact bigint NOT NULL,           -- the writing transaction, role and time: the lineage stamp
    role bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX async_rows_by_trigger ON motion.async_rows (trigger_name, id);
REVOKE ALL ON motion.async_rows FROM PUBLIC;
REVOKE ALL ON SEQUENCE motion.async_rows_id_seq FROM PUBLIC;
ALTER TABLE motion.async_rows SET (autovacuum_vacuum_scale_factor = 0.01,
                                   autovacuum_analyze_scale_factor = 0.02);

-- The transactions in which the worker is writing async outputs back: motion's own triggers on
-- the written relation skip them (no re-recording, no fit event, the lineage guard accepts the
-- stamp). A row lives only inside the worker's transaction (inserted and deleted there), so no
-- other session ever sees one; only the worker's admin role may write here.
CREATE TABLE motion.async_writebacks (
    xact xid8 PRIMARY KEY
);
REVOKE ALL ON motion.async_writebacks FROM PUBLIC;

-- Freshness (commit -> outputs written) per trigger, cumulative, for `motion-pg metrics`.
CREATE TABLE motion.async_stats (
    trigger_name text PRIMARY KEY,
    written bigint NOT NULL DEFAULT 0,       -- rows whose outputs were written
    failed bigint NOT NULL DEFAULT 0,        -- rows whose infer failed (motion.infer_errors)
    buckets bigint[] NOT NULL DEFAULT '{}',  -- freshness histogram, per bucket, last is +Inf
    sum_seconds float8 NOT NULL DEFAULT 0,
    last_seconds float8,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON motion.async_stats FROM PUBLIC;

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.async_rows', '');
SELECT pg_catalog.pg_extension_config_dump('motion.async_rows_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('motion.async_stats', '');
-- extension-only: end
