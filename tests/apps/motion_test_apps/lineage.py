"""Trigger classes for the lineage tests: they refuse to see any lineage column."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


def _no_lineage(row: dict[str, Any]) -> None:
    # a user's own text column named like one is theirs (test: WITH (lineage = false))
    seen = [c for c in row if c.endswith("_lineage") and not isinstance(row[c], str)]
    if seen:
        raise AssertionError(f"user code saw lineage columns {seen}")


class Doubler(motion_pg.Trigger):
    """Infers ``doubled`` (value * factor, factor from state) and ``label`` (a param); fit
    counts events and sets factor to 2 + the count."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "factor": 2}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        _no_lineage(row)
        if row["value"] is None:
            return None
        if row["value"] < 0:
            raise ValueError(f"negative value {row['value']}")
        return {"doubled": row["value"] * ctx.state["factor"], "label": ctx.params.get("label")}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        for e in events:
            _no_lineage(e.row)
        count = ctx.state["count"] + len(events)
        return {"count": count, "factor": 2 + count}


class Tripler(Doubler):
    """Infers ``tripled`` only."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        _no_lineage(row)
        return {"tripled": (row["value"] or 0) * 3}


class BatchDoubler(Doubler):
    """Batch mode: ``infer_batch`` only."""

    infer = None  # type: ignore[assignment]

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for r in rows:
            _no_lineage(r)
            out.append(
                None if r["value"] is None else {"doubled": r["value"] * ctx.state["factor"]}
            )
        return out
