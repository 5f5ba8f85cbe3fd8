-- The schema release this database holds (the extension's version when installed as one).
-- Idempotent; @VERSION@ is the release being installed.
CREATE OR REPLACE FUNCTION motion.schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT '@VERSION@'::text $$;
