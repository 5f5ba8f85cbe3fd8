"""``motion_pg.execute``: run SQL text that mixes ordinary statements and motion statements.

Motion statements are parsed here first, so a syntax error points at its line and column in the
whole text, then sent to ``motion.exec`` so that every door runs the same server-side code.
"""

from __future__ import annotations

from typing import Any

import psycopg

from motion_pg.dsl import parse, split_statements
from motion_pg.errors import MotionError, MotionSyntaxError, from_sqlstate
from motion_pg.managed_exec import run_managed
from motion_pg.managed_inspect import is_managed


def execute(conn: psycopg.Connection[Any], text: str) -> list[str]:
    """Run ``text`` on ``conn`` in one transaction (a savepoint inside an open transaction).

    Returns one status line per statement. A failure rolls back the whole text and raises
    :class:`MotionError` (or :class:`MotionSyntaxError` with the position in ``text``).
    """
    chunks = split_statements(text)
    for chunk in chunks:  # check every motion statement before running anything
        if chunk.is_motion:
            try:
                parse(chunk.text)
            except MotionSyntaxError as e:
                raise e.shifted(chunk.line - 1, chunk.col - 1) from None
    results: list[str] = []
    with conn.transaction():
        managed = any(c.is_motion for c in chunks) and is_managed(conn)
        for chunk in chunks:
            if chunk.is_motion and managed:  # no PL/Python on the server: the client compiles
                results.append(run_managed(conn, chunk.text, chunk.line))
            elif chunk.is_motion:
                try:
                    row = conn.execute("SELECT motion.exec(%s)", [chunk.text]).fetchone()
                except psycopg.errors.UndefinedFunction as e:
                    raise MotionError(
                        "motion_pg is not installed in this database",
                        hint="run `motion-pg install` (as an administrator) first",
                    ) from e
                except psycopg.errors.InsufficientPrivilege as e:
                    raise MotionError(
                        "only administrators may run motion statements: "
                        + (e.diag.message_primary or str(e)),
                        hint="motion triggers create untrusted-language functions; "
                        "connect as a superuser",
                    ) from e
                except psycopg.Error as e:
                    raise server_error(e, chunk.line) from e
                results.append(row[0] if row else "")
            else:
                try:
                    cur = conn.execute(chunk.text)
                except psycopg.Error as e:
                    raise server_error(e, chunk.line) from e
                results.append(cur.statusmessage or "")
    return results


def server_error(e: psycopg.Error, line: int) -> MotionError:
    """The motion_pg error a server error stands for, with the statement's line in the text.

    Motion's own failures arrive with their SQLSTATE (class MP), so the client raises the same class
    the server did (``UnknownTrigger``, ``InvalidSetting``, …); any other server error becomes a
    :class:`MotionError` carrying its SQLSTATE as ``sqlstate``.
    """
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    hint = diag.message_hint
    if diag.message_detail:
        hint = (hint + "\n" if hint else "") + diag.message_detail
    cls = from_sqlstate(diag.sqlstate) or MotionError
    if cls is MotionSyntaxError:  # its position is already in the message
        syntax = MotionSyntaxError.__new__(MotionSyntaxError)
        MotionError.__init__(syntax, f"{message} (statement at line {line})", hint=hint)
        syntax.line, syntax.col, syntax.token = line, 1, None
        return syntax
    error = cls(f"{message} (statement at line {line})", hint=hint)
    if cls is MotionError and diag.sqlstate:
        error.sqlstate = diag.sqlstate  # type: ignore[misc]
    return error
