"""The user's side of a motion trigger: the :class:`Trigger` base class and what methods receive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Database(Protocol):
    """SQL access handed to user code as ``ctx.db``; placeholders are ``$1, $2, …``.

    Inside ``infer`` it is the writing transaction itself; inside ``setup`` it is the transaction that
    creates (or refits) the trigger; inside ``fit`` it is the fit's own transaction, which commits
    with the new state version and the jobs' completion, or not at all.
    """

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run ``sql`` and return its rows as dicts (an empty list for statements without rows)."""
        ...


@dataclass(frozen=True)
class RouteInfo:
    """The route an event or an inferred row came through."""

    ordinal: int
    relation: str  # schema-qualified, quoted where needed
    columns: tuple[str, ...] | None
    infer: str | None  # method name, or None for no infer
    fit: str | None  # method name, or None for no fit
    schedule: str | None = None  # the cron expression of a scheduled route (relation is '')


@dataclass(frozen=True)
class Context:
    """What ``setup``, ``infer`` and ``fit`` receive as ``ctx``.

    ``state`` is a read-only mapping of the serving version: assigning to it raises ``TypeError``.
    """

    trigger: str
    version: int
    state: Mapping[str, Any]
    params: Mapping[str, Any]
    db: Database
    route: RouteInfo | None = None


@dataclass(frozen=True)
class Event:
    """One committed change handed to ``fit``: the row as stored (after infer)."""

    id: int
    op: str  # 'INSERT' or 'UPDATE'; 'SCHEDULE' for a scheduled route's firing (relation '', row {})
    relation: str
    route: int
    row: dict[str, Any]


class Trigger:
    """Base class of motion trigger classes.

    Subclass it and define any of::

        def setup(self, ctx) -> dict                 # initial state (version 1), from existing data
        def infer(self, row, ctx) -> dict | None     # {column: value} written into the new row
        def fit(self, events, ctx) -> dict           # state updates -> version n+1

    Routes name other methods with ``INFER method`` / ``FIT method``; they take the same arguments.
    """

    def setup(self, ctx: Context) -> dict[str, Any]:
        """Build the first state; the default is an empty state."""
        return {}
