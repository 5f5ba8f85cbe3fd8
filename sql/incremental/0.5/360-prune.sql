-- Retention's lookups of a trigger's oldest kept version (motion._prune_key_states, motion.prune)
-- read this instead of walking every tombstone (a pruned version keeps its row) in versions_pkey.
CREATE INDEX versions_kept ON motion.versions (trigger_name, version) WHERE pruned_at IS NULL;
