-- motion schema 0.4: live experiments (SHADOW OF / CANARY OF, motion.compare, PROMOTE).
-- Incremental: runs once; never edited after the release.

-- One row per trigger that runs as an experiment against another (its baseline). A shadow infers
-- on the baseline's rows into motion.shadow_outputs only; a canary serves `percent` % of the keys
-- (by a hash of the row key) and the baseline the rest. The baseline cannot be dropped while an
-- experiment runs against it (DROP or PROMOTE the experiment first).
CREATE TABLE motion.experiments (
    trigger_name text PRIMARY KEY REFERENCES motion.triggers ON DELETE CASCADE,
    baseline text NOT NULL REFERENCES motion.triggers ON DELETE RESTRICT,
    kind text NOT NULL CHECK (kind IN ('shadow', 'canary')),
    percent float8 CHECK (percent > 0 AND percent < 100),
    started_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'canary') = (percent IS NOT NULL)),
    CHECK (trigger_name <> baseline)
);
CREATE INDEX experiments_by_baseline ON motion.experiments (baseline);

-- What each side of an experiment inferred for a row, written in the writer's transaction:
-- served = false are shadow records (outputs never written into the row: a shadow's, or the
-- baseline's on a canary's rows), served = true are the outputs that went into the row, kept so
-- that motion.compare sees both sides. error is set when infer failed (outputs then NULL).
-- Administrators only (no grants): outputs of another trigger are not for application roles.
CREATE TABLE motion.shadow_outputs (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    relation text NOT NULL,
    row_key jsonb NOT NULL,
    outputs jsonb,
    served boolean NOT NULL,
    latency_seconds float8 NOT NULL,
    error text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shadow_outputs_by_trigger ON motion.shadow_outputs (trigger_name, relation, row_key, id);
REVOKE ALL ON motion.experiments, motion.shadow_outputs FROM PUBLIC;

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.experiments', '');
SELECT pg_catalog.pg_extension_config_dump('motion.shadow_outputs', '');
SELECT pg_catalog.pg_extension_config_dump('motion.shadow_outputs_id_seq', '');
-- extension-only: end
