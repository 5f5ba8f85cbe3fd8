"""Trigger classes for group commit of one-event fit calls (tests/integration/test_group_commit.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Folded(motion_pg.Trigger):
    """Fit appends each event's ``x`` to ``seen`` (the fold's order is the state's order) and
    writes it into table ``group_log`` through ``ctx.db``. Params: ``bad``, an ``x`` whose fit
    raises after its write; ``hang``, a file: the first fit of an event with ``x`` = ``hang_at``
    creates it and sleeps (the test kills the fit process meanwhile)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"seen": []}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        seen = list(ctx.state["seen"])
        for e in events:
            x = int(e.row["x"])
            ctx.db.query("INSERT INTO public.group_log (x) VALUES ($1)", [x])
            if x == int(ctx.params.get("bad", -1)):
                raise ValueError(f"bad event x={x}")
            hang = ctx.params.get("hang")
            if hang and x == int(ctx.params.get("hang_at", -1)) and not Path(hang).exists():
                Path(hang).write_text("fitting")
                time.sleep(60)
            seen.append(x)
        return {"seen": seen}
