-- motion schema 0.3: code identity and deploys. Incremental: runs once; never edited after release.

-- The code deployed for each trigger (motion_pg.runtime.identity.CodeIdentity) and its digest;
-- NULL: deployed before 0.3, not recorded (backends then run what they import).
ALTER TABLE motion.triggers
    ADD COLUMN code jsonb,
    ADD COLUMN code_digest text;

-- Every deploy of a trigger's code: CREATE, CREATE OR REPLACE and ALTER … RELOAD.
CREATE TABLE motion.deploys (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL REFERENCES motion.triggers (name) ON DELETE CASCADE,
    action text NOT NULL CHECK (action IN ('create', 'replace', 'reload')),
    deployed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    deployed_by name NOT NULL DEFAULT SESSION_USER,
    digest_before text,
    digest_after text NOT NULL,
    identity jsonb NOT NULL
);
CREATE INDEX deploys_by_trigger ON motion.deploys (trigger_name, id);

-- The digest of the code each version was built or served with (setup, refit, params and rollback
-- versions: the deployed code; fit versions: the code the fit process ran).
ALTER TABLE motion.versions ADD COLUMN code_digest text;
