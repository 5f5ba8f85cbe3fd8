"""Test helpers on a database with motion: run pending fits now, and assertions on versions."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from motion_pg.errors import UnknownTrigger


class FitFailed(AssertionError):
    """A fit that :func:`fit_pending` ran failed; the message carries the worker's error."""


def _dsn(conn: psycopg.Connection[Any]) -> str:
    # conn.info.dsn leaves the password out
    password = conn.info.password
    return make_conninfo(conn.info.dsn, **({"password": password} if password else {}))


def _check_trigger(conn: psycopg.Connection[Any], trigger: str) -> None:
    row = conn.execute("SELECT 1 FROM motion.triggers WHERE name = %s", [trigger]).fetchone()
    if row is None:
        raise UnknownTrigger(
            f"motion trigger {trigger!r} does not exist",
            hint="create it first (CREATE MOTION TRIGGER …); SHOW MOTION TRIGGERS lists them",
        )


def fit_pending(conn: psycopg.Connection[Any], trigger: str | None = None) -> int:
    """Fit every committed event now, as ``motion-pg worker --once`` does; returns the fit runs.

    The fits run in the worker's child process, against ``conn``'s database, so they see only what
    is committed: ``conn`` must not be inside an open transaction. With ``trigger``, the trigger
    must exist. A fit that failed (its jobs back in the queue for a retry, or dead) raises
    :class:`FitFailed` with the error the worker recorded.
    """
    from motion_pg.worker.runner import Worker

    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError(
            "fit_pending: the connection is inside a transaction; commit first "
            "(the worker fits committed events only)"
        )
    if trigger is not None:
        _check_trigger(conn, trigger)
    before = _last_run(conn)
    runs = Worker(_dsn(conn), poll_interval=0.05).run(once=True)
    failed = conn.execute(
        "SELECT trigger_name, error FROM motion.runs WHERE id > %s AND state = 'failed'"
        " AND (%s::text IS NULL OR trigger_name = %s) ORDER BY id",
        [before, trigger, trigger],
    ).fetchall()
    if failed:
        lines = "\n".join(f"{name}: {error}" for name, error in failed)
        raise FitFailed(f"{len(failed)} fit run(s) failed:\n{lines}")
    return runs


def _last_run(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM motion.runs").fetchone()
    return int(row[0]) if row else 0


def serving_version(conn: psycopg.Connection[Any], trigger: str) -> int | None:
    """The version infer of ``trigger`` serves (``None`` before setup made one)."""
    _check_trigger(conn, trigger)
    row = conn.execute(
        "SELECT serving_version FROM motion.triggers WHERE name = %s",
        [trigger],
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def versions(conn: psycopg.Connection[Any], trigger: str) -> list[int]:
    """Every stored version of ``trigger``, oldest first."""
    _check_trigger(conn, trigger)
    rows = conn.execute(
        "SELECT version FROM motion.versions WHERE trigger_name = %s ORDER BY version", [trigger]
    ).fetchall()
    return [int(r[0]) for r in rows]


def assert_version(conn: psycopg.Connection[Any], trigger: str, expected: int) -> None:
    """Assert that ``trigger`` serves version ``expected``; the message lists the versions and
    the queue, which tell whether a fit is missing or failed."""
    serving = serving_version(conn, trigger)
    if serving == expected:
        return
    queue = dict(
        conn.execute(
            "SELECT state, count(*) FROM motion.jobs WHERE trigger_name = %s GROUP BY state",
            [trigger],
        ).fetchall()
    )
    hint = " (pending events: call fit_pending(conn) first)" if queue.get("pending") else ""
    raise AssertionError(
        f"motion trigger {trigger!r} serves version {serving}, expected {expected}; "
        f"versions {versions(conn, trigger)}, jobs {queue or 'none'}{hint}"
    )
