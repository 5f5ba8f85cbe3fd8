-- Live experiments: motion.compare, the comparison report of a shadow or canary against the
-- trigger it runs against. Administrators only (it reads every side's outputs and the labels).
-- Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).

-- jsonb: rows seen, agreement per output column (confusion tables for categorical ones), infer
-- latency p50/p99 and error rate, fit runs and time, state size of each side; with label (a column
-- of the relation, e.g. an agent's corrected category), each side's accuracy on the rows labelled.
-- since: from when (default: when the experiment began); label_output: the output column the label
-- grades (default: the same name, the one named *_label, or the only output); label_at: a
-- timestamp column holding when the label was set, to grade only labels set since `since` (without
-- it, a row counts when its label is set now and both sides inferred it since `since`).
CREATE OR REPLACE FUNCTION motion.compare(a text, b text, label text DEFAULT NULL,
                                          since timestamptz DEFAULT NULL,
                                          label_output text DEFAULT NULL,
                                          label_at text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
import json
from motion_pg.errors import MotionError
from motion_pg.runtime import backend, compare
try:
    found = compare.report(backend.database(plpy), a, b, label=label, since=since,
                           label_output=label_output, label_at=label_at)
except MotionError as e:
    extra = {"hint": e.hint} if e.hint else {}
    plpy.error(e.message, sqlstate=e.sqlstate, **extra)
return json.dumps(found, default=str)
$$;
REVOKE ALL ON FUNCTION motion.compare(text, text, text, timestamptz, text, text) FROM PUBLIC;

-- The statement triggers of an experiment's infer routes (…_shadow_begin BEFORE, …_shadow_end
-- AFTER each INSERT or UPDATE): the row path collects a statement's shadow records and the AFTER
-- trigger writes them with one INSERT (motion_pg.runtime.shadow_batch). Revoked from PUBLIC
-- (Postgres checks EXECUTE at CREATE TRIGGER); it writes only records this backend computed.
CREATE OR REPLACE FUNCTION motion.shadow_statement() RETURNS trigger
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import shadow_batch
shadow_batch.statement(plpy, TD)
$$;
REVOKE ALL ON FUNCTION motion.shadow_statement() FROM PUBLIC;
