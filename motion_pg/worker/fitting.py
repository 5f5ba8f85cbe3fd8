"""One fit run: the user's fit methods over a claimed batch, then version n+1 and the jobs'
completion in one fenced transaction."""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg

from motion_pg.errors import FitError, MotionError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.state import BlobCache, write_version
from motion_pg.trigger import Context, Event, RouteInfo, Trigger


@dataclass
class Claim:
    """A claimed batch: the run and its events, oldest first."""

    run_id: int
    trigger: str
    events: list[Event]


class FitOutcome(Exception):
    """Raised when a fit failed; carries the text stored with the jobs."""


class _Definition:
    def __init__(self, row: Mapping[str, Any], routes: list[Mapping[str, Any]]) -> None:
        self.revision = row["revision"]
        self.class_ref: str = row["class_ref"]
        self.params: Mapping[str, Any] = MappingProxyType(
            row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
        )
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
        self.instance: Trigger = loader.instantiate(loader.load_class(self.class_ref), self.class_ref)


class Fitter:
    """Runs fits for one worker process, caching classes and unpickled state between runs."""

    def __init__(self, conn: psycopg.Connection[Any], worker_id: str) -> None:
        self.conn = conn
        self.db = PgDatabase(conn)
        self.worker_id = worker_id
        self.blobs = BlobCache()
        self._definitions: dict[str, _Definition] = {}

    def _definition(self, trigger: str) -> tuple[_Definition, Mapping[str, Any]]:
        row = self.db.query(query("trigger_definition"), [trigger])
        if not row:
            raise FitError(f'motion trigger "{trigger}" no longer exists')
        cached = self._definitions.get(trigger)
        if cached is None or cached.revision != row[0]["revision"]:
            routes = self.db.query(query("trigger_routes"), [trigger])
            cached = self._definitions[trigger] = _Definition(row[0], routes)
        return cached, row[0]

    def params(self, trigger: str) -> Mapping[str, Any]:
        """The params of ``trigger`` as last loaded (empty if it never loaded)."""
        cached = self._definitions.get(trigger)
        return cached.params if cached is not None else {}

    def run(self, claim: Claim) -> int | None:
        """Fit ``claim``; returns the new version (None when fit returned no updates).

        Raises :class:`FitOutcome` with the traceback text when user code failed.
        """
        try:
            definition, row = self._definition(claim.trigger)
            parent: int | None = row["serving_version"]
            state = (
                self.blobs.load(self.db, claim.trigger, parent)
                if parent is not None
                else MappingProxyType({})
            )
            updates = self._call_fit(claim, definition, parent or 0, state)
        except MotionError as e:
            raise FitOutcome(str(e)) from e
        except Exception as e:
            raise FitOutcome("".join(traceback.format_exception(e))) from e
        return self._commit(claim, definition, parent, updates)

    def _call_fit(
        self, claim: Claim, definition: _Definition, version: int, state: Mapping[str, Any]
    ) -> dict[str, Any]:
        # Consecutive events of the same route go to one call; later calls see earlier updates.
        merged: dict[str, Any] = {}
        groups: list[tuple[RouteInfo, list[Event]]] = []
        for event in claim.events:
            route = definition.routes.get(event.route)
            if route is None or route.fit is None:
                continue  # the route changed since the event was enqueued
            if groups and groups[-1][0].ordinal == route.ordinal:
                groups[-1][1].append(event)
            else:
                groups.append((route, [event]))
        for route, events in groups:
            assert route.fit is not None
            method = loader.method(definition.instance, route.fit, definition.class_ref)
            view = MappingProxyType({**state, **merged}) if merged else state
            ctx = Context(claim.trigger, version, view, definition.params, self.db, route)
            updates = method(events, ctx)
            if updates is None:
                continue
            if not isinstance(updates, Mapping):
                raise FitError(
                    f'motion trigger "{claim.trigger}": {route.fit} must return a dict of state '
                    f"updates, got {type(updates).__name__}"
                )
            merged.update(updates)
        return merged

    def _commit(
        self,
        claim: Claim,
        definition: _Definition,
        parent: int | None,
        updates: Mapping[str, Any],
    ) -> int | None:
        with self.conn.transaction():
            current = self.db.query(query("trigger_for_update"), [claim.trigger])
            if not current:
                raise FitOutcome(f'motion trigger "{claim.trigger}" was dropped during the fit')
            version = None
            if updates:
                # a rollback or refit that served meanwhile is the base the updates apply to
                base = current[0]["serving_version"]
                version = write_version(
                    self.db, claim.trigger, updates, source="fit", parent=base,
                    params=definition.params, run_id=claim.run_id,
                )  # fmt: skip
            fenced = self.db.query(
                query("finish_run"),
                [claim.run_id, self.worker_id, "succeeded", len(claim.events), parent, version,
                 None],
            )  # fmt: skip
            if not fenced:
                raise LostRun(claim.run_id)
            self.db.query(query("complete_jobs"), [claim.run_id])
        return version


class LostRun(Exception):
    """The run is no longer ours (its lease expired and another worker took it over)."""
