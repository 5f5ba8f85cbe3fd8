"""Motion statements compiled by the client, for managed mode (no PL/Python on the server).

The compiler (:mod:`motion_pg.compiler`) normally runs inside the server behind ``motion.exec``,
talking to the database through ``plpy``. Here the same compiler runs in the client's process,
through :class:`ClientPlpy`, a ``plpy`` over the caller's psycopg connection: the statements it
generates (catalog rows, Postgres triggers, the first state version) run in the caller's
transaction, with the same checks, so CREATE/ALTER/DROP behave as through ``motion.exec``. The
class's code is imported (and its digest recorded) on the client, like the worker imports it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import postgres
from psycopg.pq import Format
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg.types.string import TextLoader

from motion_pg.errors import MotionError, from_sqlstate
from motion_pg.worker.paths import prepend_paths, recorded_paths
from motion_pg.worker.pgtypes import _NATIVE, Float4Loader

log = logging.getLogger("motion_pg")


class _Plan:
    def __init__(self, plpy: ClientPlpy, sql: str, types: Sequence[str]) -> None:
        self.plpy = plpy
        self.sql = sql
        self.types = list(types)

    def execute(self, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        return self.plpy.execute(self, args)


class ClientPlpy:
    """The part of ``plpy`` the compiler uses, over a psycopg connection (values as PL/Python
    gives them)."""

    SPIError = psycopg.Error
    Error = MotionError

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.notices: list[str] = []

    def prepare(self, sql: str, types: Sequence[str] | None = None) -> _Plan:
        """A plan: ``sql`` with ``$n`` parameters of ``types``."""
        return _Plan(self, sql, types or [])

    def execute(self, plan: _Plan | str, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run a plan (or a statement) and return its rows as dicts."""
        if isinstance(plan, str):
            plan = _Plan(self, plan, [])
        params = [_param(v, t) for v, t in zip(args or [], plan.types, strict=False)]
        with psycopg.RawCursor(self.conn, row_factory=dict_row) as cur:
            _plpython_loaders(cur)
            cur.execute(plan.sql, params)
            return list(cur.fetchall()) if cur.description is not None else []

    def notice(self, message: str) -> None:
        """A NOTICE of the compiler: kept for the caller, and logged."""
        self.notices.append(message)
        log.info("%s", message)

    def error(self, message: str, **kwargs: Any) -> None:
        """Raise ``message`` as a :class:`MotionError` (of the class of ``sqlstate``)."""
        cls = from_sqlstate(str(kwargs.get("sqlstate") or MotionError.sqlstate)) or MotionError
        raise cls(message, hint=kwargs.get("hint"))


def _param(value: Any, type_name: str) -> Any:
    if type_name == "jsonb" and isinstance(value, str):
        return Jsonb(json.loads(value))
    return value


def _plpython_loaders(cur: psycopg.RawCursor[Any]) -> None:
    """Load values on ``cur`` as PL/Python converts them (see :mod:`motion_pg.worker.pgtypes`)."""
    adapters = cur.adapters
    for info in postgres.types:
        if info.name not in _NATIVE and adapters.get_loader(info.oid, Format.TEXT) is not None:
            adapters.register_loader(info.oid, TextLoader)
    adapters.register_loader("float4", Float4Loader)
    adapters.register_loader("record", TextLoader)


def run(
    conn: psycopg.Connection[Any], text: str, plpy: ClientPlpy | None = None
) -> tuple[str, list[str]]:
    """Compile and run the motion statements (and plain SQL) of ``text`` in ``conn``'s current
    transaction, as ``motion.exec`` would; returns (status lines, notices). Raises the
    :class:`MotionError` (or ``psycopg.Error``) of a failing statement. ``plpy``: the
    :class:`ClientPlpy` (over ``conn``) to run it through, e.g. one that counts rows read."""
    from motion_pg.compiler import run_text
    from motion_pg.runtime.plpy_db import PlpyDatabase

    # the class is imported here: from the paths `install` recorded, as the worker does
    prepend_paths(recorded_paths(conn))
    row = conn.execute("SELECT pg_catalog.current_schemas(false)::text[]").fetchone()
    caller_path = list(row[0]) if row else []
    plpy = plpy or ClientPlpy(conn)
    conn.execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)")
    try:
        out = run_text(plpy, PlpyDatabase(plpy), text, caller_path)
    finally:
        if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            path = ", ".join('"' + s.replace('"', '""') + '"' for s in caller_path) or "''"
            conn.execute("SELECT pg_catalog.set_config('search_path', %s, true)", [path])
    if out["sqlstate"] is not None:
        cls = from_sqlstate(out["sqlstate"]) or MotionError
        hint = "\n".join(filter(None, [out["hint"], out["detail"]])) or None
        error = cls(out["message"], hint=hint)
        if cls is MotionError:
            error.sqlstate = out["sqlstate"]  # type: ignore[misc]
        raise error
    return out["result"], plpy.notices


def run_managed(conn: psycopg.Connection[Any], text: str, line: int) -> str:
    """:func:`run` for one motion statement of a text (at ``line``), its failures named like
    ``motion.exec``'s (``(statement at line n)``); its notices are logged."""
    try:
        result, _ = run(conn, text)
    except MotionError as e:
        e.message = f"{e.message} (statement at line {line})"
        e.args = (e.message,)
        raise
    return result
