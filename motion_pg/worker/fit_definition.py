"""A trigger as the fit process runs it (:class:`Definition`), and the cache of them that a fit
call checks against the catalog row it reads first (:class:`Definitions`).

A fit call reads the trigger's catalog row (``fold_definition``) in its first round trip; the
class, routes and row types are loaded again only when the trigger's revision or deployed code
changed since the last call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import FitError, UserCodeError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import identity, loader
from motion_pg.settings import Settings
from motion_pg.trigger import RouteInfo, Trigger

# motion's own statements never depend on the user's search_path; and without JIT, which would
# spend milliseconds compiling statements that run in microseconds. Without sequential scans: the
# fit process keeps its statements prepared, and a generic plan made while motion.jobs was drained
# (no pages, analyzed empty) read the whole queue in the fold until the next ANALYZE, ~1 s per
# call over 100k queued events (tests/integration/test_outlier_plan.py). Each of motion's reads
# has an index made for it; user code gets the connection's own settings back (USER_PATH)
MOTION_PATH = (
    "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true),"
    " pg_catalog.set_config('jit', 'off', true),"
    " pg_catalog.set_config('enable_seqscan', 'off', true)"
)
# user code runs with the connection's own settings
USER_PATH = (
    "SELECT pg_catalog.set_config('search_path', %s, true), pg_catalog.set_config('jit', %s, true),"
    " pg_catalog.set_config('enable_seqscan', %s, true)"
)
# where the worker reads its claim's events: the queue (replay reads the job log too)
JOBS: sql.Composable = sql.SQL("motion.jobs")
_ROW_TYPE = (
    "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::pg_catalog.oid"
)


class Definition:
    """A trigger as a fit runs it: its class instance, params, routes and code digest.

    ``row`` holds the catalog's ``name``, ``revision``, ``class_ref``, ``params`` and ``settings``
    (and ``search_path``, when read); ``deployed`` is the code digest the imported code must have
    (reloaded from disk, else refused).
    """

    def __init__(
        self, db: PgDatabase, row: Mapping[str, Any], routes: list[dict[str, Any]],
        deployed: str | None, schedules: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        self.revision = row["revision"]
        self.deployed = deployed
        self.class_ref: str = row["class_ref"]
        self.search_path: list[str] | None = row.get("search_path")
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

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether this definition is still the one of the catalog row ``row``."""
        return (self.revision, self.deployed, self.search_path) == (
            row["revision"], row["code_digest"], row["search_path"],
        )  # fmt: skip


class Definitions:
    """The definitions a fit process loaded, by trigger, checked against the catalog per call."""

    def __init__(self, conn: psycopg.Connection[Any], db: PgDatabase) -> None:
        self.conn = conn
        self.db = db
        self._loaded: dict[str, Definition] = {}
        self._statements: dict[str, str] = {}
        self.load_seconds = 0.0  # how long the last call of :meth:`of` spent loading

    def cached(self, trigger: str) -> Definition | None:
        """The definition last loaded for ``trigger`` (perhaps outdated: see :meth:`of`)."""
        return self._loaded.get(trigger)

    def statement(self, trigger: str) -> str:
        """``fold_definition`` for ``trigger`` without parameters (to batch with others)."""
        text = self._statements.get(trigger)
        if text is None:
            composed = sql.SQL(query("fold_definition").replace("$1", "{}"))
            text = self._statements[trigger] = composed.format(sql.Literal(trigger)).as_string(
                self.conn
            )
        return text

    def of(self, trigger: str, row: Mapping[str, Any] | None) -> Definition:
        """The definition of the catalog row ``row`` (``fold_definition``'s), loaded again when
        the trigger's revision or deployed code changed; a :class:`FitError` when it is gone."""
        if row is None:
            raise FitError(f'motion trigger "{trigger}" no longer exists')
        self.load_seconds = 0.0
        cached = self._loaded.get(trigger)
        if cached is None or not cached.matches(row):
            started = time.monotonic()
            self._loaded.pop(trigger, None)  # a failed load loads again on the next fit
            routes = self.db.query(query("trigger_routes"), [trigger])
            scheduled = self.db.query(query("trigger_schedules"), [trigger])
            cached = Definition(self.db, row, routes, row["code_digest"], scheduled)
            self._loaded[trigger] = cached
            self.load_seconds = time.monotonic() - started
        return cached

    def forget(self, trigger: str) -> None:
        self._loaded.pop(trigger, None)


def head_of(row: Mapping[str, Any]) -> int | None:
    """The version a fit folds onto: the newest, unless nothing serves yet."""
    return row["head_version"] if row["serving_version"] is not None else None


class UserPaths:
    """The statements that set the search_path (and jit) user code runs with, by the trigger's
    recorded search_path; a trigger without one runs with the connection's own defaults."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        row = conn.execute(
            "SELECT pg_catalog.current_setting('search_path'), pg_catalog.current_setting('jit'),"
            " pg_catalog.current_setting('enable_seqscan')"
        ).fetchone()
        assert row is not None
        self._default_path, self._default_jit = str(row[0]), str(row[1])
        self._default_seqscan = str(row[2])
        self._made: dict[tuple[str, ...] | None, str] = {}

    def user(self, schemas: list[str] | None) -> str:
        """The statement for the recorded search_path ``schemas``."""
        key = tuple(schemas) if schemas is not None else None
        text = self._made.get(key)
        if text is None:
            text = self._made[key] = self._make(schemas)
        return text

    def _make(self, schemas: list[str] | None) -> str:
        if schemas is None:  # not recorded: the connection's own default
            path = self._default_path
        else:
            composed = sql.SQL(", ").join([*map(sql.Identifier, schemas), sql.SQL("pg_temp")])
            path = composed.as_string(self.conn)
        statement = sql.SQL(USER_PATH.replace("%s", "{}"))
        return statement.format(
            sql.Literal(path), sql.Literal(self._default_jit), sql.Literal(self._default_seqscan)
        ).as_string(self.conn)
