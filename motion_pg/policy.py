"""Refit policies: when a trigger fits, and when it rebuilds its state from setup.

``FIT WHEN (…)`` and ``REFIT …`` (DESIGN §2.4) parse into one :class:`Policy`. Python decides
here what the clause means (counts, intervals in seconds, drift shares); the catalog stores
:meth:`Policy.to_json` in ``motion.fit_policies`` and the worker's claim path applies it in SQL
(``policy_held`` in sql/queries.sql), as a queue applies a retry strategy computed in Python.

Conditions, any of which releases the trigger's pending events (OR):

- ``COUNT >= n``: n events are pending (Motion's batch_size);
- ``AFTER 'interval'``: the oldest pending event has waited that long (so a trickle is not stuck);
- ``EVERY 'interval'``: the trigger's last fit finished that long ago (or it never fitted);
- ``DRIFT > x``: the share of drifted columns (:mod:`motion_pg.drift`) is above x (0 ≤ x < 1).

``REFIT EVERY 'interval'`` rebuilds the state from setup over all data on that period (a scheduled
route of the trigger, fired once per period however many workers run), and ``REFIT WHEN (…)``
refits instead of fitting when its conditions hold: the pending events are folded by the refit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from motion_pg.errors import DefinitionError
from motion_pg.settings import INTERVAL_UNITS

KINDS = ("count", "after", "every", "drift")
_HINT = "write an interval such as '30 seconds', '5 minutes', '2 hours' or '1 day'"


def interval_seconds(text: str, where: str = "the policy") -> float:
    """Seconds in ``'n unit'`` (or a bare number of seconds); DefinitionError otherwise."""
    parts = text.strip().lower().split()
    number = float("nan")
    try:
        if len(parts) == 1:
            number = float(parts[0])
        elif len(parts) == 2 and parts[1] in INTERVAL_UNITS:
            number = float(parts[0]) * INTERVAL_UNITS[parts[1]]
    except ValueError:
        pass
    if not (math.isfinite(number) and number > 0):
        raise DefinitionError(f"invalid interval {text!r} in {where}", hint=_HINT)
    return number


@dataclass(frozen=True)
class Condition:
    """One condition of a policy: ``kind`` in :data:`KINDS`; ``value`` is the count, the seconds
    or the drift share; ``text`` is the interval as written (intervals only)."""

    kind: str
    value: float
    text: str | None = None

    @classmethod
    def make(cls, kind: str, raw: int | float | str, where: str = "FIT WHEN") -> Condition:
        """A condition checked and converted from what the statement spelled."""
        if kind == "count":
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                raise DefinitionError(
                    f"COUNT >= n in {where} needs a positive integer, got {raw!r}"
                )
            return cls("count", float(raw))
        if kind in ("after", "every"):
            if not isinstance(raw, str):
                raise DefinitionError(f"{kind.upper()} in {where} needs an interval string",
                                      hint=_HINT)  # fmt: skip
            return cls(kind, interval_seconds(raw, f"{kind.upper()} of {where}"), raw)
        if kind == "drift":
            ok = not isinstance(raw, bool | str) and 0 <= float(raw) < 1
            if not ok:
                raise DefinitionError(
                    f"DRIFT > x in {where} needs a share of drifted columns, 0 <= x < 1, "
                    f"got {raw!r}",
                    hint="DRIFT > 0.4 fits once more than 40% of the profiled columns drifted",
                )
            return cls("drift", float(raw))
        raise DefinitionError(f"unknown policy condition {kind!r}")

    def sql_text(self) -> str:
        """The condition as the DSL spells it."""
        if self.kind == "count":
            return f"COUNT >= {int(self.value)}"
        if self.kind == "drift":
            return f"DRIFT > {self.value!r}"
        text = (self.text or f"{self.value!r} seconds").replace("'", "''")
        return f"{self.kind.upper()} '{text}'"


@dataclass(frozen=True)
class Policy:
    """A trigger's refit policy; the empty policy fits as soon as events exist (the default)."""

    fit_when: tuple[Condition, ...] = ()
    refit_when: tuple[Condition, ...] = ()
    refit_every: Condition | None = None  # kind 'every'

    def __bool__(self) -> bool:
        return bool(self.fit_when or self.refit_when or self.refit_every)

    @property
    def uses_drift(self) -> bool:
        """Whether a condition reads the drift figures (the worker then profiles the trigger)."""
        return any(c.kind == "drift" for c in (*self.fit_when, *self.refit_when))

    def sql_text(self) -> str:
        """The clauses as the DSL spells them (``FIT WHEN (…) REFIT …``)."""
        parts = []
        if self.fit_when:
            parts.append("FIT WHEN (" + " OR ".join(c.sql_text() for c in self.fit_when) + ")")
        if self.refit_every is not None:
            parts.append("REFIT " + self.refit_every.sql_text())
        if self.refit_when:
            parts.append("REFIT WHEN (" + " OR ".join(c.sql_text() for c in self.refit_when) + ")")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The form the claim path reads: each condition kind → its number (NULL: absent)."""

        def conditions(items: tuple[Condition, ...]) -> dict[str, Any]:
            return {c.kind: int(c.value) if c.kind == "count" else c.value for c in items} | {
                f"{c.kind}_text": c.text for c in items if c.text is not None
            }

        data: dict[str, Any] = {"fit": conditions(self.fit_when),
                                "refit": conditions(self.refit_when)}  # fmt: skip
        if self.refit_every is not None:
            data["refit_every"] = self.refit_every.value
            data["refit_every_text"] = self.refit_every.text
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Policy:
        """The policy :meth:`to_json` wrote (the empty policy for None)."""
        if not data:
            return cls()

        def conditions(part: dict[str, Any]) -> tuple[Condition, ...]:
            return tuple(
                Condition(k, float(part[k]), part.get(f"{k}_text")) for k in KINDS if k in part
            )

        every = data.get("refit_every")
        return cls(
            fit_when=conditions(data.get("fit") or {}),
            refit_when=conditions(data.get("refit") or {}),
            refit_every=Condition("every", float(every), data.get("refit_every_text"))
            if every is not None
            else None,
        )


def build(
    fit_when: list[tuple[str, Any]], refit_when: list[tuple[str, Any]], refit_every: str | None
) -> Policy:
    """The policy a statement spelled: each list holds (kind, raw value) pairs in order."""
    return Policy(
        fit_when=_conditions(fit_when, "FIT WHEN"),
        refit_when=_conditions(refit_when, "REFIT WHEN"),
        refit_every=Condition.make("every", refit_every, "REFIT EVERY")
        if refit_every is not None
        else None,
    )


def _conditions(pairs: list[tuple[str, Any]], where: str) -> tuple[Condition, ...]:
    seen: set[str] = set()
    result = []
    for kind, raw in pairs:
        if kind in seen:
            raise DefinitionError(f"{kind.upper()} appears twice in {where}",
                                  hint="give each condition once")  # fmt: skip
        seen.add(kind)
        result.append(Condition.make(kind, raw, where))
    return tuple(result)
