"""Trigger classes for the cost and the fence of one fit call (tests/integration/test_fit_call.py)."""

from __future__ import annotations

from typing import Any

import psycopg

import motion_pg
from motion_pg import Context, Event


class Logged(motion_pg.Trigger):
    """Fit counts its events and writes each event's id into table ``fitcall_log`` through
    ``ctx.db``, so a test sees whether the fit's own writes committed. A row of table
    ``fitcall_hook`` (``dsn``, ``during``): a statement the fit runs on a connection of its own
    (what another session does while the fit runs)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"n": 0, "kept": "from setup"}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        for e in events:
            ctx.db.query("INSERT INTO public.fitcall_log (event_id) VALUES ($1)", [e.id])
        for hook in ctx.db.query("SELECT dsn, during FROM public.fitcall_hook"):
            with psycopg.connect(str(hook["dsn"]), autocommit=True) as other:
                other.execute(str(hook["during"]))
        return {"n": ctx.state["n"] + len(events)}


class Counted(motion_pg.Trigger):
    """Fit counts its events, nothing else (what one fit call costs motion itself)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"n": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"n": ctx.state["n"] + len(events)}
