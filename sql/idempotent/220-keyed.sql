-- Keyed state (STATE PER), continued: a key from its values as text, and the keys of a trigger.
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).

-- The key (a jsonb array, as motion stores it in motion.key_states) of keyed trigger `trigger`
-- whose STATE PER columns hold `key_values`, given as text (one per column, in column order):
-- each is read as its column's type in the trigger's first relation, as a row would hold it.
CREATE OR REPLACE FUNCTION motion.key_of(trigger text, key_values text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    per text[];
    rel pg_catalog.regclass;
    the_key jsonb;
BEGIN
    SELECT t.state_per INTO per FROM motion.triggers t WHERE t.name = trigger;
    IF NOT FOUND THEN
        PERFORM motion._unknown_trigger(trigger);
    END IF;
    IF per IS NULL THEN
        RAISE EXCEPTION 'motion trigger "%" has no STATE PER: it keeps one state', trigger
            USING ERRCODE = 'MP100', HINT = 'see its state with motion.state';
    END IF;
    IF coalesce(pg_catalog.cardinality(key_values), 0) <> pg_catalog.cardinality(per) THEN
        RAISE EXCEPTION 'motion trigger "%": a key is % value(s), of (%), got %', trigger,
            pg_catalog.cardinality(per), pg_catalog.array_to_string(per, ', '),
            coalesce(pg_catalog.cardinality(key_values), 0)
            USING ERRCODE = 'MP100', HINT = 'give one value per STATE PER column, in their order';
    END IF;
    SELECT r.relation INTO rel FROM motion.routes r
    WHERE r.trigger_name = trigger AND r.relation IS NOT NULL ORDER BY r.ordinal LIMIT 1;
    EXECUTE pg_catalog.format(
        'SELECT motion._state_key(pg_catalog.to_jsonb(pg_catalog.jsonb_populate_record('
        'NULL::%s, $1)), $2)', rel)
        INTO the_key USING pg_catalog.jsonb_object(per, key_values), per;
    RETURN the_key;
END
$$;
REVOKE ALL ON FUNCTION motion.key_of(text, text[]) FROM PUBLIC;

-- The keys of keyed trigger `trigger` at `version` (default: the serving one), in key order, at
-- most `lim` of them from the first key after `after` (NULL: from the start): the version that
-- last changed each, the size of its pickled state (NULL: no state of its own there) and how many
-- rows (versions) of it are stored.
CREATE OR REPLACE FUNCTION motion.state_keys(trigger text, version integer DEFAULT NULL,
                                             lim integer DEFAULT 50, after jsonb DEFAULT NULL)
RETURNS TABLE (key jsonb, key_version integer, bytes integer, stored_versions bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH v AS (
        SELECT coalesce($2, t.serving_version, 0) AS at FROM motion.triggers t WHERE t.name = $1
    ), keys AS (
        SELECT DISTINCT s.key FROM motion.key_states s, v
        -- keys are non-empty arrays, which jsonb sorts above null: one index range either way
        WHERE s.trigger_name = $1 AND s.key > coalesce($4, 'null'::jsonb) AND s.version <= v.at
        ORDER BY s.key LIMIT $3
    )
    SELECT k.key, h.version, pg_catalog.octet_length(h.data),
           (SELECT pg_catalog.count(*) FROM motion.key_states c
            WHERE c.trigger_name = $1 AND c.key = k.key)
    FROM keys k CROSS JOIN v
    CROSS JOIN LATERAL (SELECT s.version, s.data FROM motion.key_states s
                        WHERE s.trigger_name = $1 AND s.key = k.key AND s.version <= v.at
                        ORDER BY s.version DESC LIMIT 1) h
    ORDER BY k.key
$$;
REVOKE ALL ON FUNCTION motion.state_keys(text, integer, integer, jsonb) FROM PUBLIC;
