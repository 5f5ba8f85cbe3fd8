"""The worker loop: LISTEN for wake-ups, poll as a fallback, claim, fit in the child process,
commit, and survive lost connections, database restarts and signals."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import MotionError
from motion_pg.pg import MOTION_OPTIONS, PgDatabase, connect
from motion_pg.queries import query
from motion_pg.worker import backfill_loop, fit_call
from motion_pg.worker.async_loop import AsyncLoop, drain
from motion_pg.worker.budget import (
    DEFAULT_BYTES,
    DEFAULT_EVENTS,
    DEFAULT_SECONDS,
    Budget,
    Limits,
)
from motion_pg.worker.claiming import Claimer, SettingsReader
from motion_pg.worker.code_gate import CodeGate
from motion_pg.worker.committing import Claim
from motion_pg.worker.drift import DriftWatch
from motion_pg.worker.heartbeat import Heartbeat
from motion_pg.worker.isolation import FitProcess
from motion_pg.worker.paths import prepend_paths, recorded_paths
from motion_pg.worker.schedule import Scheduler

log = logging.getLogger("motion_pg.worker")

CHANNEL = "motion_jobs"
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)
# versions and events pruned per transaction (motion.prune's batch), and transactions per trigger
# and pruning round (once a minute)
PRUNE_BATCH = 1000
PRUNE_ROUNDS = 20


class Worker:
    """A fit worker bound to one database.

    ``poll_interval`` bounds how long a missed notification delays a fit; ``lease_seconds`` is
    how long a fit of a worker that stopped heartbeating stays its own; ``grace_seconds`` is how
    long a running fit may finish after SIGTERM before it is handed back.
    """

    def __init__(
        self,
        dsn: str,
        *,
        poll_interval: float = 1.0,
        lease_seconds: float = 30.0,
        fit_batch: int = DEFAULT_EVENTS,
        fit_batch_bytes: int = DEFAULT_BYTES,
        fit_batch_time: float = DEFAULT_SECONDS,
        fit_timeout: float = 600.0,
        grace_seconds: float = 30.0,
        prune_after: float = 600.0,
        worker_id: str | None = None,
        paths: list[str] | None = None,
        infer_threads: int = 8,
    ) -> None:
        self.dsn = dsn
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.fit_batch = fit_batch
        self.budget = Budget(Limits(fit_batch, fit_batch_bytes, fit_batch_time))
        self.fit_timeout = fit_timeout
        self.grace_seconds = grace_seconds
        self.prune_after = prune_after
        # where this host imports trigger code from; None: the paths `install` recorded
        self.paths = paths
        self.code_gate = CodeGate()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = False
        self.stop_deadline = float("inf")
        self.fitted_events = 0
        self.reconnects = 0
        self._conn: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self.fit_process: FitProcess | None = None
        self._housekept = 0.0
        self._was_connected = False
        self._pruned = 0.0
        self.scheduler = Scheduler(poll_interval)
        self.infer_threads = infer_threads  # async infer (infer_mode = 'async'); 0: none here
        self.drift = DriftWatch(max(2.0, 10 * poll_interval))
        self.settings = SettingsReader()
        # the policy gate, the backlog trim and the claims, in one round trip per claim
        self.claimer = Claimer(self.worker_id, lease_seconds, fit_batch, self.budget,
                               self.code_gate, self.drift)  # fmt: skip

    # -- lifecycle --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; a running fit may finish within ``grace_seconds``."""
        if not self.stopping:
            self.stopping = True
            self.stop_deadline = time.monotonic() + self.grace_seconds

    def kill_fit(self) -> None:
        """Kill a running fit at once (a second signal); its jobs wait for lease expiry."""
        if self.fit_process is not None:
            self.fit_process.kill()

    def run(self, *, once: bool = False) -> int:
        """Work until stopped (or, with ``once``, until nothing is ready); returns fit runs done."""
        heartbeat = Heartbeat(self.dsn, self.worker_id, self.lease_seconds)
        heartbeat.start()
        inferring = self._start_async(once)
        runs = 0
        delay = 0.1
        woken = False
        try:
            while not self.stopping:
                try:
                    conn = self._connected()
                    stepped = not woken  # woken by a notification: claim first, steps after
                    if stepped:
                        self._time_gated(conn)
                    woken = False
                    claim = self.claim(conn)
                    delay = 0.1
                    if claim is None:
                        if once:
                            break
                        if not stepped:
                            self._time_gated(conn)
                        woken = self._wait()
                        continue
                    runs += self._isolated(conn, claim)
                    if not once and not self.stopping:
                        self._time_gated(conn)  # after the fit: off a notification's path
                        self.settings.refresh(conn, claim.trigger)
                        if self._settled(conn, claim):
                            woken = self._wait()
                except MotionError as e:
                    # a connection that cannot be made: fatal at start (a wrong dsn says so at
                    # once), retried once this worker has been connected (the database restarts)
                    if not self._was_connected or not isinstance(e.__cause__, _LOST):
                        raise
                    log.warning("cannot reconnect (%s); retrying in %.1f s",
                                e.message.splitlines()[0], delay)  # fmt: skip
                    self._disconnect()
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 5.0)
                except _LOST as e:
                    log.warning("database connection lost (%s); reconnecting in %.1f s",
                                str(e).strip().splitlines()[0] if str(e).strip() else e, delay)  # fmt: skip
                    self._disconnect()
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 5.0)
                except psycopg.Error as e:
                    # a statement of the loop itself failed (a claim cancelled by a
                    # statement_timeout, ...): a run's failures never get here (_isolated)
                    if once:
                        raise
                    log.error("worker step failed (%s: %s); retrying in %.1f s",
                              type(e).__name__, str(e).strip(), delay)  # fmt: skip
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 5.0)
            if once and self.infer_threads:
                self._drain_async()
        finally:
            if inferring is not None:
                inferring.stop()
            self._shutdown()
            heartbeat.stop()
        return runs

    def _start_async(self, once: bool) -> AsyncLoop | None:
        if not self.infer_threads:
            return None
        if once:
            self._drain_async()
            return None
        loop = AsyncLoop(self.dsn, poll_interval=self.poll_interval, threads=self.infer_threads,
                         excluded=lambda: self.code_gate.excluded, paths=self.paths)  # fmt: skip
        loop.start()
        return loop

    def _drain_async(self) -> None:
        drain(self.dsn, threads=self.infer_threads, excluded=lambda: self.code_gate.excluded,
              paths=self.paths)  # fmt: skip

    def _connected(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        # the claim's cost estimate grows with the queue and would cross the JIT threshold,
        # compiling for ~0.7 s what runs in milliseconds
        conn = connect(self.dsn, autocommit=True, application_name="motion-pg worker",
                       options=f"-c jit=off {MOTION_OPTIONS}")  # fmt: skip
        listener = connect(self.dsn, autocommit=True, application_name="motion-pg listener",
                           options=MOTION_OPTIONS)  # fmt: skip
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        if self.fit_process is None:
            paths = self.paths if self.paths is not None else recorded_paths(conn)
            prepend_paths(paths)
            self.fit_process = FitProcess(self.dsn, paths)
        else:
            self.reconnects += 1
            # whatever this worker had running died with its old connection's transaction
            PgDatabase(conn).query(
                query("release_runs"), [self.worker_id, False, "connection lost"]
            )
        self._conn, self._listener = conn, listener
        self._was_connected = True
        return conn

    def _disconnect(self) -> None:
        for c in (self._conn, self._listener):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()
        self._conn = self._listener = None

    def _shutdown(self) -> None:
        if self.fit_process is not None:
            self.fit_process.close()
        try:
            with connect(self.dsn, autocommit=True, options=MOTION_OPTIONS) as conn:
                db = PgDatabase(conn)
                db.query(query("release_runs"), [self.worker_id, True, "worker shut down"])
                db.query(query("unregister_worker"), [self.worker_id])
        except Exception as e:  # the database is gone: lease expiry hands the fits back
            log.warning("could not hand back running fits on shutdown: %s", e)
        self._disconnect()

    # -- the loop's steps -------------------------------------------------------------------------

    def _wait(self) -> bool:
        """Wait for a notification (True) or until it is time to poll (False)."""
        # a notification is only a hint: wake early on one, else poll after poll_interval
        assert self._listener is not None
        timeout = self.scheduler.wait_bound()  # wake for the next scheduled firing
        return any(True for _ in self._listener.notifies(timeout=timeout, stop_after=1))

    def _time_gated(self, conn: psycopg.Connection[Any]) -> None:
        """The steps that run when their time has come (each checks its own clock): leases and
        pruning, schedules, drift checks, backfill chunks. Never between a notification and its
        claim: before a claim only when the worker was not woken, else after the fit or before
        the next wait."""
        self._housekeeping(conn)
        self.scheduler.step(conn)
        self.drift.step(conn)
        backfill_loop.step(conn, self.worker_id)

    def _settled(self, conn: psycopg.Connection[Any], claim: Claim) -> bool:
        """After a fit call: True when no event is ready, so that the worker waits for a
        notification rather than send a claim step that finds nothing (at a trickle it sent two
        per event: one found the event, the next found nothing). A claim the budget cut (the
        trigger's cap or ``fit_batch``) leaves more pending: claim again at once, unasked."""
        if len(claim.events) >= min(self.fit_batch, self.budget.cap(claim.trigger)):
            return False
        rows = PgDatabase(conn).query(query("trickle_ready"), [self.code_gate.excluded])
        return not rows[0]["ready"]

    def _housekeeping(self, conn: psycopg.Connection[Any]) -> None:
        self.code_gate.recheck(conn)
        now = time.monotonic()
        if now - self._housekept < min(self.lease_seconds / 2, 5.0):
            return
        self._housekept = now
        db = PgDatabase(conn)
        for row in db.query(query("reclaim_expired"), [self.lease_seconds]):
            log.warning("reclaimed job %s of a lost worker -> %s", row["id"], row["state"])
        db.query(query("forget_dead_workers"), [self.lease_seconds * 4])
        if now - self._pruned > 60.0:
            self._pruned = now
            db.query(query("prune_jobs"), [self.prune_after])
            self._retain(db)

    def _retain(self, db: PgDatabase) -> None:
        """Prune each trigger's versions and events outside its retention policy (keep_versions,
        keep_events) in batches of ``PRUNE_BATCH``, each batch its own transaction so that no
        catalog row lock is held long; at most ``PRUNE_ROUNDS`` per trigger and call."""
        for row in db.query(query("trigger_names")):
            for _ in range(PRUNE_ROUNDS):
                try:
                    pruned = db.query(query("prune"), [row["name"], False, PRUNE_BATCH])
                except _LOST:
                    raise
                except psycopg.Error as e:  # e.g. dropped meanwhile: one trigger never stops others
                    log.warning("could not prune %s: %s", row["name"], str(e).strip())
                    break
                for p in pruned:
                    if p["count"]:
                        log.info("pruned %d %s of %s (%d bytes)", p["count"], p["kind"],
                                 p["trigger_name"], p["bytes"])  # fmt: skip
                if all(p["count"] < PRUNE_BATCH for p in pruned if p["kind"] != "blobs"):
                    break

    def claim(self, conn: psycopg.Connection[Any]) -> Claim | None:
        """Claim ready events in one round trip (:mod:`.claiming`); None if none are ready."""
        return self.claimer.claim(conn)

    def _isolated(self, conn: psycopg.Connection[Any], claim: Claim) -> int:
        """Process ``claim`` in the fit process (:mod:`.fit_call`); the runs it made."""
        return fit_call.isolated(self, conn, claim)
