"""The state a fit process last wrote, kept to fold the next fit onto it, and a fit's updates
made ready to commit (:mod:`.group_commit` writes them).

A fit call used to cost about a dozen round trips to end and two more to read the state it had
just written back. Here the fit process remembers the state it committed (the copies its
unpickling check made, so no object the user still holds is shared) and folds the next call onto
it when the trigger's newest version is still that one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import dict_row

from motion_pg.queries import query
from motion_pg.worker.committing import checked_pickle


class Unparsed(Loader):
    """jsonb left as text: the fit process reads each event's row back typed anyway."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


def claim_rows(conn: psycopg.Connection[Any], params: list[Any]) -> list[dict[str, Any]]:
    """The rows of ``claim_jobs`` with ``row_data`` as jsonb text: a bulk claim does not parse
    thousands of rows the fit process reads back typed (:func:`row_of` parses what it needs)."""
    with psycopg.RawCursor(conn, row_factory=dict_row) as cur:
        cur.adapters.register_loader("jsonb", Unparsed)
        cur.execute(query("claim_jobs"), params)
        return cur.fetchall()


def row_of(op: str, row_data: str | None) -> dict[str, Any]:
    """The row an event carries to the fit process: a scheduled firing's own (``{}``), else
    nothing (the fit process reads the row back typed; the claim step does not send it)."""
    return json.loads(row_data) if op == "SCHEDULE" and row_data is not None else {}


@dataclass(frozen=True)
class Written:
    """A version this process wrote: its number, its unpickled state and its values' digests."""

    revision: int
    version: int
    state: Mapping[str, Any]
    digests: Mapping[str, bytes]


@dataclass
class Folded:
    """A fit's updates ready to commit: pickled bytes, their digests and unpickled copies."""

    pickled: dict[str, bytes]
    digests: dict[str, bytes]
    copies: dict[str, Any]


class StateMemory:
    """Per trigger, the last version this fit process wrote, to fold the next fit onto it without
    reading it back. Keyed by the trigger's revision too: a trigger dropped and created again
    numbers its versions from 1 again."""

    def __init__(self) -> None:
        self._last: dict[str, Written] = {}

    def state(self, trigger: str, revision: int, version: int | None) -> Written | None:
        """The remembered state of ``trigger`` at ``version``, or None."""
        last = self._last.get(trigger)
        if last is None or version is None or (last.revision, last.version) != (revision, version):
            return None
        return last

    def remember(
        self, trigger: str, revision: int, version: int, parent: Mapping[str, Any],
        digests: Mapping[str, bytes], folded: Folded,
    ) -> None:  # fmt: skip
        """Remember ``version``: ``parent`` (the state the fit folded onto, with the digests
        known of its values) with the fit's updates."""
        state = {**parent, **folded.copies}
        known = {k: d for k, d in digests.items() if k in state and k not in folded.copies}
        self._last[trigger] = Written(
            revision, version, MappingProxyType(state), {**known, **folded.digests}
        )

    def forget(self, trigger: str) -> None:
        self._last.pop(trigger, None)


def fold_updates(trigger: str, updates: Mapping[str, Any]) -> Folded:
    """``updates`` pickled (each known to unpickle again), with digests and unpickled copies."""
    folded = Folded({}, {}, {})
    for key, value in updates.items():
        data, copy = checked_pickle(trigger, key, value)
        folded.pickled[key] = data
        folded.digests[key] = hashlib.sha256(data).digest()
        folded.copies[key] = copy
    return folded
