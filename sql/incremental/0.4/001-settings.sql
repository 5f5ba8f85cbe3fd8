-- motion schema 0.3 -> 0.4: the traceability settings. Incremental: runs once; never edited after
-- the release.

-- lineage: infer stamps every row it writes (motion.lineage); keep_versions / keep_events: how many
-- versions and how long event data are kept before `motion-pg prune` (and the worker) remove them.
ALTER TYPE motion.settings
    ADD ATTRIBUTE lineage boolean,
    ADD ATTRIBUTE keep_versions integer,
    ADD ATTRIBUTE keep_events float8;   -- seconds

UPDATE motion.triggers SET settings.lineage = true, settings.keep_versions = 100,
    settings.keep_events = 604800;
UPDATE motion.versions SET settings.lineage = true, settings.keep_versions = 100,
    settings.keep_events = 604800;

ALTER TABLE motion.triggers ADD CONSTRAINT settings_retention_valid CHECK (
    (settings).lineage IS NOT NULL
    AND (settings).keep_versions > 0
    AND (settings).keep_events >= 0);
