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
    For a trigger with ``STATE PER (columns)``, ``key`` is the row's key (the column's value, or a
    tuple of values for several columns), ``state`` is that key's state over the trigger's own
    (what ``setup`` built) and ``version`` is the key's version: the one that last changed its
    state (the serving version for a key with no state of its own yet). ``key`` is None otherwise.
    """

    trigger: str
    version: int
    state: Mapping[str, Any]
    params: Mapping[str, Any]
    db: Database
    route: RouteInfo | None = None
    key: Any = None


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

    With ``STATE PER (column, ...)`` the trigger keeps one state per key (the values of those
    columns in the row). ``setup`` builds the trigger-wide state: every key's defaults, shared by
    all keys. A key seen for the first time starts from ``setup_key(key, ctx)`` (by default an
    empty dict), laid over the trigger-wide state. ``infer`` sees the row's key as ``ctx.key`` and
    its state as ``ctx.state``; ``fit`` is called once per key with that key's events, oldest
    first, and its updates are written to that key alone (version n+1 records only the keys it
    changed). Fits of different keys run in parallel across workers; one key's fits never.
    """

    def setup(self, ctx: Context) -> dict[str, Any]:
        """Build the first state; the default is an empty state."""
        return {}

    def setup_key(self, key: Any, ctx: Context) -> dict[str, Any]:
        """STATE PER: the initial state of a key seen for the first time (``ctx.state`` is the
        trigger-wide state). It must be cheap and deterministic: infer calls it for a new key in
        every backend, and fit once when it first writes the key. The default is an empty dict."""
        return {}
