-- motion schema 0.5: infer overhead, round three (issue 15 goal 4). Incremental: runs once.

-- motion._check_serving takes the statement's time as timestamptz_send's bytes (exact µs, no
-- numeric arithmetic) instead of an int8 of µs; recreated by sql/idempotent/010-runtime.sql.
DROP FUNCTION IF EXISTS motion._check_serving(text, text, text, oid, name, int8, int8, int8);
