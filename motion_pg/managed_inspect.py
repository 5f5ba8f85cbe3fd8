"""``motion.state``, ``motion.lineage`` and ``motion.warm`` on a managed install (no PL/Python).

On a full install these three run Python in the server. A managed install gets plain SQL and
PL/pgSQL stand-ins (:data:`SQL`, appended to the managed script by :mod:`motion_pg.managed_schema`)
that answer what catalog queries can:

- ``motion.warm(trigger)``: the serving version, after the same check as the full install's (the
  login role may write to one of the trigger's relations); nothing is loaded, since no backend
  infers on a managed install (the worker does).
- ``motion.state(trigger, version)``: the version's keys, each described as
  ``{"type": "pickle", "summary": …, "bytes": n}`` (unpickling needs Python).
- ``motion.lineage(relation, key, events)``: per motion trigger inferring into the relation, the
  row's stamp decoded (route, version, deploy and code digest, transaction, time, login role,
  inferred columns) with the version's params and settings.

The CLI (``motion-pg state show``, ``motion-pg lineage``) computes the full answers on the client
instead, with the server-side code of a full install run over the caller's connection
(:func:`state_json`, :func:`lineage_json`), so both commands show the same on either install.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

SQL = r"""
CREATE OR REPLACE FUNCTION motion.warm(trigger_name text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    serving integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM motion.routes r WHERE r.trigger_name = $1
                   AND (pg_catalog.has_table_privilege(session_user, r.relation, 'INSERT')
                        OR pg_catalog.has_table_privilege(session_user, r.relation, 'UPDATE'))) THEN
        RAISE EXCEPTION 'motion trigger "%" does not exist, or your login role may not write to any of its relations', $1
            USING ERRCODE = 'MP101',
                  HINT = 'check the name; motion.warm loads triggers of relations your role writes to';
    END IF;
    -- managed mode: backends never infer (the worker does), so there is nothing to load here
    SELECT t.serving_version INTO serving FROM motion.triggers t WHERE t.name = $1;
    RETURN serving;
