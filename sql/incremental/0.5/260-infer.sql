-- motion schema 0.5: a cheaper infer statement (issue 15 goal 4). Incremental: runs once.

-- motion._check_serving returns boolean (true) instead of void, so motion.infer_statement calls it
-- as a simple expression (an assignment) rather than through PERFORM's executor; recreated by
-- sql/idempotent/010-runtime.sql.
DROP FUNCTION IF EXISTS motion._check_serving(text, text, text, oid, name, int8, int8, int8);
