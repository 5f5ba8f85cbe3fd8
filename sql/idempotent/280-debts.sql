-- Debts of earlier releases (issue 15's follow-up): one error for an unknown motion trigger in the
-- functions written in SQL, and the statement triggers of experiments made before 0.5.
-- Idempotent: re-applied by every install and upgrade.

-- The error for a motion trigger that does not exist (MP101), raised by the functions written in
-- SQL with the message and hint of motion_pg.errors.unknown_trigger (tests/unit/test_errors.py
-- and tests/integration/test_debts.py keep them equal).
CREATE OR REPLACE FUNCTION motion._unknown_trigger(trigger text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'motion trigger "%" does not exist', trigger
        USING ERRCODE = 'MP101', HINT = 'see the triggers with SHOW MOTION TRIGGERS';
END
$$;
REVOKE ALL ON FUNCTION motion._unknown_trigger(text) FROM PUBLIC;
