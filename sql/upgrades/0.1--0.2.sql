-- motion schema 0.1 -> 0.2

-- The schema release this database holds (the extension's version when installed as one).
CREATE FUNCTION motion.schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT '0.2'::text $$;
