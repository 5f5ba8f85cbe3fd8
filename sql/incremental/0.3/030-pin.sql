-- motion schema 0.3: PIN VERSION n holds serving on version n while fits keep folding onto the
-- newest version behind it. Incremental: runs once; never edited after the release.

-- NULL: not pinned, and serving_version is the newest version. Set: serving_version is this one,
-- and new versions (fits, SET, REFIT) are written behind it without being served until UNPIN.
ALTER TABLE motion.triggers
    ADD COLUMN pinned_version integer,
    ADD CONSTRAINT pinned_is_served CHECK (pinned_version IS NULL OR pinned_version = serving_version);
