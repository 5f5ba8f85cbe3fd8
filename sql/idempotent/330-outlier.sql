-- The claim's plans cannot flip to reading the queue sequentially (issue 15: the P4 outlier).
-- Idempotent: re-applied by every install and upgrade, after 180-claim.sql has (re)created the
-- functions (CREATE OR REPLACE resets their SET clauses; these ALTERs set them again).
--
-- PL/pgSQL keeps a generic plan of each statement after a few calls. A worker polling a drained
-- queue makes it while motion.jobs is empty: vacuum truncated the heap to no pages and analyze
-- found no rows, so the planner costs a sequential scan at nothing and takes it for every read of
-- the queue. A cached plan does not follow the table's size; only the next ANALYZE of
-- motion.jobs replans it. A 100k bulk load then had each claim (and the fit's commit: see
-- motion_pg.worker.fit_definition.MOTION_PATH) read the whole queue, 0.1-1.7 s per fit call, until
-- autovacuum analyzed the queue up to a minute later: the bulk fold took 3 s or 12-36 s.
-- Every read of motion.jobs (and motion.runs) in the claim has an index made for it, so without
-- sequential scans the generic plan is the custom one whatever the statistics.
ALTER FUNCTION motion._claim_plain(text, float8, integer, text[], jsonb, integer, bigint)
    SET enable_seqscan = off;
ALTER FUNCTION motion.claim_step(text, float8, integer, text[], jsonb, integer, bigint, boolean)
    SET enable_seqscan = off;
