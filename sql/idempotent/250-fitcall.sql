-- A fit call's end in one round trip (issue 15 goal 3): the fit process sends the row lock,
-- fold_group, this fence and COMMIT in one pipeline, so the COMMIT must not land when fold_group
-- wrote nothing. It raises instead, and the transaction (the user's ctx.db writes with it) rolls
-- back. Administrators only. Idempotent: re-applied by every install and upgrade.

-- Raises unless run $1 was finished by worker $2 in this transaction (fold_group sets
-- finished_at = now(), the transaction's start: a run finished by an earlier transaction, e.g. a
-- commit that landed before its connection dropped, does not pass). Its SQLSTATE says why:
-- MP400 (FitError) when the code of trigger $3 is no longer $4, the code the fit ran; MP410 when
-- the run is no longer this worker's (reclaimed, or the trigger was dropped).
CREATE OR REPLACE FUNCTION motion._fit_fence(bigint, text, text, text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM motion.runs r WHERE r.id = $1 AND r.worker_id = $2
               AND r.state = 'succeeded' AND r.finished_at = pg_catalog.now()) THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM motion.triggers t WHERE t.name = $3
               AND t.code_digest IS DISTINCT FROM $4) THEN
        RAISE EXCEPTION 'motion trigger "%": its code was deployed again while this fit ran', $3
            USING ERRCODE = 'MP400', HINT = 'the fit is retried with the deployed code';
    END IF;
    RAISE EXCEPTION 'motion: run % is no longer this worker''s (its lease expired)', $1
        USING ERRCODE = 'MP410';
END
$$;
REVOKE ALL ON FUNCTION motion._fit_fence(bigint, text, text, text) FROM PUBLIC;
