"""Ending a fit: checking what it returned, writing version n+1 and completing its jobs inside the
fit's transaction (in the fit process), or recording its failure (in the worker)."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from motion_pg.errors import FitError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime.state import pickle_value
from motion_pg.settings import Settings
from motion_pg.trigger import Event


@dataclass
class Claim:
    """A claimed batch: the run, the worker that owns it, and its events, oldest first.

    ``refit``: the trigger's pending REFIT job as the claim found it, when ``refit_known`` (the
    claim step asks in the same round trip; else the fit process asks). ``slice_events``: the
    worker's fit_batch (0: none), the events of one fit call unless the trigger sets its own; a
    claim of more is a group (:mod:`.grouping`), which starts no slice after ``group_seconds``."""

    run_id: int
    trigger: str
    events: list[Event]
    worker_id: str = field(default="")
    refit: int | None = None
    refit_known: bool = False
    slice_events: int = 0
    group_seconds: float = 1.0

    # A claim crosses the pipe to the fit process: its events travel as columns (a bulk claim is
    # tens of thousands of events; pickling as many objects cost ~4 us each, columns ~0.4 us)
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        events: list[Event] = state.pop("events")
        state["events_columns"] = (
            [e.id for e in events], [e.op for e in events], [e.relation for e in events],
            [e.route for e in events], [e.row for e in events],
        )  # fmt: skip
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        columns = state.pop("events_columns")
        state["events"] = [Event(*values) for values in zip(*columns, strict=True)]
        self.__dict__.update(state)


class LostRun(Exception):
    """The run is no longer ours (its lease expired and it was reclaimed)."""


def check_updates(trigger: str, updates: Any, method: str) -> Mapping[str, Any]:
    """``updates`` once known to be a dict with string keys, else a :class:`FitError` naming the
    trigger, the method and the key."""
    if not isinstance(updates, Mapping):
        raise FitError(
            f'motion trigger "{trigger}": {method} must return a dict of state updates, '
            f"got {type(updates).__name__}"
        )
    for key in updates:
        if not isinstance(key, str):
            raise FitError(
                f'motion trigger "{trigger}": {method} returned the state key {key!r} '
                f"({type(key).__name__}); state keys must be strings"
            )
    return updates


def pickled_state(trigger: str, updates: Mapping[str, Any]) -> dict[str, bytes]:
    """``updates`` pickled, once each value is known to unpickle again.

    A value that pickles but cannot be unpickled (a ``__reduce__`` that raises, a class defined in
    ``__main__``) would be served and then fail every infer: the fit fails instead.
    """
    return {key: checked_pickle(trigger, key, value)[0] for key, value in updates.items()}


def checked_pickle(trigger: str, key: str, value: Any) -> tuple[bytes, Any]:
    """``value`` pickled, and the copy that unpickling it gave back (see :func:`pickled_state`)."""
    data = pickle_value(trigger, key, value)
    try:
        return data, pickle.loads(data)
    except Exception as e:
        raise FitError(
            f'motion trigger "{trigger}": state value "{key}" pickles but cannot be '
            f"unpickled: {type(e).__name__}: {e}",
            hint="state values must load in a fresh process: define their classes in an "
            "importable module (not __main__) and make __reduce__/__setstate__ succeed",
        ) from e


def fail_fit(
    conn: psycopg.Connection[Any], worker_id: str, claim: Claim, error: str,
    settings: Settings, narrow: bool = False,
) -> None:  # fmt: skip
    """Record a failed fit: retry with backoff, or park the jobs as dead after max_attempts.
    ``narrow``: the run named more events than ``claim`` (a group): only these fail, the others
    are pending again, untouched."""
    error = error.replace("\x00", "\\x00")  # a text column holds no NUL
    db = PgDatabase(conn)
    with conn.transaction():
        if narrow:
            db.query(query("narrow_run"), [claim.run_id, worker_id, [e.id for e in claim.events]])
        fenced = db.query(
            query("finish_run"),
            [claim.run_id, worker_id, "failed", len(claim.events), None, None, error],
        )
        if fenced:
            db.query(
                query("fail_jobs"),
                [claim.run_id, error, settings.max_attempts, settings.retry_delay,
                 settings.retry_delay_max],
            )  # fmt: skip


def trigger_settings(conn: psycopg.Connection[Any], trigger: str) -> Settings:
    """The current settings of ``trigger`` (the defaults when it was dropped)."""
    rows = PgDatabase(conn).query(query("trigger_definition"), [trigger])
    return Settings.from_json(rows[0]["settings"]) if rows else Settings()
