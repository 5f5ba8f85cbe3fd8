-- Async infer (WITH (infer_mode = 'async')): the triggers that record written rows for the worker,
-- and the check that recognises the worker's own write-back. Plain SQL and PL/pgSQL only (they are
-- what a managed install runs). Idempotent: re-applied by every install and upgrade.

-- Whether this transaction is the worker writing async outputs back (motion.async_writebacks holds
-- its xact only inside that transaction; no client can insert there). The custom setting is a
-- cheap pre-check only: setting it without the row changes nothing. Revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion._async_writing() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
SELECT coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
   AND EXISTS (SELECT FROM motion.async_writebacks w
               WHERE w.xact = pg_catalog.pg_current_xact_id_if_assigned())
$$;
REVOKE ALL ON FUNCTION motion._async_writing() FROM PUBLIC;

-- Whether route (trigger, ordinal) is chained on the outputs the worker is writing back in this
-- transaction: downstream, directly or through other routes, of the writing trigger's routes on
-- the same relation (its input columns, NULL: all, include a declared output upstream; see
-- motion_pg.compiler.chains). Such a route infers the write-back (a sync route in the statement,
-- an async one records the row); every other route skips it. Revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion._async_chained(trigger_name text, ordinal integer)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE writer AS (
    SELECT w.trigger_name FROM motion.async_writebacks w
    WHERE w.xact = pg_catalog.pg_current_xact_id_if_assigned()
), down AS (
    SELECT r.trigger_name, r.ordinal, r.relation, r.outputs
    FROM motion.routes r JOIN writer w ON r.trigger_name = w.trigger_name
    WHERE r.infer_method IS NOT NULL
    UNION
    SELECT r.trigger_name, r.ordinal, r.relation, r.outputs
    FROM down d JOIN motion.routes r ON r.relation = d.relation
    WHERE r.infer_method IS NOT NULL AND pg_catalog.cardinality(d.outputs) > 0
      AND (r.columns IS NULL OR r.columns OPERATOR(pg_catalog.&&) d.outputs)
)
SELECT EXISTS (SELECT FROM down d WHERE d.trigger_name = $1 AND d.ordinal = $2
               AND d.trigger_name NOT IN (SELECT w.trigger_name FROM writer w))
$$;
REVOKE ALL ON FUNCTION motion._async_chained(text, integer) FROM PUBLIC;

-- AFTER INSERT / AFTER UPDATE FOR EACH STATEMENT with a transition table: one set-based insert of
-- the statement's row keys into motion.async_rows; the writer never waits for infer.
CREATE OR REPLACE FUNCTION motion.async_record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    keys text[];
BEGIN
    SELECT r.key_columns INTO keys FROM motion.routes r
    WHERE r.trigger_name = TG_ARGV[0] AND r.ordinal = TG_ARGV[1]::integer
      AND r.relation = TG_RELID AND TG_NAME = ANY (r.pg_triggers);
    IF NOT FOUND THEN
        PERFORM motion._refuse_foreign_trigger('motion.async_record', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    -- the setting first: _async_writing is a query planned per call (~170k instructions), and
    -- without the setting it says no (it checks the same setting first)
    IF coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
       AND motion._async_writing()
       AND NOT motion._async_chained(TG_ARGV[0], TG_ARGV[1]::integer) THEN
        RETURN NULL;  -- the worker writing another trigger's outputs back: not a new write
    END IF;
    INSERT INTO motion.async_rows (trigger_name, route, row_key, xact, role)
    SELECT TG_ARGV[0], TG_ARGV[1]::integer,
           (SELECT pg_catalog.jsonb_object_agg(k, n.j -> k) FROM pg_catalog.unnest(keys) k),
           pg_catalog.pg_current_xact_id()::text::int8,
           pg_catalog.to_regrole(pg_catalog.quote_ident(SESSION_USER))::oid::int8
    FROM (SELECT pg_catalog.to_jsonb(m.*) AS j FROM motion_new_rows m) n;
    IF FOUND THEN
        PERFORM pg_catalog.pg_notify('motion_async', '');  -- a wake-up only
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion.async_record() FROM PUBLIC;

-- AFTER UPDATE OF columns FOR EACH ROW WHEN (a listed column changed): transition tables cannot go
-- with column lists. Cloned onto partitions, so the route may be the partition's ancestor's.
CREATE OR REPLACE FUNCTION motion.async_record_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    keys text[];
    j jsonb;
BEGIN
    SELECT r.key_columns INTO keys FROM motion.routes r
    WHERE r.trigger_name = TG_ARGV[0] AND r.ordinal = TG_ARGV[1]::integer
      AND TG_NAME = ANY (r.pg_triggers)
      AND (r.relation = TG_RELID
           OR r.relation IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(TG_RELID) a));
    IF NOT FOUND THEN
        PERFORM motion._refuse_foreign_trigger('motion.async_record_row', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    -- the setting first: _async_writing is a query planned per call (~170k instructions), and
    -- without the setting it says no (it checks the same setting first)
    IF coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
       AND motion._async_writing()
       AND NOT motion._async_chained(TG_ARGV[0], TG_ARGV[1]::integer) THEN
        RETURN NULL;
    END IF;
    j := pg_catalog.to_jsonb(NEW);
    INSERT INTO motion.async_rows (trigger_name, route, row_key, xact, role)
    VALUES (TG_ARGV[0], TG_ARGV[1]::integer,
            (SELECT pg_catalog.jsonb_object_agg(k, j -> k) FROM pg_catalog.unnest(keys) k),
            pg_catalog.pg_current_xact_id()::text::int8,
            pg_catalog.to_regrole(pg_catalog.quote_ident(SESSION_USER))::oid::int8);
    PERFORM pg_catalog.pg_notify('motion_async', '');
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion.async_record_row() FROM PUBLIC;
