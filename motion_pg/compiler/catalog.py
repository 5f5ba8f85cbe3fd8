"""The compiler's reads and writes of the motion catalog, through named queries (sql/queries.sql)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from psycopg import sql

from motion_pg.errors import unknown_trigger
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.settings import Settings


class Catalog:
    """Named-query access to ``motion.triggers``, ``motion.routes`` and ``motion.versions``."""

    def __init__(self, db: PlpyDatabase) -> None:
        self.db = db

    def definition(self, name: str) -> dict[str, Any] | None:
        """The trigger's catalog row, or None."""
        rows = self.db.query(query("trigger_definition"), [name])
        return rows[0] if rows else None

    def lock(self, name: str) -> dict[str, Any]:
        """The trigger's current row, locked until the transaction ends: every state change folds
        onto what this returns, never onto an earlier read."""
        rows = self.db.query(query("trigger_for_update"), [name])
        if not rows:
            raise unknown_trigger(name)
        return rows[0]

    def write_trigger(
        self,
        name: str,
        *,
        replace: bool,
        class_ref: str,
        params: Mapping[str, Any],
        definition: str,
        settings: Settings,
        search_path: Sequence[str],
    ) -> None:
        """Insert the trigger's row, or replace its definition (CREATE OR REPLACE)."""
        self.db.query(
            query("replace_trigger" if replace else "insert_trigger"),
            [name, class_ref, json.dumps(dict(params)), definition,
             json.dumps(settings.to_json()), list(search_path)],
        )  # fmt: skip

    def set_config(self, name: str, params: Mapping[str, Any], settings: Settings) -> None:
        """Record the trigger's current user params and settings."""
        self.db.query(
            query("set_trigger_config"),
            [name, json.dumps(dict(params)), json.dumps(settings.to_json())],
        )

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.db.query(query("set_trigger_enabled"), [name, enabled])

    def bump_revision(self, name: str) -> None:
        """Tell every backend and worker that the definition changed."""
        self.db.query(query("bump_revision"), [name])

    def delete(self, name: str) -> None:
        """Delete the trigger with its routes, queue, runs and versions."""
        self.db.query(query("delete_trigger"), [name])

    def delete_routes(self, name: str) -> None:
        self.db.query(query("delete_routes"), [name])

    def insert_route(self, name: str, route: Any, pg_triggers: list[str]) -> None:
        """Record a compiled route (a :class:`~motion_pg.triggers_ddl.ResolvedRoute`)."""
        self.db.query(
            query("insert_route"),
            [name, route.ordinal, route.relid, route.columns, route.infer, route.fit,
             route.key_columns, pg_triggers],
        )  # fmt: skip

    def pg_triggers(self, name: str) -> Iterator[tuple[sql.Identifier, str]]:
        """(relation, Postgres trigger name) of every Postgres trigger of the trigger's routes."""
        for row in self.db.query(query("route_pg_triggers"), [name]):
            relation = sql.Identifier(row["schema"], row["name"])
            for trigger in row["pg_triggers"]:
                yield relation, trigger

    def set_pinned(self, name: str, version: int | None) -> None:
        """Hold serving on ``version`` (PIN), or serve the newest version again (None: UNPIN)."""
        self.db.query(query("set_pinned"), [name, version])

    def version_config(self, name: str, version: int) -> tuple[dict[str, Any], Settings] | None:
        """The params and settings recorded for a version, or None when it does not exist."""
        rows = self.db.query(query("version_config"), [name, version])
        if not rows:
            return None
        params = rows[0]["params"]
        return (
            json.loads(params) if isinstance(params, str) else dict(params),
            Settings.from_json(rows[0]["settings"]),
        )

    def show(self) -> list[dict[str, Any]]:
        return self.db.query(query("show_triggers"))
