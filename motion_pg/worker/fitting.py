"""Running a fit in the fit process, as one transaction.

The user's ``ctx.db`` writes, version n+1 (folded onto the version serving at commit time) and
the completion of the jobs commit together, or roll back together (DESIGN guarantee 12). Events
and ``ctx.db`` results hold the Python values PL/Python gives infer (:mod:`.pgtypes`), and user
SQL runs with the search_path recorded for the trigger at CREATE.

A plain fit call costs two round trips in the fit process, a group of calls too
(:mod:`.grouping`): the first opens the transaction and reads the trigger's catalog row and the
events' typed rows (:mod:`.fit_opening`), the last writes the versions, completes the runs and
commits (:mod:`.group_commit`). The state this process wrote last is not read back
(:mod:`.folding`).
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import FitError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.state import BlobCache
from motion_pg.trigger import Context, Database, Event
from motion_pg.worker import (
    grouping,
    keyed_fit,
    ray_executor,
    refit,
    shared_cache,
    typed_events,
    validation,
)
from motion_pg.worker.committing import Claim, LostRun, check_updates, pickled_state
from motion_pg.worker.fit_definition import (
    JOBS,
    MOTION_PATH,
    Definition,
    Definitions,
    UserPaths,
    head_of,
)
from motion_pg.worker.fit_opening import first_row, open_call
from motion_pg.worker.folding import StateMemory, fold_updates
from motion_pg.worker.group_commit import Slice, commit_slices, remember
from motion_pg.worker.keyed_claim import KeyedClaim
from motion_pg.worker.pgtypes import TypedDatabase, use_plpython_types
from motion_pg.worker.shared_cache import WorkerSource
from motion_pg.worker.typed_events import Groups

__all__ = ["JOBS", "MOTION_PATH", "Claim", "Definition", "FitComputer", "LostRun"]


class FitComputer:
    """Runs fits on one connection, caching trigger classes and unpickled state between fits."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        use_plpython_types(conn)
        self.conn = conn
        self.db = PgDatabase(conn)
        self.user_db = TypedDatabase(conn)
        self.blobs = BlobCache(WorkerSource())  # large values: the host's shared cache, if here
        self.memory = StateMemory()  # the state this process last wrote, per trigger
        self.definitions = Definitions(conn, self.db)
        self.last_seconds = 0.0  # how long the last fit call took (see budget.py)
        self.last_events = 0  # and how many events it committed
        self.call_size = 0  # the events of one fit call of the claim fitted last (0: unknown)
        self.paths = UserPaths(conn)

    def definition(
        self, trigger: str, first: str = ""
    ) -> tuple[Definition, int | None, list[str] | None]:
        """The definition of ``trigger``, the version a fit folds onto (the newest, unless
        nothing serves yet) and the trigger's recorded search_path, read in the caller's
        transaction; ``first``: statements without parameters sent ahead in the same round trip."""
        results = self.user_db.fetch_sets(first + self.definitions.statement(trigger))
        row = first_row(results[-1])
        definition = self.definitions.of(trigger, row)
        assert row is not None
        return definition, head_of(row), row["search_path"]

    def fit(self, claim: Claim) -> int | None:
        """Fit ``claim`` and commit it; returns the version written (None without updates).

        Raises what user code raised, :class:`FitError` for what it returned, and
        :class:`LostRun` when the run was reclaimed meanwhile; nothing is written then.
        """
        if isinstance(claim, KeyedClaim):  # STATE PER: fit per key, one version for the run
            return self._fit_keyed(claim)
        horizon = refit.pending_refit(self.db, claim)
        if horizon is not None:  # REFIT EVERY / REFIT WHEN / on_drift = 'refit'
            self.memory.forget(claim.trigger)
            return refit.refit(self, claim, horizon, MOTION_PATH)
        trigger, conn = claim.trigger, self.conn
        started = time.monotonic()
        self.call_size = 0
        self.definitions.load_seconds = 0.0
        try:
            opened = open_call(self, trigger, claim.events)
            definition, version = opened.definition, opened.version
            memory = self.memory.state(trigger, definition.revision, version)
            self.call_size = grouping.call_size(claim, definition.settings)
            group = grouping.is_group(claim, self.call_size)  # slices are screened one by one
            if memory is not None and opened.user_path:  # the usual call: nothing to read
                state, groups = memory.state, opened.groups
            else:  # the state to read (under motion's search_path), or the events again
                if opened.user_path:
                    conn.execute(MOTION_PATH)
                state, groups = self._prepare(trigger, definition, version,
                                              definition.search_path, claim.events, JOBS,
                                              memory.state if memory is not None else None,
                                              screen=False)  # fmt: skip
            if group:  # several fit calls' worth: a version per slice, one commit
                written, self.last_events = grouping.fit_group(
                    self, claim, definition, version, state, groups, memory)  # fmt: skip
                self.last_seconds = time.monotonic() - started - self.definitions.load_seconds
                return written
            groups = validation.screen(self.db, trigger, definition.settings, definition.keys,
                                       groups)  # fmt: skip
            merged = self._run(trigger, definition, version, state, groups)
            folded = fold_updates(trigger, merged)
            shared_cache.publish(self.db, trigger, folded)  # large values' files, before commit
            known = memory.digests if memory is not None else {}
            done = [Slice(claim.events, folded)]
            committed = commit_slices(conn, claim, done, [], motion_path=MOTION_PATH,
                                      deployed=definition.deployed,
                                      code_digest=definition.code_digest, known=known)  # fmt: skip
        except BaseException:
            self.memory.forget(trigger)
            idle = psycopg.pq.TransactionStatus.IDLE
            if not conn.closed and not conn.broken and conn.info.transaction_status != idle:
                conn.execute("ROLLBACK")
            raise
        remember(self.memory, trigger, definition.revision, version, state, known, done,
                 committed.versions)  # fmt: skip
        written = committed.versions[0][0]
        # the call's cost, a definition's load excluded
        self.last_events = len(claim.events)
        self.last_seconds = time.monotonic() - started - self.definitions.load_seconds
        return written

    def _fit_keyed(self, claim: KeyedClaim) -> int | None:
        """A keyed claim (STATE PER): each key's events fold onto that key's state; one version
        for the run, in one transaction with its completion. A key whose fit fails fails alone
        (:mod:`.keyed_fit`): computed again without it when its failure left writes behind."""
        failed: dict[str, str] = {}
        while True:
            with self.conn.transaction() as tx:
                self.conn.execute(MOTION_PATH)
                definition, version, search_path = self.definition(claim.trigger)
                keyed = keyed_fit.compute(self, claim, definition, version, search_path, JOBS,
                                          failed)  # fmt: skip
                if keyed.restart:  # a failed key's ctx.db writes: drop them, compute again
                    failed = keyed.failed
                    raise psycopg.Rollback(tx)
                refit.check_deployed(self.db, claim.trigger, definition.deployed)
                written = keyed_fit.commit(self.conn, claim, keyed, definition.settings)
                if written is not None and definition.code_digest is not None:
                    self.db.query(query("set_version_code"),
                                  [claim.trigger, written, definition.code_digest])  # fmt: skip
                return written

    def rebuild(
        self, trigger: str, parent: int | None, params: Any, settings: Any, code_digest: str,
        events: list[Event], source: sql.Composable,
    ) -> dict[str, bytes]:  # fmt: skip
        """What :meth:`fit` computes for ``events`` folded onto ``parent`` with these recorded
        params, settings and code, in a transaction that is always rolled back: nothing is
        written, the user's ``ctx.db`` writes included (``motion-pg replay``)."""
        with self.conn.transaction(force_rollback=True):
            self.conn.execute(MOTION_PATH)
            rows = self.db.query(query("trigger_definition"), [trigger])
            if not rows:
                raise FitError(f'motion trigger "{trigger}" no longer exists')
            routes = self.db.query(query("trigger_routes"), [trigger])
            scheduled = self.db.query(query("trigger_schedules"), [trigger])
            row = {**rows[0], "params": params, "settings": settings}
            definition = Definition(self.db, row, routes, code_digest, scheduled)
            return self.compute(trigger, definition, parent, rows[0]["search_path"], events, source)

    def compute(
        self, trigger: str, definition: Definition, version: int | None,
        search_path: list[str] | None, events: list[Event], source: sql.Composable = JOBS,
    ) -> dict[str, bytes]:  # fmt: skip
        """The pickled state updates the fit methods of ``definition`` return for ``events``
        folded onto ``version``, in the caller's transaction; writes nothing of motion's.

        Each event's row is read back from ``source`` (a relation with ``id`` and ``row_data``).
        """
        state, groups = self._prepare(trigger, definition, version, search_path, events, source)
        merged = self._run(trigger, definition, version, state, groups)
        self.conn.execute(MOTION_PATH)
        return pickled_state(trigger, merged)

    def _prepare(
        self, trigger: str, definition: Definition, version: int | None,
        search_path: list[str] | None, events: list[Event], source: sql.Composable,
        state: Mapping[str, Any] | None = None, screen: bool = True,
    ) -> tuple[Mapping[str, Any], Groups]:  # fmt: skip
        """The state to fold onto (``state`` when the caller has it) and the typed events by
        route (checked against the expectations, unless not ``screen``); leaves the user's
        search_path set for the fit methods."""
        if state is None:
            state = (
                self.blobs.load(self.db, trigger, version)
                if version is not None
                else MappingProxyType({})
            )
        groups = typed_events.typed_groups(self.user_db, trigger, events, definition, source,
                                           self.user_path(search_path))  # fmt: skip
        if screen:
            groups = validation.screen(self.db, trigger, definition.settings, definition.keys,
                                       groups)  # fmt: skip
        return state, groups

    def updates(
        self, trigger: str, definition: Definition, version: int | None,
        state: Mapping[str, Any], groups: Groups, db: Database,
    ) -> dict[str, Any]:  # fmt: skip
        """The updates the fit methods return for ``groups``, merged, with ``db`` as ``ctx.db``
        (a group's slice: :mod:`.grouping`)."""
        return self._run(trigger, definition, version, state, groups, db)

    def _run(
        self, trigger: str, definition: Definition, version: int | None,
        state: Mapping[str, Any], groups: Groups, db: Database | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The updates the fit methods return, merged (run under the user's search_path)."""
        if definition.settings.executor == "ray":  # Ray computes; this process commits
            pickled = ray_executor.compute(
                trigger, definition.class_ref, definition.deployed, version or 0, state,
                definition.params, groups, definition.settings.ray_address,
            )  # fmt: skip
            return {key: pickle.loads(data) for key, data in pickled.items()}
        merged: dict[str, Any] = {}
        # consecutive events of one route go to one call; a later call sees earlier updates
        for route, group in groups:
            assert route.fit is not None
            method = loader.method(definition.instance, route.fit, definition.class_ref)
            view = MappingProxyType({**state, **merged}) if merged else state
            ctx = Context(trigger, version or 0, view, definition.params, db or self.user_db,
                          route)  # fmt: skip
            updates = method(group, ctx)
            if updates is not None:
                merged.update(check_updates(trigger, updates, route.fit))
        self.check_transaction(trigger)
        return merged

    def user_path(self, schemas: list[str] | None) -> str:
        """The statement that sets the search_path (and jit) user code runs with."""
        return self.paths.user(schemas)

    def check_transaction(self, trigger: str) -> None:
        """A :class:`FitError` when the fit's transaction cannot commit (a caught statement
        error, or ended through ``ctx.db``)."""
        status = self.conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.INERROR:
            raise FitError(
                f'motion trigger "{trigger}": a statement of the fit failed and its error was '
                "caught; the fit's writes cannot commit",
                hint="let the error propagate, or run the statement in a savepoint",
            )
        if status != psycopg.pq.TransactionStatus.INTRANS:
            raise FitError(
                f'motion trigger "{trigger}": the fit ended its transaction (COMMIT or ROLLBACK '
                "through ctx.db)",
                hint="the fit's writes commit with its state version: do not end the transaction",
            )
