-- State you can see and wait for: motion.state and motion.wait_for_fits. Administrators only.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).

-- A state version rendered as jsonb {trigger, version, keys}: JSON-able values as JSON, others as
-- {type, summary, bytes}. It unpickles in the server, so it is revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion.state(trigger text, version integer DEFAULT NULL) RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import inspection
return inspection.state_json(plpy, trigger, version)
$$;
REVOKE ALL ON FUNCTION motion.state(text, integer) FROM PUBLIC;

-- True once every fit job of the trigger (NULL: of every trigger) committed before the call is
-- done; false at the timeout (NULL: no timeout). A dead job among them is an error naming it: it
-- will never be fitted until retried. plpgsql, so that each poll reads in a new snapshot (READ COMMITTED).
CREATE OR REPLACE FUNCTION motion.wait_for_fits(trigger text, timeout interval DEFAULT '30 s')
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    want ALIAS FOR $1;
    deadline timestamptz := clock_timestamp() + $2;
    horizon bigint;
    dead_ids bigint[];
    dead_triggers text[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'motion.wait_for_fits needs READ COMMITTED isolation, not %',
            current_setting('transaction_isolation')
            USING ERRCODE = '0A000',
                  HINT = 'call it outside a REPEATABLE READ or SERIALIZABLE transaction: it never '
                         'sees fits that commit after its snapshot there';
    END IF;
    IF want IS NOT NULL AND NOT EXISTS (SELECT FROM motion.triggers t WHERE t.name = want) THEN
        PERFORM motion._unknown_trigger(want);
    END IF;
    SELECT max(j.id) INTO horizon FROM motion.jobs j WHERE want IS NULL OR j.trigger_name = want;
    IF horizon IS NULL THEN
        RETURN true;
    END IF;
    LOOP
        -- one query per job state, so that each uses that state's partial index
        SELECT (array_agg(j.id ORDER BY j.id))[1:10], array_agg(DISTINCT j.trigger_name)
          INTO dead_ids, dead_triggers
        FROM motion.jobs j
        WHERE j.state = 'dead' AND j.id <= horizon AND (want IS NULL OR j.trigger_name = want);
        IF dead_ids IS NOT NULL THEN
            RAISE EXCEPTION 'motion trigger % has dead fit jobs that will not be fitted: ids %',
                array_to_string(dead_triggers, ', '), array_to_string(dead_ids, ', ')
                USING ERRCODE = 'MP400',
                      HINT = 'see them with `motion-pg jobs list --state dead`; fix the cause, then '
                             '`motion-pg jobs retry` (or discard) them';
        END IF;
        IF NOT EXISTS (SELECT FROM motion.jobs j WHERE j.state = 'pending' AND j.id <= horizon
                       AND (want IS NULL OR j.trigger_name = want))
           AND NOT EXISTS (SELECT FROM motion.jobs j WHERE j.state = 'running' AND j.id <= horizon
                           AND (want IS NULL OR j.trigger_name = want)) THEN
            RETURN true;
        END IF;
        IF clock_timestamp() >= deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(least(0.05, greatest(0, extract(epoch FROM deadline - clock_timestamp()))));
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION motion.wait_for_fits(text, interval) FROM PUBLIC;
