-- Fit events: the AFTER triggers that queue a statement's rows for fit.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE). A function whose
-- signature changes or that goes away is dropped by an incremental file first.
--
-- Both refuse to run unless the catalog names the calling Postgres trigger (TG_NAME) for exactly
-- this relation (enqueue_row: or a partition of it, onto which Postgres clones row triggers) and
-- route, and neither reads anything a client can set:
-- a batch infer's or a backfill's own write-back is recognised by this backend's memory
-- (motion._writing_back), asked only inside a nested statement or when the transaction-local
-- setting motion.backfilling is 'on' (a pre-filter any client can set: it only makes them ask).
-- motion._async_writing (a SQL function, planned on every call) is asked only when the setting it
-- tests first says 'on': the same answer without ~170k instructions per statement or row. The
-- settings are read with coalesce: an unset one is NULL, and NULL OR/AND … goes on to call the
-- function after it (motion._writing_back, a PL/Python call) where false stops.
-- `#variable_conflict use_variable` and the whole-row reference `n.*` keep the user's column names (n, tg_op, tg_argv, ...) from meaning anything here.

-- Fit events of one statement, enqueued with one set-based insert from the transition table.
CREATE OR REPLACE FUNCTION motion.enqueue_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    hidden text[];
    routed boolean;
    per text[];  -- STATE PER columns (keyed state): each event carries its key
BEGIN
    -- the route's check and what its events need, in one query (each query here is a good part of
    -- a single-row statement's cost): events carry the user's row, without the lineage columns of
    -- motion triggers (stamps). One walk over the relation's routes answers both the check and
    -- the lineage columns: each relation an executor opens costs ~10k instructions per statement
    -- (routes' primary key and a second scan of routes: ~23k of a single-row statement)
    SELECT pg_catalog.array_agg(o.lineage_column) FILTER (WHERE o.lineage_column IS NOT NULL),
           pg_catalog.bool_or(o.trigger_name = TG_ARGV[0] AND o.ordinal = TG_ARGV[1]::integer
                              AND TG_NAME = ANY (o.pg_triggers)),
           (SELECT t.state_per FROM motion.triggers t WHERE t.name = TG_ARGV[0])
    INTO hidden, routed, per
    FROM motion.routes o WHERE o.relation = TG_RELID;
    IF routed IS NOT TRUE THEN
        PERFORM motion._refuse_foreign_trigger('motion.enqueue_statement', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    -- a batch infer or a backfill writing outputs back into this relation is not an event, nor is
    -- the worker writing async outputs back
    IF ((pg_catalog.pg_trigger_depth() > 1
         OR coalesce(pg_catalog.current_setting('motion.backfilling', true), '') = 'on')
        AND motion._writing_back(TG_RELID))
       OR (coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
           AND motion._async_writing()) THEN
        RETURN NULL;
    END IF;
    IF hidden IS NULL THEN
        INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state_key)
        SELECT TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, d.row_data,
               CASE WHEN per IS NOT NULL THEN motion._state_key(d.row_data, per) END
        FROM motion_new_rows n CROSS JOIN LATERAL (SELECT pg_catalog.to_jsonb(n.*) AS row_data) d;
    ELSE
        INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state_key)
        SELECT TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, d.row_data,
               CASE WHEN per IS NOT NULL THEN motion._state_key(d.row_data, per) END
        FROM motion_new_rows n CROSS JOIN LATERAL
             (SELECT pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) hidden AS row_data) d;
    END IF;
    IF FOUND THEN
        PERFORM pg_catalog.pg_notify('motion_jobs', '');  -- a wake-up only: any role may LISTEN
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion.enqueue_statement() FROM PUBLIC;

-- Fit events of UPDATEs of listed columns (transition tables cannot go with column lists).
CREATE OR REPLACE FUNCTION motion.enqueue_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    routed oid;
    hidden text[];
    per text[];  -- STATE PER columns (keyed state): each event carries its key
    data jsonb;
BEGIN
    SELECT r.relation INTO routed FROM motion.routes r
    WHERE r.trigger_name = TG_ARGV[0] AND r.ordinal = TG_ARGV[1]::integer
      AND r.relation = TG_RELID AND TG_NAME = ANY (r.pg_triggers);
    IF NOT FOUND THEN  -- a row trigger cloned onto a partition of the routed relation?
        SELECT r.relation INTO routed FROM motion.routes r
        WHERE r.trigger_name = TG_ARGV[0] AND r.ordinal = TG_ARGV[1]::integer
          AND TG_NAME = ANY (r.pg_triggers)
          AND r.relation IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(TG_RELID) a);
    END IF;
    IF NOT FOUND THEN
        PERFORM motion._refuse_foreign_trigger('motion.enqueue_row', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    IF ((pg_catalog.pg_trigger_depth() > 1
         OR coalesce(pg_catalog.current_setting('motion.backfilling', true), '') = 'on')
        AND motion._writing_back(TG_RELID))
       OR (coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
           AND motion._async_writing()) THEN
        RETURN NULL;
    END IF;
    SELECT pg_catalog.array_agg(o.lineage_column) INTO hidden FROM motion.routes o
    WHERE o.relation = routed AND o.lineage_column IS NOT NULL;
    SELECT t.state_per INTO per FROM motion.triggers t WHERE t.name = TG_ARGV[0];
    data := pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.-) coalesce(hidden, '{}');
    INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state_key)
    VALUES (TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, data,
            CASE WHEN per IS NOT NULL THEN motion._state_key(data, per) END);
    PERFORM pg_catalog.pg_notify('motion_jobs', '');  -- a wake-up only: any role may LISTEN
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION motion.enqueue_row() FROM PUBLIC;
