"""The worker loop: LISTEN for wake-ups, poll as a fallback, claim, fit, complete, repeat."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.pg import PgDatabase, connect
from motion_pg.queries import query
from motion_pg.trigger import Event
from motion_pg.worker.fitting import Claim, FitOutcome, Fitter, LostRun

log = logging.getLogger("motion_pg.worker")

CHANNEL = "motion_jobs"


class Worker:
    """A fit worker bound to one database.

    ``poll_interval`` bounds how long a missed notification can delay a fit; ``fit_batch`` caps
    the events one fit call receives unless the trigger's ``fit_batch`` param says otherwise.
    """

    def __init__(
        self,
        dsn: str,
        *,
        poll_interval: float = 1.0,
        lease_seconds: float = 300.0,
        fit_batch: int = 100,
        worker_id: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.fit_batch = fit_batch
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = False
        self.fitted = 0

    def _connect(self) -> psycopg.Connection[Any]:
        conn = connect(self.dsn, autocommit=True)
        _add_import_paths(PgDatabase(conn))
        return conn

    def run(self, *, once: bool = False) -> int:
        """Work until stopped (or, with ``once``, until nothing is ready); returns runs done."""
        conn = self._connect()
        listener = self._connect()
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        fitter = Fitter(conn, self.worker_id)
        runs = 0
        try:
            while not self.stopping:
                claim = self.claim(conn)
                if claim is None:
                    if once:
                        break
                    self._wait(listener)
                    continue
                self._fit(conn, fitter, claim)
                runs += 1
        finally:
            conn.close()
            listener.close()
        return runs

    def _wait(self, listener: psycopg.Connection[Any]) -> None:
        # a notification is a hint: wake early on one, otherwise poll after poll_interval
        for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
            pass

    def claim(self, conn: psycopg.Connection[Any]) -> Claim | None:
        """Claim the oldest ready events of one trigger with no running fit, or None."""
        try:
            rows = PgDatabase(conn).query(
                query("claim_jobs"), [self.worker_id, self.lease_seconds, self.fit_batch]
            )
        except psycopg.errors.UniqueViolation:
            return None  # another worker opened a run for that trigger first
        if not rows:
            return None
        events = [
            Event(id=r["id"], op=r["op"], relation=r["relation"], route=r["route"],
                  row=r["row_data"])
            for r in rows
        ]  # fmt: skip
        events.sort(key=lambda e: e.id)
        return Claim(run_id=rows[0]["run_id"], trigger=rows[0]["trigger_name"], events=events)

    def _fit(self, conn: psycopg.Connection[Any], fitter: Fitter, claim: Claim) -> None:
        db = PgDatabase(conn)
        started = time.monotonic()
        try:
            version = fitter.run(claim)
        except FitOutcome as failure:
            error = str(failure)
            log.warning("fit of %s failed (run %s): %s", claim.trigger, claim.run_id,
                        error.strip().splitlines()[-1] if error.strip() else "")  # fmt: skip
            with conn.transaction():
                if db.query(query("finish_run"),
                            [claim.run_id, self.worker_id, "failed", len(claim.events), None,
                             None, error]):  # fmt: skip
                    params = fitter.params(claim.trigger)
                    db.query(
                        query("fail_jobs"),
                        [claim.run_id, error, int(params.get("max_attempts", 5)),
                         float(params.get("retry_delay", 1.0)),
                         float(params.get("retry_delay_max", 60.0))],
                    )  # fmt: skip
            return
        except LostRun:
            log.warning("run %s of %s was taken over; its result was discarded",
                        claim.run_id, claim.trigger)  # fmt: skip
            return
        self.fitted += len(claim.events)
        log.info("fitted %d event(s) of %s in %.0f ms%s", len(claim.events), claim.trigger,
                 (time.monotonic() - started) * 1000,
                 f" -> version {version}" if version is not None else "")  # fmt: skip


def _add_import_paths(db: PgDatabase) -> None:
    """Import user modules from the paths ``install`` recorded, like the database server does."""
    try:
        rows = db.query("SELECT path FROM motion.import_paths ORDER BY position")
    except psycopg.errors.UndefinedTable:
        from motion_pg.errors import InstallError

        raise InstallError(
            "motion_pg is not installed in this database", hint="run `motion-pg install` first"
        ) from None
    _prepend(r["path"] for r in rows)


def _prepend(paths: Sequence[str] | Any) -> None:
    import site

    before = list(sys.path)
    for p in paths:
        site.addsitedir(p)
    sys.path[:] = [p for p in sys.path if p not in before] + before
