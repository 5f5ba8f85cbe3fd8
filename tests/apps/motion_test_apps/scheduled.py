"""Trigger classes with scheduled routes (ON SCHEDULE), for tests/integration/test_schedule.py."""

from __future__ import annotations

import json
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Ticker(motion_pg.Trigger):
    """Records every event its fit receives into the table ``ticks`` (through ``ctx.db``, so the
    record commits with the fit) and counts them in its state."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"ticks": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        assert ctx.route is not None
        for e in events:
            ctx.db.query(
                "INSERT INTO ticks (job_id, op, relation, row_data, route, schedule, method)"
                " VALUES ($1, $2, $3, $4::jsonb, $5, $6, 'fit')",
                [e.id, e.op, e.relation, json.dumps(e.row), e.route, ctx.route.schedule],
            )
        return {"ticks": ctx.state["ticks"] + len(events)}

    def nightly(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        assert ctx.route is not None
        for e in events:
            ctx.db.query(
                "INSERT INTO ticks (job_id, op, relation, row_data, route, schedule, method)"
                " VALUES ($1, $2, $3, $4::jsonb, $5, $6, 'nightly')",
                [e.id, e.op, e.relation, json.dumps(e.row), e.route, ctx.route.schedule],
            )
        return {"nightly": len(events)}


class Feeder(motion_pg.Trigger):
    """A scheduled fit that writes rows into the routed relation ``readings`` through ``ctx.db``:
    that relation's own motion triggers infer them and fit them after the fit commits."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"fed": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        fed = ctx.state["fed"]
        for _ in events:
            for _ in range(int(ctx.params.get("rows", 3))):
                fed += 1
                ctx.db.query("INSERT INTO readings (value) VALUES ($1)", [fed])
        return {"fed": fed}


class NoFit(motion_pg.Trigger):
    """Defines infer only: a schedule without FIT has no method to call."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {}
