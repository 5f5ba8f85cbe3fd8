"""The part of a fit that runs on a Ray worker (``executor = 'ray'``): from (state, events, params)
to the pickled state updates, nothing else.

A Ray task has no database: it imports the trigger's code from the paths the motion worker has,
refuses to run when that code is not the deployed code (the same digest check a worker makes),
calls the fit methods exactly as the local fit process does and returns the pickled updates. The
motion worker claims, commits the version and completes the jobs (:mod:`.ray_executor`).
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from motion_pg.errors import FitError, UserCodeError
from motion_pg.runtime import identity, loader
from motion_pg.trigger import Context, Event, RouteInfo, Trigger
from motion_pg.worker.committing import check_updates, pickled_state

# Ray worker processes serve many tasks: each class is instantiated once per deployed digest
_instances: dict[tuple[str, str | None], Trigger] = {}


@dataclass(frozen=True)
class FitRequest:
    """What a Ray task needs to compute a fit: everything travels pickled, as one value."""

    trigger: str
    class_ref: str
    deployed: str | None  # the deployed code digest (None: recorded before code identity)
    version: int
    state: dict[str, Any]
    params: dict[str, Any]
    groups: list[tuple[RouteInfo, list[Event]]]  # consecutive events of one route, typed rows


class NoDatabase:
    """``ctx.db`` of a fit computed on Ray: there is no transaction to write into."""

    def __init__(self, trigger: str) -> None:
        self.trigger = trigger

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Refuses: a fit run by Ray computes from (state, events, params) only."""
        raise FitError(
            f'motion trigger "{self.trigger}": ctx.db is not available to a fit run on Ray '
            "(executor = 'ray'): Ray computes the new state from (state, events, params) only",
            hint="read what the fit needs in setup or infer (into the state or the row), or run "
            "this trigger with executor = 'local'",
        )


def _instance(request: FitRequest) -> Trigger:
    try:
        identity.ensure(
            request.trigger, request.class_ref, request.deployed, where="the ray worker"
        )
    except UserCodeError as e:
        raise FitError(e.message, hint=e.hint) from None
    key = (request.class_ref, request.deployed)
    found = _instances.get(key)
    if found is None:
        found = loader.instantiate(loader.load_class(request.class_ref), request.class_ref)
        _instances[key] = found
    return found


def compute(request: FitRequest) -> dict[str, bytes]:
    """The pickled state updates of ``request``'s fit methods (as the local fit computes them)."""
    instance = _instance(request)
    state: Mapping[str, Any] = MappingProxyType(request.state)
    params = MappingProxyType(request.params)
    db = NoDatabase(request.trigger)
    merged: dict[str, Any] = {}
    for route, group in request.groups:
        assert route.fit is not None
        method = loader.method(instance, route.fit, request.class_ref)
        view = MappingProxyType({**state, **merged}) if merged else state
        ctx = Context(request.trigger, request.version, view, params, db, route)
        updates = method(group, ctx)
        if updates is not None:
            merged.update(check_updates(request.trigger, updates, route.fit))
    return pickled_state(request.trigger, merged)


def run(request: bytes) -> tuple[str, Any]:
    """``('ok', updates)`` or ``('error', traceback text)``: a user exception whose class the motion
    worker cannot unpickle must still reach the job's error record."""
    try:
        return "ok", compute(pickle.loads(request))
    except Exception as e:
        return "error", "".join(traceback.format_exception(e))
