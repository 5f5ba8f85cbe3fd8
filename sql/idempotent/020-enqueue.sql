-- Fit events: the AFTER triggers that queue a statement's rows for fit.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE). A function whose
-- signature changes or that goes away is dropped by an incremental file first.

-- Fit events of one statement, enqueued with one set-based insert from the transition table.
CREATE OR REPLACE FUNCTION motion.enqueue_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- a batch infer writing its outputs back into this relation is not an event
    IF current_setting('motion.writeback', true) = TG_RELID::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)
    SELECT TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, to_jsonb(n)
    FROM motion_new_rows n;
    IF FOUND THEN
        PERFORM pg_notify('motion_jobs', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

-- Fit events of UPDATEs of listed columns (transition tables cannot go with column lists).
CREATE OR REPLACE FUNCTION motion.enqueue_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('motion.writeback', true) = TG_RELID::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)
    VALUES (TG_ARGV[0], TG_ARGV[1]::integer, TG_ARGV[2], TG_OP, to_jsonb(NEW));
    PERFORM pg_notify('motion_jobs', TG_ARGV[0]);
    RETURN NULL;
END
$$;
