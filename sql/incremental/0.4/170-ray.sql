-- motion schema 0.3 -> 0.4: where a trigger's fit computes. Incremental: runs once; never edited
-- after the release.

-- executor: 'local' (the worker's fit process) or 'ray' (a task on a Ray cluster; the worker still
-- claims, commits the version and completes the jobs); ray_address: that cluster (NULL: 'auto').
ALTER TYPE motion.settings
    ADD ATTRIBUTE executor text,
    ADD ATTRIBUTE ray_address text;

UPDATE motion.triggers SET settings.executor = 'local';
UPDATE motion.versions SET settings.executor = 'local';

ALTER TABLE motion.triggers ADD CONSTRAINT settings_executor_valid CHECK (
    (settings).executor IN ('local', 'ray')
    AND ((settings).ray_address IS NULL OR (settings).ray_address <> ''));