END
$$;
REVOKE ALL ON FUNCTION motion.warm(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION motion.state(trigger text, version integer DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    want integer := $2;
    keys jsonb;
BEGIN
    IF NOT EXISTS (SELECT FROM motion.triggers t WHERE t.name = $1) THEN
        PERFORM motion._unknown_trigger($1);
    END IF;
    IF want IS NULL THEN
        SELECT t.serving_version INTO want FROM motion.triggers t WHERE t.name = $1;
        IF want IS NULL THEN
            RAISE EXCEPTION 'motion trigger "%" has no state version yet', $1
                USING ERRCODE = 'MP100', HINT = 'its setup has not written version 1';
        END IF;
    ELSIF NOT EXISTS (SELECT FROM motion.versions v WHERE v.trigger_name = $1 AND v.version = want) THEN
        RAISE EXCEPTION 'motion trigger "%" has no version %', $1, want
            USING ERRCODE = 'MP100', HINT = 'see its versions in motion.version_history';
    END IF;
    SELECT coalesce(jsonb_object_agg(e.key, jsonb_build_object(
               'type', 'pickle',
               'summary', 'a pickled value: this managed install has no Python to render it; '
                          || '`motion-pg state show` renders it on the client',
               'bytes', octet_length(b.data))), '{}')
      INTO keys
    FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id
    WHERE e.trigger_name = $1 AND e.version = want;
    RETURN jsonb_build_object('trigger', $1, 'version', want, 'keys', keys);
END
$$;
REVOKE ALL ON FUNCTION motion.state(text, integer) FROM PUBLIC;

-- A lineage stamp (motion_pg.runtime.stamps) decoded: format u8 | flags u8 | route u16 |
-- version u32 | deploy u32 | role u32 | xact i64 | time us i64 | column mask (little endian bits).
CREATE OR REPLACE FUNCTION motion._stamp_decode(stamp bytea, attnames jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
-- both stamp formats of motion_pg.runtime.stamps: 1 (fixed 32-byte head), 2 (length-prefixed
-- version and deploy, then LEB128 varints); the column mask follows the head
DECLARE
    fmt integer := get_byte(stamp, 0);
    nums numeric[] := '{}';
    at integer := 2;
    len integer;
    n numeric;
    shift numeric;
    b integer;
    route numeric; version numeric; deploy numeric; role numeric; xact numeric; micros numeric;
BEGIN
    IF fmt = 1 THEN
        FOR i IN 0..31 LOOP
            nums := nums || get_byte(stamp, i)::numeric;
        END LOOP;
        route := nums[3] * 256 + nums[4];
        version := ((nums[5] * 256 + nums[6]) * 256 + nums[7]) * 256 + nums[8];
        deploy := ((nums[9] * 256 + nums[10]) * 256 + nums[11]) * 256 + nums[12];
        role := ((nums[13] * 256 + nums[14]) * 256 + nums[15]) * 256 + nums[16];
        xact := (SELECT sum(nums[17 + i] * 256::numeric ^ (7 - i)) FROM generate_series(0, 7) i);
        micros := (SELECT sum(nums[25 + i] * 256::numeric ^ (7 - i)) FROM generate_series(0, 7) i);
        at := 32;
    ELSIF fmt = 2 THEN
        FOR j IN 1..2 LOOP  -- version, deploy
            len := get_byte(stamp, at);
            n := 0;
            FOR i IN 1..len LOOP
                n := n * 256 + get_byte(stamp, at + i);
            END LOOP;
            nums := nums || n;
            at := at + 1 + len;
        END LOOP;
        FOR j IN 1..4 LOOP  -- route ordinal, role, xact, time
            n := 0;
            shift := 1;
            LOOP
                b := get_byte(stamp, at);
                at := at + 1;
                n := n + (b & 127) * shift;
                shift := shift * 128;
                EXIT WHEN b < 128;
            END LOOP;
            nums := nums || n;
        END LOOP;
        version := nums[1]; deploy := nums[2]; route := nums[3];
        role := nums[4]; xact := nums[5]; micros := nums[6];
    ELSE
        RAISE EXCEPTION 'not a motion lineage stamp (format %)', fmt USING ERRCODE = 'MP000';
    END IF;
    RETURN jsonb_build_object(
        'route', route, 'version', version, 'deploy_id', deploy, 'xact', xact,
        'infer', CASE get_byte(stamp, 1) WHEN 0 THEN 'wrote outputs' WHEN 1 THEN 'returned nothing'
                 WHEN 2 THEN 'failed (skipped)' ELSE 'flags ' || get_byte(stamp, 1) END,
        'at', to_timestamp(micros / 1000000.0),
        'login_role', coalesce((SELECT r.rolname::text FROM pg_roles r WHERE r.oid = role::bigint::oid),
                               '(dropped role with oid ' || role || ')'),
        'inferred_columns', coalesce((
            SELECT jsonb_agg(attnames ->> (((p - at) * 8 + k + 1)::text) ORDER BY p, k)
            FROM generate_series(at, octet_length(stamp) - 1) AS p, generate_series(0, 7) k
            WHERE (get_byte(stamp, p) >> k) & 1 = 1), '[]'));
END
$$;
REVOKE ALL ON FUNCTION motion._stamp_decode(bytea, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION motion.lineage(relation regclass, key jsonb, events integer DEFAULT 20)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    rel regclass := $1;
    k jsonb := $2;
    keys text[];
    found_row jsonb;
    out jsonb := '[]';
    r record;
    stamp bytea;
    decoded jsonb;
BEGIN
    SELECT ro.key_columns INTO keys FROM motion.routes ro
    WHERE ro.infer_method IS NOT NULL
      AND (ro.relation = rel
           OR ro.relation IN (SELECT a.relid FROM pg_partition_ancestors(rel) a))
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no motion trigger infers into %', rel
            USING ERRCODE = 'MP000',
                  HINT = 'SHOW MOTION TRIGGERS lists the motion triggers and their relations';
    END IF;
    IF jsonb_typeof(k) <> 'object' THEN
        IF cardinality(keys) <> 1 THEN
            RAISE EXCEPTION '% has a primary key of % columns: give the key as a JSON object',
                rel, cardinality(keys) USING ERRCODE = 'MP000';
        END IF;
        k := jsonb_build_object(keys[1], k);
    END IF;
    EXECUTE format('SELECT to_jsonb(t.*) FROM %s AS t WHERE (%s) = (SELECT %s FROM '
                   'jsonb_populate_record(NULL::%s, $1) AS k)', rel,
                   (SELECT string_agg('t.' || quote_ident(c), ', ') FROM unnest(keys) c),
                   (SELECT string_agg('k.' || quote_ident(c), ', ') FROM unnest(keys) c), rel)
      INTO found_row USING k;
    IF found_row IS NULL THEN
        RAISE EXCEPTION '% has no row with key %', rel, k
            USING ERRCODE = 'MP000', HINT = 'give the row''s primary key, e.g. ''{"id": 42}'' or 42';
    END IF;
    FOR r IN
        SELECT DISTINCT ON (ro.trigger_name) ro.trigger_name, ro.lineage_column,
               (SELECT jsonb_object_agg(a.attnum, a.attname) FROM pg_attribute a
                WHERE a.attrelid = ro.relation AND a.attnum > 0 AND NOT a.attisdropped) AS attnames
        FROM motion.routes ro
        WHERE ro.infer_method IS NOT NULL
          AND (ro.relation = rel
               OR ro.relation IN (SELECT a.relid FROM pg_partition_ancestors(rel) a))
        ORDER BY ro.trigger_name, ro.ordinal
    LOOP
        IF r.lineage_column IS NULL OR found_row ->> r.lineage_column IS NULL THEN
            out := out || jsonb_build_array(jsonb_build_object(
                'trigger', r.trigger_name, 'lineage_column', r.lineage_column, 'stamped', false,
                'why', CASE WHEN r.lineage_column IS NULL THEN 'no lineage column (lineage = false)'
                            ELSE 'not inferred with lineage yet (async outputs arrive after commit), '
                                 || 'or written while the trigger was disabled or lineage = false' END));
            CONTINUE;
        END IF;
        stamp := decode(substr(found_row ->> r.lineage_column, 3), 'hex');
        decoded := motion._stamp_decode(stamp, r.attnames);
        out := out || jsonb_build_array(jsonb_build_object(
            'trigger', r.trigger_name, 'lineage_column', r.lineage_column, 'stamped', true)
            || decoded
            || coalesce((SELECT jsonb_build_object('deploy', jsonb_build_object(
                             'id', d.id, 'action', d.action, 'deployed_at', d.deployed_at,
                             'deployed_by', d.deployed_by::text, 'digest', d.digest_after),
                             'code_digest', d.digest_after)
                         FROM motion.deploys d WHERE d.id = (decoded ->> 'deploy_id')::bigint),
                        '{}')
            || coalesce((SELECT jsonb_build_object('params', v.params, 'settings', to_jsonb(v.settings))
                         FROM motion.versions v WHERE v.trigger_name = r.trigger_name
                           AND v.version = (decoded ->> 'version')::integer),
                        jsonb_build_object('version_pruned', true))
            || jsonb_build_object('events', jsonb_build_object('all', format(
                   'SELECT * FROM motion.version_events(%L, %s)', r.trigger_name,
                   decoded ->> 'version'))));
    END LOOP;
    RETURN jsonb_build_object('relation', rel::text,
        'key', (SELECT jsonb_object_agg(c, found_row -> c) FROM unnest(keys) c),
        'triggers', out,
        'note', 'managed install: the stamp and catalog only; `motion-pg lineage` adds the changes '
                || 'since, the version chain and its events');
END
$$;
REVOKE ALL ON FUNCTION motion.lineage(regclass, jsonb, integer) FROM PUBLIC;
"""


def state_json(conn: psycopg.Connection[Any], trigger: str, version: int | None) -> dict[str, Any]:
    """What ``motion.state`` answers on a full install, computed here (values unpickled on this
    host, so the classes of the state's values must be importable here)."""
    from motion_pg.managed_exec import ClientPlpy
    from motion_pg.runtime import inspection

    result: dict[str, Any] = json.loads(inspection.state_json(ClientPlpy(conn), trigger, version))
    return result


def is_managed(conn: psycopg.Connection[Any]) -> bool:
    """Whether motion is installed in managed mode in ``conn``'s database (its ``motion._exec`` is
    not PL/Python)."""
    row = conn.execute(
        "SELECT l.lanname <> 'plpython3u' FROM pg_catalog.pg_proc p"
        " JOIN pg_catalog.pg_language l ON l.oid = p.prolang"
        " WHERE p.oid = pg_catalog.to_regprocedure('motion._exec(text, text[])')"
    ).fetchone()
    return bool(row and row[0])


def state_of(conn: psycopg.Connection[Any], trigger: str, version: int | None) -> dict[str, Any]:
    """``motion.state(trigger, version)`` with its values rendered on either install: by the
    server on a full install, here on a managed one (whose ``motion.state`` only describes each
    value as a pickle and its size)."""
    if is_managed(conn):
        return state_json(conn, trigger, version)
    row = conn.execute("SELECT motion.state(%s, %s)", [trigger, version]).fetchone()
    assert row is not None
    rendered: dict[str, Any] = row[0]
    return rendered


def lineage_json(conn: psycopg.Connection[Any], relation: str, key: Any,
                 events: int) -> dict[str, Any]:  # fmt: skip
    """What ``motion.lineage`` answers on a full install, computed here."""
    from motion_pg.managed_exec import ClientPlpy
    from motion_pg.runtime import lineage

    text = lineage.lineage_json(ClientPlpy(conn), relation, json.dumps(key), events)
    result: dict[str, Any] = json.loads(text)
    return result
