"""Trigger classes for the fit integrity tests: fits that write, fail, return bad state, or record
the Python values they see."""

from __future__ import annotations

import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


def _record(ctx: Context, source: str, row: dict[str, Any]) -> None:
    for column, value in row.items():
        ctx.db.query(
            "INSERT INTO public.probe (source, col, type, repr) VALUES ($1, $2, $3, $4)",
            [source, column, type(value).__name__, repr(value)],
        )


class TypeProbe(motion_pg.Trigger):
    """Records the type and repr of every value setup, infer and fit see: the row (infer) or
    events (fit), and the rows of ``public.typed_ref`` read through ``ctx.db``."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        for row in ctx.db.query("SELECT * FROM public.typed_ref"):
            _record(ctx, "setup_db", row)
        return {}

    def infer(self, row: dict[str, Any], ctx: Context) -> None:
        _record(ctx, "infer", row)
        for ref in ctx.db.query("SELECT * FROM public.typed_ref"):
            _record(ctx, "infer_db", ref)

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        for event in events:
            _record(ctx, "fit", event.row)
        for ref in ctx.db.query("SELECT * FROM public.typed_ref"):
            _record(ctx, "fit_db", ref)
        return {}


class WritesThenFails(motion_pg.Trigger):
    """Fit writes each event's id into ``fit_log`` through ctx.db, then raises on its first attempt
    (or sleeps ``sleep`` seconds after writing, having appended a line to the file ``marker``);
    counts the events it fitted."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        for event in events:
            ctx.db.query("INSERT INTO fit_log (event_row) VALUES ($1)", [event.row["id"]])
        # the attempts that ended before this one (each left its error)
        failed = ctx.db.query(
            "SELECT max(jsonb_array_length(errors)) AS n FROM motion.jobs"
            " WHERE id = ANY($1::bigint[])",
            [[e.id for e in events]],
        )[0]["n"]
        if ctx.params.get("marker"):  # tells a test the writes happened
            with open(str(ctx.params["marker"]), "a") as f:
                f.write(f"wrote {len(events)}\n")
        if ctx.params.get("sleep"):
            time.sleep(float(ctx.params["sleep"]))
        if failed == 0:
            raise RuntimeError("first attempt fails after writing")
        return {"count": ctx.state["count"] + len(events)}


class _Bomb:
    """Pickles fine; unpickling raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_explode, ())


def _explode() -> None:
    raise RuntimeError("this state value cannot be loaded")


class Unloadable(motion_pg.Trigger):
    """Fit returns a state value that pickles but cannot be unpickled."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"model": _Bomb()}


class BadKeys(motion_pg.Trigger):
    """Fit returns a state update whose key is not a string."""

    def fit(self, events: list[Event], ctx: Context) -> dict[Any, Any]:
        return {1: "x"}


class NotADict(motion_pg.Trigger):
    """Fit returns a list instead of a dict of updates."""

    def fit(self, events: list[Event], ctx: Context) -> Any:
        return ["not", "a", "dict"]


class ReadsUnqualified(motion_pg.Trigger):
    """Fit reads and writes ``notes`` unqualified (it lives in the trigger's recorded schema)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"seen": []}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        rows = ctx.db.query("SELECT body FROM notes ORDER BY body")
        ctx.db.query("INSERT INTO notes (body) VALUES ($1)", ["from fit"])
        path = ctx.db.query("SELECT current_setting('search_path') AS p")[0]["p"]
        return {"seen": [r["body"] for r in rows], "path": path}
