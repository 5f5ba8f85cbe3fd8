"""Motion statements → catalog rows, state versions and Postgres triggers, in the caller's
transaction (so a failure leaves nothing behind).

Runs inside the database server (``motion.exec``); every identifier in generated DDL is quoted by
``psycopg.sql``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from psycopg import sql

from motion_pg.dsl import generate
from motion_pg.dsl.spec import (
    AlterMotionTrigger,
    CreateMotionTrigger,
    DropMotionTrigger,
    Refit,
    RollbackToVersion,
    Route,
    SetEnabled,
    SetParams,
    ShowMotionTriggers,
    Statement,
)
from motion_pg.errors import DefinitionError, DuplicateTrigger, UnknownTrigger, UserCodeError
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.runtime.state import write_version
from motion_pg.settings import Settings
from motion_pg.settings import split as split_params
from motion_pg.trigger import Context, Trigger
from motion_pg.triggers_ddl import ResolvedRoute, create_route_triggers, resolve_route


class Compiler:
    """Runs parsed motion statements against the database through ``plpy``."""

    def __init__(self, db: PlpyDatabase, plpy: Any) -> None:
        self.db = db
        self.plpy = plpy

    def run(self, statement: Statement) -> str:
        """Run one statement; returns the status line ``motion.exec`` reports."""
        if isinstance(statement, CreateMotionTrigger):
            return self.create(statement)
        if isinstance(statement, DropMotionTrigger):
            return self.drop(statement)
        if isinstance(statement, AlterMotionTrigger):
            return self.alter(statement)
        if isinstance(statement, ShowMotionTriggers):
            return self.show()
        raise DefinitionError(f"unsupported statement {type(statement).__name__}")

    # -- CREATE ---------------------------------------------------------------------------------

    def create(self, stmt: CreateMotionTrigger) -> str:
        existing = self._definition(stmt.name)
        if existing is not None:
            if stmt.if_not_exists:
                self.plpy.notice(f'motion trigger "{stmt.name}" already exists, skipping')
                return f"CREATE MOTION TRIGGER {stmt.name} (exists, skipped)"
            if not stmt.or_replace:
                raise DuplicateTrigger(
                    f'motion trigger "{stmt.name}" already exists',
                    hint="use CREATE OR REPLACE MOTION TRIGGER, or DROP MOTION TRIGGER first",
                )
        named, user_params = split_params(stmt.params)
        settings = Settings().updated(named)
        cls = loader.load_class(stmt.using, reload=True)
        instance = loader.instantiate(cls, stmt.using)
        routes = [self._resolve(stmt.name, i, r, instance, stmt.using)
                  for i, r in enumerate(stmt.routes)]  # fmt: skip
        definition = generate(stmt)
        if existing is not None:
            self._drop_pg_triggers(stmt.name)
            self.db.query("DELETE FROM motion.routes WHERE trigger_name = $1", [stmt.name])
            self.db.query(
                "UPDATE motion.triggers SET class_ref = $2, params = $3::jsonb, definition = $4, "
                "settings = jsonb_populate_record(NULL::motion.settings, $5::jsonb), "
                "enabled = true, revision = nextval('motion.revisions'), updated_at = now() "
                "WHERE name = $1",
                [
                    stmt.name,
                    stmt.using,
                    json.dumps(user_params),
                    definition,
                    json.dumps(settings.to_json()),
                ],
            )
        else:
            self.db.query(
                "INSERT INTO motion.triggers (name, class_ref, params, definition, settings) "
                "VALUES ($1, $2, $3::jsonb, $4, jsonb_populate_record(NULL::motion.settings,"
                " $5::jsonb))",
                [
                    stmt.name,
                    stmt.using,
                    json.dumps(user_params),
                    definition,
                    json.dumps(settings.to_json()),
                ],
            )
        for route in routes:
            names = create_route_triggers(self.db, stmt.name, route)
            self.db.query(
                "INSERT INTO motion.routes (trigger_name, ordinal, relation, columns, infer_method,"
                " fit_method, key_columns, pg_triggers)"
                " VALUES ($1, $2::integer, $3::bigint::oid::regclass, $4::text[], $5, $6,"
                " $7::text[], $8::text[])",
                [stmt.name, route.ordinal, route.relid, route.columns, route.infer,
                 route.fit, route.key_columns, names],
            )  # fmt: skip
        if settings.fire_on_replica:
            self._set_enabled(stmt.name, True)
        version = self._setup(stmt.name, instance, user_params, settings, source="setup")
        return f"CREATE MOTION TRIGGER {stmt.name} (version {version})"

    def _resolve(
        self, name: str, ordinal: int, route: Route, instance: Trigger, class_ref: str
    ) -> ResolvedRoute:
        resolved = resolve_route(self.db, ordinal, route)
        for method in (resolved.infer, resolved.fit):
            if method is not None:
                loader.method(instance, method, class_ref)
        if (
            route.infer is None
            and not route.no_infer
            and (
                callable(getattr(instance, "infer", None))
                or callable(getattr(instance, "infer_batch", None))
            )
        ):
            resolved.infer = "infer"
        if route.fit is None and not route.no_fit and callable(getattr(instance, "fit", None)):
            resolved.fit = "fit"
        if resolved.infer is None and resolved.fit is None:
            raise DefinitionError(
                f'motion trigger "{name}": route ON {route.relation} has neither infer nor fit',
                hint=f"class {class_ref!r} defines no infer/fit method; name one with INFER/FIT",
            )
        return resolved

    def _setup(
        self,
        name: str,
        instance: Trigger,
        params: Mapping[str, Any],
        settings: Settings,
        *,
        source: str,
    ) -> int:
        ctx = Context(
            trigger=name, version=0, state=MappingProxyType({}),
            params=MappingProxyType(dict(params)), db=self.db,
        )  # fmt: skip
        try:
            state = instance.setup(ctx)
        except Exception as e:
            raise UserCodeError(
                f'motion trigger "{name}": setup failed: {type(e).__name__}: {e}'
            ) from e
        if not isinstance(state, Mapping):
            raise UserCodeError(
                f'motion trigger "{name}": setup must return a dict, got {type(state).__name__}'
            )
        self.db.query(query("trigger_for_update"), [name])
        current = self._definition(name)
        parent = current["serving_version"] if current and source != "setup" else None
        return write_version(self.db, name, state, source=source, parent=parent, params=params,
                             settings=settings, inherit=False)  # fmt: skip

    # -- DROP -----------------------------------------------------------------------------------

    def drop(self, stmt: DropMotionTrigger) -> str:
        if self._definition(stmt.name) is None:
            if stmt.if_exists:
                self.plpy.notice(f'motion trigger "{stmt.name}" does not exist, skipping')
                return f"DROP MOTION TRIGGER {stmt.name} (absent, skipped)"
            raise _unknown(stmt.name)
        self._drop_pg_triggers(stmt.name)
        self.db.query("DELETE FROM motion.jobs WHERE trigger_name = $1", [stmt.name])
        self.db.query("DELETE FROM motion.runs WHERE trigger_name = $1", [stmt.name])
        self.db.query("DELETE FROM motion.state_entries WHERE trigger_name = $1", [stmt.name])
        self.db.query("DELETE FROM motion.triggers WHERE name = $1", [stmt.name])
        return f"DROP MOTION TRIGGER {stmt.name}"

    def _drop_pg_triggers(self, name: str) -> None:
        rows = self.db.query(
            "SELECT r.relation::oid::bigint AS relid, r.pg_triggers FROM motion.routes r"
            " JOIN pg_catalog.pg_class c ON c.oid = r.relation WHERE r.trigger_name = $1",
            [name],
        )
        for row in rows:
            rel = self._relation_ident(row["relid"])
            for trigger in row["pg_triggers"]:
                self.db.execute_ddl(
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON {}")
                    .format(sql.Identifier(trigger), rel)
                    .as_string(None)
                )

    def _relation_ident(self, relid: int) -> sql.Composable:
        row = self.db.query(
            "SELECT n.nspname::text AS schema, c.relname::text AS name FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
            [relid],
        )[0]
        return sql.Identifier(row["schema"], row["name"])

    # -- ALTER / SHOW ---------------------------------------------------------------------------

    def alter(self, stmt: AlterMotionTrigger) -> str:
        current = self._definition(stmt.name)
        if current is None:
            raise _unknown(stmt.name)
        self.db.query(query("trigger_for_update"), [stmt.name])
        params = json.loads(current["params"])
        settings = Settings.from_json(current["settings"])
        action = stmt.action
        if isinstance(action, SetParams):
            named, user_params = split_params(action.params)
            settings = settings.updated(named)
            params.update(user_params)
            self.db.query(
                "UPDATE motion.triggers SET params = $2::jsonb,"
                " settings = jsonb_populate_record(NULL::motion.settings, $3::jsonb)"
                " WHERE name = $1",
                [stmt.name, json.dumps(params), json.dumps(settings.to_json())],
            )
            if "fire_on_replica" in named:
                self._set_enabled(stmt.name, current["enabled"])
            version = write_version(self.db, stmt.name, {}, source="params",
                                    parent=current["serving_version"], params=params,
                                    settings=settings)  # fmt: skip
            done = f"SET (version {version})"
        elif isinstance(action, RollbackToVersion):
            found = self.db.query(
                "SELECT 1 FROM motion.versions WHERE trigger_name = $1 AND version = $2::integer",
                [stmt.name, action.version],
            )
            if not found:
                raise DefinitionError(
                    f'motion trigger "{stmt.name}" has no version {action.version}',
                    hint="see its versions in motion.versions",
                )
            version = write_version(self.db, stmt.name, {}, source="rollback",
                                    parent=action.version, params=params,
                                    settings=settings)  # fmt: skip
            done = f"ROLLBACK TO VERSION {action.version} (version {version})"
        elif isinstance(action, Refit):
            cls = loader.load_class(current["class_ref"], reload=True)
            instance = loader.instantiate(cls, current["class_ref"])
            version = self._setup(stmt.name, instance, params, settings, source="refit")
            done = f"REFIT (version {version})"
        elif isinstance(action, SetEnabled):
            self._set_enabled(stmt.name, action.enabled)
            done = "ENABLE" if action.enabled else "DISABLE"
        else:
            raise DefinitionError(f"unsupported ALTER action {type(action).__name__}")
        self.db.query(query("bump_revision"), [stmt.name])
        return f"ALTER MOTION TRIGGER {stmt.name} {done}"

    def _set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable the route triggers; ``fire_on_replica = true`` enables them ALWAYS,
        so rows applied by logical replication (session_replication_role = replica) fire too."""
        self.db.query("UPDATE motion.triggers SET enabled = $2 WHERE name = $1", [name, enabled])
        settings = Settings.from_json(
            self.db.query(query("trigger_definition"), [name])[0]["settings"]
        )
        rows = self.db.query(
            "SELECT r.relation::oid::bigint AS relid, r.pg_triggers FROM motion.routes r"
            " WHERE r.trigger_name = $1",
            [name],
        )
        always = settings.fire_on_replica
        verb = sql.SQL("DISABLE" if not enabled else "ENABLE ALWAYS" if always else "ENABLE")
        for row in rows:
            rel = self._relation_ident(row["relid"])
            for trigger in row["pg_triggers"]:
                self.db.execute_ddl(
                    sql.SQL("ALTER TABLE {} {} TRIGGER {}")
                    .format(rel, verb, sql.Identifier(trigger))
                    .as_string(None)
                )

    def show(self) -> str:
        rows = self.db.query(
            "SELECT t.name, t.class_ref, t.enabled, t.serving_version, t.params::text AS params,"
            " (SELECT count(*) FROM motion.jobs j WHERE j.trigger_name = t.name"
            "  AND j.state = 'pending') AS pending"
            " FROM motion.triggers t ORDER BY t.name"
        )
        header = ("name", "class", "enabled", "version", "pending", "params")
        table = [header] + [
            (r["name"], r["class_ref"], str(r["enabled"]).lower(), str(r["serving_version"]),
             str(r["pending"]), r["params"])
            for r in rows
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        return "\n".join(
            " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        )

    def _definition(self, name: str) -> dict[str, Any] | None:
        rows = self.db.query(query("trigger_definition"), [name])
        return rows[0] if rows else None


def _unknown(name: str) -> UnknownTrigger:
    return UnknownTrigger(
        f'motion trigger "{name}" does not exist', hint="SHOW MOTION TRIGGERS lists them"
    )
