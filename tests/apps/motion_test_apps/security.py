"""Trigger classes for the security suite (tests/security)."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class Tag(motion_pg.Trigger):
    """Infers ``label`` from ``value``; fit keeps the count of events."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"label": f"v{row['value']}"}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class BatchTag(Tag):
    """:class:`Tag` in batch mode (``infer_batch``)."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        return [{"label": f"v{r['value']}"} for r in rows]
