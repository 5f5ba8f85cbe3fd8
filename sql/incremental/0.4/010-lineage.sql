-- motion schema 0.4: lineage per inferred row. Incremental: runs once; never edited after the
-- release.
--
-- Each (motion trigger, relation with an infer route) gets a bytea column in the user's relation
-- (named in motion.routes.lineage_column) holding the stamp infer wrote with the row
-- (motion_pg.runtime.stamps): route, state version, deploy, transaction, statement time, the
-- columns infer wrote. motion.lineage(relation, key) reads it.

-- NULL: the route has no lineage column (no infer, or created with lineage = false)
ALTER TABLE motion.routes ADD COLUMN lineage_column text;

-- Changes of stamped rows by statements that did not re-infer them, and forged stamps (a client
-- writing the lineage column), recorded by motion.lineage_guard in the writing transaction.
CREATE TABLE motion.lineage_changes (
    id bigserial PRIMARY KEY,
    trigger_name text NOT NULL,
    relation regclass NOT NULL,          -- the routed relation (a partitioned table, not a partition)
    lineage_column text NOT NULL,
    row_key jsonb NOT NULL,
    stamp bytea,                         -- the row's stamp (kept), NULL: the row had none
    changed text[] NOT NULL,             -- the columns the statement changed
    old_values jsonb NOT NULL,           -- their values before
    forged boolean NOT NULL DEFAULT false,  -- the statement tried to write the stamp (refused)
    forged_stamp bytea,                  -- what it tried to write
    xact xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    changed_by name NOT NULL DEFAULT SESSION_USER
);
CREATE INDEX lineage_changes_by_row ON motion.lineage_changes (relation, row_key);
CREATE INDEX lineage_changes_by_trigger ON motion.lineage_changes (trigger_name);

-- motion._check_serving also takes the statement's transaction, time and login role (the stamp's).
DROP FUNCTION IF EXISTS motion._check_serving(text, text, text, oid, name);

-- extension-only: begin
SELECT pg_catalog.pg_extension_config_dump('motion.lineage_changes', '');
SELECT pg_catalog.pg_extension_config_dump('motion.lineage_changes_id_seq', '');
-- extension-only: end
