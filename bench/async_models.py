"""The async freshness bench's trigger classes: a 200 ms model call (imported by the server at
CREATE and by the worker, which runs infer for ``infer_mode = 'async'``)."""

from __future__ import annotations

import time
from typing import Any

import motion_pg
from motion_pg import Context


class SlowBatch(motion_pg.Trigger):
    """One ``delay``-second call (default 0.2) per ``infer_batch``, whatever the batch size."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {}

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        time.sleep(float(ctx.params.get("delay", 0.2)))
        return [{"label": f"label-{r['id']}"} for r in rows]


class SlowRow(motion_pg.Trigger):
    """One ``delay``-second call (default 0.2) per row: the worker spreads rows on its threads."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        time.sleep(float(ctx.params.get("delay", 0.2)))
        return {"label": f"label-{row['id']}"}
