"""Per-column expectations (``WITH (expect = '…')``): what infer and fit check rows against.

The setting is a JSON object mapping a column to its rules::

    {"score": {"min": 0, "max": 1}, "label": {"not_null": true, "in": ["spam", "ham"]}}

``not_null`` (true), ``min`` and ``max`` (numbers, inclusive) and ``in`` (a list of allowed values)
may be combined. NULL passes every rule but ``not_null``. Infer checks the row as it is stored
(inputs and the outputs infer wrote); fit checks each event's row before the fit method sees it. A
violation fails the statement (or the fit) naming trigger, relation, row key and column, or, with
``on_violation = 'record'``, is recorded in ``motion.violations`` (the row is stored; fit skips the
event). This module is pure: callers record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from motion_pg.errors import InvalidSetting

RULES = ("not_null", "min", "max", "in")


@dataclass(frozen=True)
class Rule:
    """The expectations of one column."""

    column: str
    not_null: bool = False
    low: float | None = None
    high: float | None = None
    allowed: tuple[Any, ...] | None = None

    def violation(self, value: Any) -> str | None:
        """What is wrong with ``value``, or None."""
        if value is None:
            return "is NULL, expected NOT NULL" if self.not_null else None
        if self.low is not None or self.high is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return f"{_short(value)} is not a number, expected one in {self._range()}"
            if math.isnan(number):
                return f"{_short(value)} is not a number, expected one in {self._range()}"
            if self.low is not None and number < self.low:
                return f"{_short(value)} is below min {_num(self.low)}"
            if self.high is not None and number > self.high:
                return f"{_short(value)} is above max {_num(self.high)}"
        if self.allowed is not None and value not in self.allowed:
            shown = ", ".join(_short(v) for v in self.allowed)
            return f"{_short(value)} is not one of the allowed values ({shown})"
        return None

    def _range(self) -> str:
        low = "-inf" if self.low is None else _num(self.low)
        high = "inf" if self.high is None else _num(self.high)
        return f"[{low}, {high}]"


@dataclass(frozen=True)
class Expectations:
    """Parsed expectations; ``text`` is their canonical JSON (what the setting stores)."""

    text: str
    rules: tuple[Rule, ...]

    def check(self, row: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
        """``(column, value, what is wrong)`` for each rule ``row`` breaks; columns the row does
        not have are not checked (one trigger may route relations of different shapes)."""
        found = []
        for rule in self.rules:
            if rule.column in row:
                wrong = rule.violation(row[rule.column])
                if wrong is not None:
                    found.append((rule.column, row[rule.column], wrong))
        return found


def parse(name: str, text: str) -> Expectations:
    """Check the setting ``name``'s JSON text; raises :class:`InvalidSetting` naming the problem."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _bad(name, f"is not valid JSON ({e})") from None
    if not isinstance(data, dict) or not data:
        raise _bad(name, "must be a non-empty JSON object of column -> rules")
    rules = []
    for column, spec in data.items():
        if not isinstance(spec, dict) or not spec:
            raise _bad(name, f"column {column!r}: rules must be a non-empty object")
        unknown = sorted(set(spec) - set(RULES))
        if unknown:
            raise _bad(name, f"column {column!r}: unknown rule {unknown[0]!r} (rules: "
                       f"{', '.join(RULES)})")  # fmt: skip
        for bound in ("min", "max"):
            v = spec.get(bound)
            if bound in spec and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise _bad(name, f"column {column!r}: {bound} must be a number, got {v!r}")
        if "not_null" in spec and not isinstance(spec["not_null"], bool):
            raise _bad(name, f"column {column!r}: not_null must be true or false")
        allowed = spec.get("in")
        if "in" in spec and (not isinstance(allowed, list) or not allowed):
            raise _bad(name, f"column {column!r}: in must be a non-empty list of values")
        if "min" in spec and "max" in spec and spec["min"] > spec["max"]:
            raise _bad(name, f"column {column!r}: min {spec['min']} is above max {spec['max']}")
        rules.append(Rule(
            column=str(column), not_null=bool(spec.get("not_null", False)),
            low=float(spec["min"]) if "min" in spec else None,
            high=float(spec["max"]) if "max" in spec else None,
            allowed=tuple(allowed) if allowed is not None else None,
        ))  # fmt: skip
    return Expectations(json.dumps(data, sort_keys=True), tuple(rules))


@lru_cache(maxsize=64)
def parsed(text: str) -> Expectations:
    """The stored (already validated) setting, parsed once per process."""
    return parse("expect", text)


def message(trigger: str, relation: str, key: str, column: str, wrong: str, where: str) -> str:
    """The error of one violation: trigger, relation, row key, column and cause."""
    return (
        f'motion trigger "{trigger}" {where}: row {key} of {relation} violates the expectation '
        f'on column "{column}": {wrong}'
    )


HINT = (
    "fix the data (or the model), change WITH (expect = ...), or set "
    "WITH (on_violation = 'record') to store such rows and record them in motion.violations"
)


def screen(
    rows: Sequence[Mapping[str, Any]], expectations: Expectations
) -> list[list[tuple[str, Any, str]]]:
    """The violations of each row of ``rows``."""
    return [expectations.check(r) for r in rows]


def _bad(name: str, what: str) -> InvalidSetting:
    return InvalidSetting(
        f"setting {name} {what}",
        hint=f'write {name} = \'{{"score": {{"min": 0, "max": 1, "not_null": true}}, '
        f'"label": {{"in": ["a", "b"]}}}}\'',
    )


def _num(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
