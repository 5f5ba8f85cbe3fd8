"""Trigger classes of the chain, order and validation tests (issue 12 items 4 and 5)."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class BFromA(motion_pg.Trigger):
    """b = a * 2."""

    outputs = ("b",)

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"b": None if row["a"] is None else row["a"] * 2}


class CFromB(motion_pg.Trigger):
    """c = b + 1."""

    outputs = ("c",)

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"c": None if row["b"] is None else row["b"] + 1}


class DFromC(motion_pg.Trigger):
    """d = c * 10."""

    outputs = ("d",)

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"d": None if row["c"] is None else row["c"] * 10}


class AFromC(motion_pg.Trigger):
    """a = c - 1: closes a cycle with BFromA and CFromB."""

    outputs = ("a",)

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"a": None if row["c"] is None else row["c"] - 1}


class AlsoB(motion_pg.Trigger):
    """Writes b as well: two writers of one column."""

    outputs = ("b",)

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"b": -1}


class Undeclared(motion_pg.Trigger):
    """c = b + 1 without declaring outputs."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"c": None if row["b"] is None else row["b"] + 1}


class BadOutputs(motion_pg.Trigger):
    outputs = "b"

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {}


class FitsB(motion_pg.Trigger):
    """Fit only: keeps the b values of its events."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"bs": []}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"bs": [*ctx.state["bs"], *(e.row["b"] for e in events)]}


class Scorer(motion_pg.Trigger):
    """score = value / 10; fit keeps the scores (and values) it saw."""

    outputs = ("score",)

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"seen": []}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"score": None if row["value"] is None else row["value"] / 10}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"seen": [*ctx.state["seen"], *(e.row["value"] for e in events)]}
