"""Running a fit in the fit process, as one transaction.

The user's ``ctx.db`` writes, version n+1 (folded onto the version serving at commit time) and
the completion of the jobs commit together, or roll back together (DESIGN guarantee 12). Events
and ``ctx.db`` results hold the Python values PL/Python gives infer (:mod:`.pgtypes`), and user
SQL runs with the search_path recorded for the trigger at CREATE.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from motion_pg.errors import FitError, UserCodeError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import identity, loader
from motion_pg.runtime.state import BlobCache
from motion_pg.settings import Settings
from motion_pg.trigger import Context, Event, RouteInfo, Trigger
from motion_pg.worker import keyed_fit, ray_executor, refit, shared_cache, validation
from motion_pg.worker.committing import Claim, LostRun, check_updates, pickled_state
from motion_pg.worker.folding import StateMemory, commit_fold, fold_updates
from motion_pg.worker.keyed_claim import KeyedClaim
from motion_pg.worker.pgtypes import TypedDatabase, use_plpython_types
from motion_pg.worker.shared_cache import WorkerSource

__all__ = ["Claim", "Definition", "FitComputer", "LostRun"]

# motion's own statements never depend on the user's search_path; and without JIT, which would
# spend milliseconds compiling statements that run in microseconds
_MOTION_PATH = (
    "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true),"
    " pg_catalog.set_config('jit', 'off', true)"
)
_USER_PATH = (
    "SELECT pg_catalog.set_config('search_path', %s, true), pg_catalog.set_config('jit', %s, true)"
)
# where the worker reads its claim's events: the queue (replay reads the job log too)
JOBS: sql.Composable = sql.SQL("motion.jobs")
_ROW_TYPE = (
    "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::pg_catalog.oid"
)


class Definition:
    """A trigger as a fit runs it: its class instance, params, routes and code digest.

    ``row`` holds the catalog's ``name``, ``revision``, ``class_ref``, ``params`` and ``settings``;
    ``deployed`` is the code digest the imported code must have (reloaded from disk, else refused).
    """

    def __init__(
        self, db: PgDatabase, row: Mapping[str, Any], routes: list[dict[str, Any]],
        deployed: str | None, schedules: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        self.revision = row["revision"]
        self.deployed = deployed
        self.class_ref: str = row["class_ref"]
        params = row["params"]
        self.params: Mapping[str, Any] = MappingProxyType(
            json.loads(params) if isinstance(params, str) else dict(params)
        )
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
        self.keys = {r["ordinal"]: list(r["key_columns"] or ()) for r in routes}
        for s in schedules:  # scheduled routes: events without a row
            self.routes[s["ordinal"]] = RouteInfo(
                ordinal=s["ordinal"], relation="", columns=None, infer=None, fit=s["fit_method"],
                schedule=s["cron"],
            )  # fmt: skip
        # each route's row type, for reading its events back as typed rows, and the lineage
        # columns of its relation, which fit never sees
        self.row_types: dict[int, sql.Composable] = {}
        self.hidden: dict[int, frozenset[str]] = {}
        for r in routes:
            found = db.query(query("relation_lineage_columns"), [r["relid"]])
            self.hidden[r["ordinal"]] = frozenset(str(h["name"]) for h in found)
            names = db.query(_ROW_TYPE, [r["relid"]])
            if names:
                self.row_types[r["ordinal"]] = sql.Identifier(
                    names[0]["nspname"], names[0]["relname"]
                )
        # the deployed code, re-imported after a deploy; never code that differs from it
        try:
            code = identity.ensure(row["name"], self.class_ref, deployed, where="this worker")
        except UserCodeError as e:
            raise FitError(e.message, hint=e.hint) from None
        self.code_digest = code.digest if code is not None else None
        cls = loader.load_class(self.class_ref)
        self.instance: Trigger = loader.instantiate(cls, self.class_ref)


class FitComputer:
    """Runs fits on one connection, caching trigger classes and unpickled state between fits."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        use_plpython_types(conn)
        self.conn = conn
        self.db = PgDatabase(conn)
        self.user_db = TypedDatabase(conn)
        self.blobs = BlobCache(WorkerSource())  # large values: the host's shared cache, if here
        self.memory = StateMemory()  # the state this process last wrote, per trigger
        self.last_seconds = 0.0  # how long the last fit call took (see budget.py)
        self._definitions: dict[str, Definition] = {}
        # the connection's own defaults, for user SQL of triggers without a recorded search_path
        row = conn.execute(
            "SELECT pg_catalog.current_setting('search_path'), pg_catalog.current_setting('jit')"
        ).fetchone()
        assert row is not None
        self._default_path, self._default_jit = str(row[0]), str(row[1])

    def _definition(
        self, trigger: str, first: str = ""
    ) -> tuple[Definition, int | None, list[str] | None]:
        # ``first``: statements without parameters sent ahead in the same round trip
        statement = sql.SQL(query("fold_definition").replace("$1", "{}"))
        text = first + statement.format(sql.Literal(trigger)).as_string(self.conn)
        with psycopg.RawCursor(self.conn, row_factory=dict_row) as cur:
            cur.execute(text)  # no parameters: the simple query protocol, many statements
            while cur.nextset():
                pass
            rows = cur.fetchall()
        if not rows:
            raise FitError(f'motion trigger "{trigger}" no longer exists')
        row = rows[0]
        deployed = row["code_digest"]
        cached = self._definitions.get(trigger)
        if cached is None or (cached.revision, cached.deployed) != (row["revision"], deployed):
            self._definitions.pop(trigger, None)  # a failed load loads again on the next fit
            routes = self.db.query(query("trigger_routes"), [trigger])
            scheduled = self.db.query(query("trigger_schedules"), [trigger])
            cached = Definition(self.db, row, routes, deployed, scheduled)
            self._definitions[trigger] = cached
        # fits fold onto the newest version: the serving one, unless a pin holds serving behind it
        version = row["head_version"] if row["serving_version"] is not None else None
        return cached, version, row["search_path"]

    def fit(self, claim: Claim) -> int | None:
        """Fit ``claim`` and commit it; returns the version written (None without updates).

        Raises what user code raised, :class:`FitError` for what it returned, and
        :class:`LostRun` when the run was reclaimed meanwhile; nothing is written then.
        A call costs four round trips here: the state this process wrote last is not read back,
        and the end is one fenced statement (:mod:`.folding`).
        """
        if isinstance(claim, KeyedClaim):  # STATE PER: fit per key, one version for the run
            return self._fit_keyed(claim)
        horizon = refit.pending_refit(self.db, claim)
        if horizon is not None:  # REFIT EVERY / REFIT WHEN / on_drift = 'refit'
            self.memory.forget(claim.trigger)
            return refit.refit(self, claim, horizon, _MOTION_PATH)
        trigger, conn = claim.trigger, self.conn
        try:
            definition, version, search_path = self._definition(trigger, f"BEGIN; {_MOTION_PATH}; ")
            started = time.monotonic()  # the call's cost, a definition's first load excluded
            memory = self.memory.state(trigger, definition.revision, version)
            state = memory.state if memory is not None else None
            state, groups = self._prepare(trigger, definition, version, search_path,
                                          claim.events, JOBS, state)  # fmt: skip
            merged = self._run(trigger, definition, version, state, groups)
            folded = fold_updates(trigger, merged)
            shared_cache.publish(self.db, trigger, folded)  # large values' files, before commit
            written, parent = commit_fold(conn, claim, folded, motion_path=_MOTION_PATH,
                                  deployed=definition.deployed,
                                  code_digest=definition.code_digest,
                                  known=memory.digests if memory is not None else {})  # fmt: skip
        except BaseException:
            self.memory.forget(trigger)
            idle = psycopg.pq.TransactionStatus.IDLE
            if not conn.closed and not conn.broken and conn.info.transaction_status != idle:
                conn.execute("ROLLBACK")
            raise
        if parent != version:  # folded onto a version written meanwhile (SET, REFIT...)
            self.memory.forget(trigger)
        elif written is not None:
            known = memory.digests if memory is not None else {}
            self.memory.remember(trigger, definition.revision, written, state, known, folded)
        self.last_seconds = time.monotonic() - started
        return written

    def _fit_keyed(self, claim: KeyedClaim) -> int | None:
        """A keyed claim (STATE PER): each key's events fold onto that key's state; one version
        for the run, in one transaction with its completion. A key whose fit fails fails alone
        (:mod:`.keyed_fit`): computed again without it when its failure left writes behind."""
        failed: dict[str, str] = {}
        while True:
            with self.conn.transaction() as tx:
                self.conn.execute(_MOTION_PATH)
                definition, version, search_path = self._definition(claim.trigger)
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
            self.conn.execute(_MOTION_PATH)
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
        self.conn.execute(_MOTION_PATH)
        return pickled_state(trigger, merged)

    def _prepare(
        self, trigger: str, definition: Definition, version: int | None,
        search_path: list[str] | None, events: list[Event], source: sql.Composable,
        state: Mapping[str, Any] | None = None,
    ) -> tuple[Mapping[str, Any], list[tuple[RouteInfo, list[Event]]]]:  # fmt: skip
        """The state to fold onto (``state`` when the caller has it) and the typed events by
        route; leaves the user's search_path set for the fit methods."""
        if state is None:
            state = (
                self.blobs.load(self.db, trigger, version)
                if version is not None
                else MappingProxyType({})
            )
        groups = self._typed_groups(
            trigger, events, definition, source, self._user_path(search_path)
        )
        groups = validation.screen(self.db, trigger, definition.settings, definition.keys, groups)
        return state, groups

    def _run(
        self, trigger: str, definition: Definition, version: int | None,
        state: Mapping[str, Any], groups: list[tuple[RouteInfo, list[Event]]],
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
            ctx = Context(trigger, version or 0, view, definition.params, self.user_db, route)
            updates = method(group, ctx)
            if updates is not None:
                merged.update(check_updates(trigger, updates, route.fit))
        self._check_transaction(trigger)
        return merged

    def _user_path(self, schemas: list[str] | None) -> str:
        """The statement that sets the search_path (and jit) user code runs with."""
        if schemas is None:  # not recorded: the connection's own default
            path = self._default_path
        else:
            composed = sql.SQL(", ").join([*map(sql.Identifier, schemas), sql.SQL("pg_temp")])
            path = composed.as_string(self.conn)
        statement = sql.SQL(_USER_PATH.replace("%s", "{}"))
        return statement.format(sql.Literal(path), sql.Literal(self._default_jit)).as_string(
            self.conn
        )

    def _check_transaction(self, trigger: str) -> None:
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

    def _typed_groups(
        self, trigger: str, events: list[Event], definition: Definition, source: sql.Composable,
        then: str,
    ) -> list[tuple[RouteInfo, list[Event]]]:  # fmt: skip
        """``events`` by consecutive route, each row read back as PL/Python would see it; then
        the statement ``then`` (without parameters), in the same round trip as the last read."""
        groups = _groups(events, definition)
        reads = [i for i, (route, _) in enumerate(groups) if route.schedule is None]
        if not reads:
            self.conn.execute(then)
        for i, (route, group) in enumerate(groups):
            if route.schedule is not None:
                continue  # a firing has no row
            row_type = definition.row_types.get(route.ordinal)
            if row_type is None:
                raise FitError(
                    f'motion trigger "{trigger}": the relation of route {route.ordinal} '
                    f"({route.relation}) no longer exists"
                )
            ids = [e.id for e in group]
            statement = sql.SQL(
                "SELECT j.id, r.* FROM {} j CROSS JOIN LATERAL "
                "pg_catalog.jsonb_populate_record(NULL::{}, j.row_data) r "
                "WHERE j.id = ANY ({}::pg_catalog.int8[])"
            )
            if i == reads[-1]:  # the ids inline: no parameters, so ``then`` can follow
                array = sql.Literal("{" + ",".join(str(int(e)) for e in ids) + "}")
                text = statement.format(source, row_type, array).as_string(self.conn)
                names, rows = self.user_db.fetch(f"{text}; {then}")
            else:
                text = statement.format(source, row_type, sql.SQL("$1")).as_string(self.conn)
                names, rows = self.user_db.fetch(text, [ids])
            hidden = definition.hidden.get(route.ordinal, frozenset())
            typed = {
                row[0]: {n: v for n, v in zip(names[1:], row[1:], strict=True) if n not in hidden}
                for row in rows
            }
            group[:] = [
                Event(id=e.id, op=e.op, relation=e.relation, route=e.route, row=typed[e.id])
                for e in group
            ]
        return groups


def _groups(events: list[Event], definition: Definition) -> list[tuple[RouteInfo, list[Event]]]:
    groups: list[tuple[RouteInfo, list[Event]]] = []
    for event in events:
        route = definition.routes.get(event.route)
        if (
            route is None
            or route.fit is None
            or (route.schedule is None) != (event.op != "SCHEDULE")
        ):
            continue  # the route was redefined since the event was enqueued
        if groups and groups[-1][0].ordinal == route.ordinal:
            groups[-1][1].append(event)
        else:
            groups.append((route, [event]))
    return groups
