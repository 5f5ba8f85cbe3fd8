-- Lineage per inferred row: the triggers that keep the lineage column honest, motion.lineage and
-- motion.version_events. Idempotent: re-applied by every install and upgrade (CREATE OR REPLACE).
--
-- The lineage column of (motion trigger, relation) holds the stamp infer wrote
-- (motion_pg.runtime.stamps). Two row triggers per column, made by CREATE MOTION TRIGGER and named
-- so that Postgres' alphabetical order fires them around motion's infer triggers:
-- motion.lineage_clear ("motion!…", before) and motion.lineage_guard ("motion~…", after).

-- Whether the stamp in column `col` of the row being UPDATEd is the one motion's infer wrote into
-- that very row in this statement (or a batch write-back is writing). Backend memory only, no SQL:
-- no client can make it say yes. Revoked from PUBLIC.
CREATE OR REPLACE FUNCTION motion._lineage_accept(trigger_name text, col text, stamp bytea)
RETURNS boolean LANGUAGE plpython3u AS $$
backend = GD.get("motion_pg")
return backend is not None and backend.stamping.accept(trigger_name, col, stamp)
$$;
REVOKE ALL ON FUNCTION motion._lineage_accept(text, text, bytea) FROM PUBLIC;

-- Whether the catalog made Postgres trigger `pg_trigger` on relation `relid` (or on the relation
-- it is a partition of) for lineage column `col` of motion trigger `trigger_name`: the routed
-- relation, and its key columns.
CREATE OR REPLACE FUNCTION motion._lineage_route(trigger_name text, col text, relid oid,
                                                 pg_trigger name, OUT relation regclass,
                                                 OUT key_columns text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT r.relation, r.key_columns FROM motion.routes r
WHERE r.trigger_name = $1 AND r.lineage_column = $2 AND $4 = ANY (r.pg_triggers)
  AND (r.relation = $3
       OR r.relation IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors($3) a))
LIMIT 1
$$;
REVOKE ALL ON FUNCTION motion._lineage_route(text, text, oid, name) FROM PUBLIC;

