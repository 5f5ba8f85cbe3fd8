-- motion schema 0.2 -> 0.3: typed settings, the recorded search_path, and a version chain that
-- says what each version was folded onto. Incremental: runs once; never edited after the release.

-- The system settings of a trigger, typed (motion_pg.settings.Settings is the one definition; a new
-- setting is a field there plus ADD ATTRIBUTE here). User params stay in the params jsonb.
CREATE TYPE motion.settings AS (
    fit_batch integer,          -- NULL: the worker's --fit-batch
    fit_timeout float8,         -- NULL: the worker's --fit-timeout
    max_attempts integer,
    retry_delay float8,
    retry_delay_max float8,
    on_error text,
    on_fit_error text,
    infer_mode text,
    fire_on_replica boolean
);

-- Settings that were kept among the params before 0.3 move into the typed column; a value that
-- does not fit its type stops the upgrade here, naming it, rather than crash a worker later.
CREATE FUNCTION motion._settings_from_params(params jsonb) RETURNS motion.settings
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.jsonb_populate_record(
        ROW(NULL, NULL, 5, 1.0, 60.0, 'raise', 'retry', 'auto', false)::motion.settings,
        params - 'infer_mode' || pg_catalog.jsonb_build_object(
            'infer_mode', coalesce(params ->> 'infer_mode', 'auto')))
$$;

ALTER TABLE motion.triggers
    ADD COLUMN settings motion.settings,
    -- the schemas user code's SQL resolves names in (setup, infer, fit alike), recorded at CREATE
    ADD COLUMN search_path text[];
UPDATE motion.triggers SET settings = motion._settings_from_params(params),
    params = params - ARRAY['fit_batch', 'fit_timeout', 'max_attempts', 'retry_delay',
                            'retry_delay_max', 'on_error', 'on_fit_error', 'infer_mode',
                            'fire_on_replica'];
ALTER TABLE motion.triggers ALTER COLUMN settings SET NOT NULL,
    ADD CONSTRAINT settings_valid CHECK (
        ((settings).fit_batch IS NULL OR (settings).fit_batch > 0)
        AND ((settings).fit_timeout IS NULL OR (settings).fit_timeout > 0)
        AND (settings).max_attempts > 0
        AND (settings).retry_delay >= 0 AND (settings).retry_delay_max >= 0
        AND (settings).on_error IN ('raise', 'skip')
        AND (settings).on_fit_error IN ('retry', 'block')
        AND (settings).infer_mode IN ('auto', 'row', 'batch')
        AND (settings).fire_on_replica IS NOT NULL);

-- Each version records the settings in force next to the params, and for a rollback the version
-- it restored; parent_version is always the version it was folded onto (the one serving before).
ALTER TABLE motion.versions
    ADD COLUMN settings motion.settings,
    ADD COLUMN restored_from integer;
UPDATE motion.versions SET settings = motion._settings_from_params(params),
    restored_from = CASE WHEN source = 'rollback' THEN parent_version END,
    params = params - ARRAY['fit_batch', 'fit_timeout', 'max_attempts', 'retry_delay',
                            'retry_delay_max', 'on_error', 'on_fit_error', 'infer_mode',
                            'fire_on_replica'];
ALTER TABLE motion.versions ALTER COLUMN settings SET NOT NULL;
DROP FUNCTION motion._settings_from_params(jsonb);
