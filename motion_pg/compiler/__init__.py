"""Motion statements → catalog rows, state versions and Postgres triggers, in the caller's
transaction (so a failure leaves nothing behind).

Runs inside the database server, behind ``motion.exec``: pinned to ``search_path = pg_catalog,
pg_temp`` (see :mod:`motion_pg.compiler.session`); every identifier in generated DDL is quoted by
``psycopg.sql``; catalog SQL is named queries in ``sql/queries.sql``.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

from motion_pg.compiler.alter import alter, drop, show
from motion_pg.compiler.catalog import Catalog
from motion_pg.compiler.create import create
from motion_pg.compiler.session import Session
from motion_pg.dsl import parse, split_statements
from motion_pg.dsl.spec import (
    AlterMotionTrigger,
    CreateMotionTrigger,
    DropMotionTrigger,
    ShowMotionTriggers,
    Statement,
)
from motion_pg.errors import DefinitionError, MotionError, MotionSyntaxError
from motion_pg.runtime import backend
from motion_pg.runtime.plpy_db import PlpyDatabase


class Compiler:
    """Runs parsed motion statements in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.catalog = Catalog(session.db)

    def run(self, statement: Statement) -> str:
        """Run one statement; returns the status line ``motion.exec`` reports."""
        if isinstance(statement, CreateMotionTrigger):
            return create(self.session, self.catalog, statement)
        if isinstance(statement, DropMotionTrigger):
            return drop(self.session, self.catalog, statement)
        if isinstance(statement, AlterMotionTrigger):
            return alter(self.session, self.catalog, statement)
        if isinstance(statement, ShowMotionTriggers):
            return show(self.catalog)
        raise DefinitionError(f"unsupported statement {type(statement).__name__}")


def exec_statements(plpy: Any, text: str, caller_path: Sequence[str] | None) -> dict[str, Any]:
    """``motion._exec``: :func:`run_text` on this backend's database; the backend then forgets
    what it loaded, since definitions may have changed in this transaction."""
    try:
        return run_text(plpy, backend.database(plpy), text, caller_path or [])
    finally:
        backend.forget_loaded()


def run_text(plpy: Any, db: PlpyDatabase, text: str, caller_path: Sequence[str]) -> dict[str, Any]:
    """Run the motion statements and plain SQL of ``text``: the body of ``motion._exec``.

    Returns its OUT row: ``result`` (status lines) or, on failure, ``sqlstate``, ``message``,
    ``detail`` and ``hint`` for ``motion.exec`` to raise (a failure is returned, not raised, so
    the client sees no PL/Python internals; the raise rolls back everything done here).
    """
    session = Session(plpy, db, caller_path)
    compiler = Compiler(session)
    results: list[str] = []
    try:
        for chunk in split_statements(text):
            if not chunk.is_motion:
                session.run_user_sql(chunk.text)
                continue
            try:
                statements = parse(chunk.text)
            except MotionSyntaxError as e:
                raise e.shifted(chunk.line - 1, chunk.col - 1) from None
            for statement in statements:
                results.append(compiler.run(statement))
    except MotionError as e:
        return _failure(e.sqlstate, e.message, None, e.hint)
    except plpy.SPIError as e:  # the caller's SQL, or DDL motion generated, failed
        return _failure(
            getattr(e, "sqlstate", None) or "XX000",
            str(getattr(e, "message", None) or e).strip(),
            getattr(e, "detail", None),
            getattr(e, "hint", None),
        )
    except Exception as e:
        return _failure(
            MotionError.sqlstate, f"motion failed: {type(e).__name__}: {e}",
            "".join(traceback.format_exception(e)).rstrip(), None,
        )  # fmt: skip
    return {"result": "\n".join(results), "sqlstate": None, "message": None, "detail": None,
            "hint": None}  # fmt: skip


def _failure(sqlstate: str, message: str, detail: str | None, hint: str | None) -> dict[str, Any]:
    return {"result": None, "sqlstate": sqlstate, "message": message,
            "detail": detail or None, "hint": hint or None}  # fmt: skip