-- BEFORE INSERT, WHEN (NEW.<col> IS NOT NULL), fired before motion's infer: a client cannot
-- insert a stamp (motion's infer then writes the real one, or none).
CREATE OR REPLACE FUNCTION motion.lineage_clear() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
BEGIN
    IF (motion._lineage_route(TG_ARGV[0], TG_ARGV[1], TG_RELID, TG_NAME)).relation IS NULL THEN
        PERFORM motion._refuse_foreign_trigger('motion.lineage_clear', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    NEW := pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(TG_ARGV[1], NULL));
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION motion.lineage_clear() FROM PUBLIC;

-- BEFORE UPDATE, WHEN (a stamp is involved and the row changes), fired after motion's infer:
-- accepts the stamp motion's infer just wrote into this row; otherwise keeps OLD's stamp and
-- records the statement's changes (and any stamp it tried to write) in motion.lineage_changes.
CREATE OR REPLACE FUNCTION motion.lineage_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    col text := TG_ARGV[1];
    n jsonb := pg_catalog.to_jsonb(NEW);
    o jsonb;
    found_route record;
    is_forged boolean;
    changed_columns text[];
    before jsonb;
BEGIN
    -- the setting first: motion._async_writing is planned on every call (~170k instructions)
    IF coalesce(pg_catalog.current_setting('motion.async_writeback', true), '') = 'on'
       AND motion._async_writing() THEN
        RETURN NEW;  -- the worker writing async outputs and their stamp back
    END IF;
    IF n ->> col IS NOT NULL AND motion._lineage_accept(
            TG_ARGV[0], col, pg_catalog.decode(pg_catalog.substr(n ->> col, 3), 'hex')) THEN
        RETURN NEW;  -- motion's infer re-inferred this row in this statement
    END IF;
    found_route := motion._lineage_route(TG_ARGV[0], col, TG_RELID, TG_NAME);
    IF found_route.relation IS NULL THEN
        PERFORM motion._refuse_foreign_trigger('motion.lineage_guard', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    END IF;
    o := pg_catalog.to_jsonb(OLD);
    is_forged := (o -> col) IS DISTINCT FROM (n -> col);
    IF is_forged THEN  -- only motion's infer writes stamps: keep the row's own
        NEW := pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(col, o -> col));
    ELSIF (pg_catalog.pg_trigger_depth() > 1
           OR coalesce(pg_catalog.current_setting('motion.backfilling', true), '') = 'on')
          AND motion._writing_back(TG_RELID) THEN
        RETURN NEW;  -- another motion trigger's batch infer or backfill writing its outputs back
    END IF;
    SELECT coalesce(pg_catalog.array_agg(e.key ORDER BY e.key), '{}'),
           coalesce(pg_catalog.jsonb_object_agg(e.key, o -> e.key), '{}')
      INTO changed_columns, before
    FROM pg_catalog.jsonb_each(n) e WHERE e.key <> col AND e.value IS DISTINCT FROM o -> e.key;
    IF changed_columns = '{}' AND NOT is_forged THEN
        RETURN NEW;
    END IF;
    INSERT INTO motion.lineage_changes (trigger_name, relation, lineage_column, row_key, stamp,
                                        changed, old_values, forged, forged_stamp)
    VALUES (TG_ARGV[0], found_route.relation, col,
            (SELECT coalesce(pg_catalog.jsonb_object_agg(k, n -> k), '{}')
             FROM pg_catalog.unnest(found_route.key_columns) k),
            pg_catalog.decode(pg_catalog.substr(o ->> col, 3), 'hex'),
            changed_columns, before, is_forged,
            CASE WHEN is_forged THEN pg_catalog.decode(pg_catalog.substr(n ->> col, 3), 'hex') END);
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION motion.lineage_guard() FROM PUBLIC;

-- The lineage of the row of `relation` whose primary key is `key` ('{"id": 42}', or a bare
-- scalar for a one-column key), for every motion trigger that infers into it: see
-- motion_pg.runtime.lineage. Administrators only.
CREATE OR REPLACE FUNCTION motion.lineage(relation regclass, key jsonb, events integer DEFAULT 20)
RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if "motion_pg" not in GD: plpy.execute("select motion._bootstrap()")
from motion_pg.runtime import lineage
return lineage.lineage_json(plpy, relation, key, events)
$$;
REVOKE ALL ON FUNCTION motion.lineage(regclass, jsonb, integer) FROM PUBLIC;

-- The events that built one version of a trigger (the fit run that wrote it): done jobs still in
-- motion.jobs and finished ones in motion.job_log. row_data is NULL once retention pruned it.
-- Administrators only.
CREATE OR REPLACE FUNCTION motion.version_events(trigger text, version integer)
RETURNS TABLE (job_id bigint, run_id bigint, route integer, relation text, op text,
               row_key jsonb, enqueued_at timestamptz, finished_at timestamptz, row_data jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH v AS (
    SELECT v.run_id FROM motion.versions v
    WHERE v.trigger_name = $1 AND v.version = $2 AND v.run_id IS NOT NULL
), ev AS (
    SELECT j.id, j.run_id, j.route, j.relation, j.op, j.row_data, j.created_at, j.finished_at
    FROM motion.jobs j JOIN v ON j.run_id = v.run_id
    WHERE j.trigger_name = $1 AND j.state = 'done'
    UNION ALL
    SELECT l.id, l.run_id, l.route, l.relation, l.op, l.row_data, l.created_at, l.finished_at
    FROM motion.job_log l JOIN v ON l.run_id = v.run_id
    WHERE l.trigger_name = $1
), hidden AS (
    SELECT coalesce(pg_catalog.array_agg(DISTINCT r.lineage_column), '{}') AS names
    FROM motion.routes r WHERE r.lineage_column IS NOT NULL
)
SELECT ev.id, ev.run_id, ev.route, ev.relation, ev.op,
       (SELECT pg_catalog.jsonb_object_agg(k, ev.row_data -> k)
        FROM motion.routes r CROSS JOIN LATERAL pg_catalog.unnest(r.key_columns) k
        WHERE r.trigger_name = $1 AND r.ordinal = ev.route),
       ev.created_at, ev.finished_at, ev.row_data OPERATOR(pg_catalog.-) hidden.names
FROM ev CROSS JOIN hidden ORDER BY ev.id
$$;
REVOKE ALL ON FUNCTION motion.version_events(text, integer) FROM PUBLIC;
