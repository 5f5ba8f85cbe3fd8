"""Trigger classes for the compiler tests: setup reading through ctx.db, infer echoing its params."""

from __future__ import annotations

import json
from typing import Any

import motion_pg
from motion_pg import Context, Event


class SetupReads(motion_pg.Trigger):
    """Setup counts the rows of the unqualified table ``items`` (resolved by the search_path)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        rows = ctx.db.query("SELECT count(*) AS n FROM items")
        return {"rows": int(rows[0]["n"]), "count": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class ParamsEcho(motion_pg.Trigger):
    """Infer records the version it served and the params it saw; fit counts events."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"seen_version": ctx.version, "seen_params": json.dumps(dict(ctx.params))}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class NotATrigger:
    """A class that does not subclass motion_pg.Trigger."""

    def infer(self, row: dict[str, Any], ctx: Context) -> None:
        return None
