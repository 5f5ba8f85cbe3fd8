"""Computing a fit (in the fit process) and committing its result (in the worker).

:class:`FitComputer` runs the user's fit methods over a claimed batch and returns the state updates
already pickled. :func:`commit_fit` writes version n+1 and completes the jobs in one transaction,
fenced on the run still being this worker's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg

from motion_pg.errors import FitError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.state import BlobCache, pickle_value, write_version
from motion_pg.settings import Settings
from motion_pg.trigger import Context, Event, RouteInfo, Trigger


@dataclass
class Claim:
    """A claimed batch: the run and its events, oldest first."""

    run_id: int
    trigger: str
    events: list[Event]


class LostRun(Exception):
    """The run is no longer ours (its lease expired and it was reclaimed)."""


class _Definition:
    def __init__(self, row: Mapping[str, Any], routes: list[dict[str, Any]]) -> None:
        self.revision = row["revision"]
        self.class_ref: str = row["class_ref"]
        self.params: Mapping[str, Any] = MappingProxyType(dict(row["params"]))
        self.settings = Settings.from_json(row["settings"])
        self.routes = {
            r["ordinal"]: RouteInfo(
                ordinal=r["ordinal"],
                relation=r["relation"],
                columns=tuple(r["columns"]) if r["columns"] is not None else None,
                infer=r["infer_method"],
                fit=r["fit_method"],
            )
            for r in routes
        }
        cls = loader.load_class(self.class_ref)
        self.instance: Trigger = loader.instantiate(cls, self.class_ref)


class FitComputer:
    """Runs fits, caching trigger classes and unpickled state between calls."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.db = PgDatabase(conn)
        self.blobs = BlobCache()
        self._definitions: dict[str, _Definition] = {}

    def _definition(self, trigger: str) -> tuple[_Definition, int | None]:
        rows = self.db.query(query("trigger_definition"), [trigger])
        if not rows:
            raise FitError(f'motion trigger "{trigger}" no longer exists')
        cached = self._definitions.get(trigger)
        if cached is None or cached.revision != rows[0]["revision"]:
            routes = self.db.query(query("trigger_routes"), [trigger])
            cached = self._definitions[trigger] = _Definition(rows[0], routes)
        return cached, rows[0]["serving_version"]

    def compute(self, claim: Claim) -> dict[str, bytes]:
        """The state updates of fitting ``claim``, pickled; raises what user code raised."""
        definition, version = self._definition(claim.trigger)
        state: Mapping[str, Any] = (
            self.blobs.load(self.db, claim.trigger, version)
            if version is not None
            else MappingProxyType({})
        )
        merged: dict[str, Any] = {}
        # consecutive events of one route go to one call; a later call sees earlier updates
        for route, events in _groups(claim.events, definition):
            assert route.fit is not None
            method = loader.method(definition.instance, route.fit, definition.class_ref)
            view = MappingProxyType({**state, **merged}) if merged else state
            ctx = Context(claim.trigger, version or 0, view, definition.params, self.db, route)
            updates = method(events, ctx)
            if updates is None:
                continue
            if not isinstance(updates, Mapping):
                raise FitError(
                    f'motion trigger "{claim.trigger}": {route.fit} must return a dict of state '
                    f"updates, got {type(updates).__name__}"
                )
            merged.update(updates)
        return {key: pickle_value(claim.trigger, key, value) for key, value in merged.items()}


def _groups(events: list[Event], definition: _Definition) -> list[tuple[RouteInfo, list[Event]]]:
    groups: list[tuple[RouteInfo, list[Event]]] = []
    for event in events:
        route = definition.routes.get(event.route)
        if route is None or route.fit is None:
            continue  # the route was redefined since the event was enqueued
        if groups and groups[-1][0].ordinal == route.ordinal:
            groups[-1][1].append(event)
        else:
            groups.append((route, [event]))
    return groups


def commit_fit(
    conn: psycopg.Connection[Any], worker_id: str, claim: Claim, updates: Mapping[str, bytes]
) -> int | None:
    """Write the fit's version (if it returned updates) and complete its jobs, atomically.

    Raises :class:`LostRun` when the run is no longer this worker's; nothing is written then.
    """
    db = PgDatabase(conn)
    with conn.transaction():
        current = db.query(query("trigger_for_update"), [claim.trigger])
        if not current:
            raise LostRun(claim.run_id)
        parent = current[0]["serving_version"]
        version = None
        if updates:
            version = write_version(
                db, claim.trigger, updates, source="fit", parent=parent,
                params=current[0]["params"], settings=Settings.from_json(current[0]["settings"]),
                run_id=claim.run_id, pickled=True,
            )  # fmt: skip
        fenced = db.query(
            query("finish_run"),
            [claim.run_id, worker_id, "succeeded", len(claim.events), parent, version, None],
        )
        if not fenced:
            raise LostRun(claim.run_id)
        db.query(query("complete_jobs"), [claim.run_id])
    return version


def fail_fit(
    conn: psycopg.Connection[Any], worker_id: str, claim: Claim, error: str,
    settings: Settings,
) -> None:  # fmt: skip
    """Record a failed fit: retry with backoff, or park the jobs as dead after max_attempts."""
    db = PgDatabase(conn)
    with conn.transaction():
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
