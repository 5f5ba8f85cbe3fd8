"""sqlglot expression nodes for the motion statements, and how param literals are encoded in them.

Names (trigger, relation, column, parameter and method names) are ``exp.Identifier`` nodes holding
the text as written and whether it was quoted; folding to Postgres' case happens when a node becomes
a :mod:`motion_pg.dsl.spec` dataclass. Param values are sqlglot literal nodes.
"""

from __future__ import annotations

import math
from typing import ClassVar

from sqlglot import exp

from motion_pg.dsl.spec import Literal


class MotionStatement(exp.Expression):
    """Base class of the motion statement nodes."""

    arg_types: ClassVar[dict[str, bool]] = {}


class MotionCreate(MotionStatement):
    """``CREATE [OR REPLACE] MOTION TRIGGER [IF NOT EXISTS] name ON … USING '…' [WITH (…)]``."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,  # exp.Identifier: the trigger name
        "routes": False,  # list[MotionRoute]; with the schedules, at least one route
        "using": True,  # exp.Literal string: 'package.module:ClassName'
        "params": False,  # list[MotionParam]
        "replace": False,  # OR REPLACE
        "exists": False,  # IF NOT EXISTS
        "schedules": False,  # list[MotionSchedule]
        "state_per": False,  # list[exp.Identifier]: STATE PER (columns)
        "experiment": False,  # MotionExperiment
        "policy": False,  # MotionPolicy: FIT WHEN / REFIT clauses
    }


class MotionExperiment(exp.Expression):
    """``SHADOW OF baseline`` or ``CANARY OF baseline (percent)``."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,  # exp.Identifier: the baseline trigger's name
        "kind": True,  # 'shadow' or 'canary'
        "percent": False,  # exp.Literal number (canary)
    }


class MotionPolicy(exp.Expression):
    """``[FIT WHEN (…)] [REFIT EVERY '…'] [REFIT WHEN (…)]`` (:mod:`motion_pg.policy`)."""

    arg_types: ClassVar[dict[str, bool]] = {
        "fit": False,  # list[MotionCondition]
        "refit": False,  # list[MotionCondition]
        "refit_every": False,  # exp.Literal string: the interval
    }


class MotionCondition(exp.Expression):
    """``COUNT >= n``, ``AFTER '…'``, ``EVERY '…'`` or ``DRIFT > x`` (``this``: the word)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


class MotionSchedule(exp.Expression):
    """``ON SCHEDULE 'cron expression' [FIT method]``."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,  # exp.Literal string: the cron expression
        "fit": False,  # exp.Identifier: method name
    }


class MotionRoute(exp.Expression):
    """``ON relation [(column, …)] [INFER method | NO INFER] [FIT method | NO FIT]``."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,  # exp.Table
        "columns": False,  # list[exp.Identifier]; absent when there is no column list
        "infer": False,  # exp.Identifier: method name
        "fit": False,  # exp.Identifier: method name
        "no_infer": False,
        "no_fit": False,
    }


class MotionParam(exp.Expression):
    """``name = literal`` inside ``WITH (…)`` or ``SET (…)``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


class MotionAlter(MotionStatement):
    """``ALTER MOTION TRIGGER name SET (…) | ROLLBACK TO VERSION n | REFIT | RELOAD | ENABLE |
    DISABLE | PIN VERSION n | UNPIN | PROMOTE | BACKFILL [ALL | STALE] [WHERE condition]``."""

    ACTIONS: ClassVar[tuple[str, ...]] = (
        "set", "rollback", "refit", "reload", "enable", "disable", "pin", "unpin", "promote",
        "backfill",
    )  # fmt: skip

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,  # exp.Identifier: the trigger name
        "action": True,  # one of ACTIONS
        "params": False,  # list[MotionParam] for SET
        "version": False,  # exp.Literal number for ROLLBACK TO VERSION and PIN VERSION
        "stale": False,  # BACKFILL STALE
        "where": False,  # exp.Literal string: BACKFILL's WHERE condition, as written
    }


class MotionDrop(MotionStatement):
    """``DROP MOTION TRIGGER [IF EXISTS] name``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False}


class MotionShow(MotionStatement):
    """``SHOW MOTION TRIGGERS``."""

    arg_types: ClassVar[dict[str, bool]] = {}


def literal_node(value: Literal) -> exp.Expr:
    """The sqlglot node of a param literal; raises ValueError for a value no literal can spell."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, int):
        node: exp.Expr = exp.Literal(this=str(abs(value)), is_string=False)
        return exp.Neg(this=node) if value < 0 else node
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"param value {value!r} has no literal: only finite numbers do")
        node = exp.Literal(this=repr(abs(value)), is_string=False)
        return exp.Neg(this=node) if math.copysign(1.0, value) < 0 else node
    raise ValueError(f"param value {value!r} is not a string, number, boolean or None")


def literal_value(node: exp.Expr) -> Literal:
    """The Python value of a node built by :func:`literal_node` (or by the parser)."""
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Neg):
        inner = literal_value(node.this)
        if isinstance(inner, bool) or not isinstance(inner, int | float):
            raise ValueError("only numbers can be negated")
        return -inner
    if isinstance(node, exp.Literal):
        text = str(node.this)
        if node.is_string:
            return text
        return int(text) if text.isascii() and text.isdigit() else float(text)
    raise ValueError(f"{node.key} is not a literal")
