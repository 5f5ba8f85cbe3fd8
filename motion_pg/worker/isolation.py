"""User fit code runs in a child process: a fit that hangs, crashes or exits costs one attempt,
never the worker. The child is long-lived and keeps classes and unpickled state between fits; it
runs each fit as one transaction on its own connection, so a killed child's writes die with it."""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from motion_pg.worker.child import ChildProcess, die_with_parent
from motion_pg.worker.committing import Claim


@dataclass
class FitResult:
    """``status`` is ok (committed: ``version`` is the one written, if any), lost (the run was
    reclaimed: nothing committed), error, timeout or aborted (nothing committed)."""

    status: str
    version: int | None = None
    error: str = ""
    seconds: float = 0.0  # ok: how long the fit call took in the fit process
    events: int | None = None  # ok, or error of a group: the events committed
    # error of a group (motion_pg.worker.grouping): the run holding the failed slice's events
    failed_run: int | None = None
    failed: list[int] | None = None


def _child_main(dsn: str, paths: list[str], pipe: Connection) -> None:
    # the worker decides when fits stop: a SIGTERM sent to the whole process group (a service
    # manager's stop) must not kill a fit the grace period lets finish
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    import psycopg

    from motion_pg.pg import connect
    from motion_pg.worker.fitting import FitComputer, LostRun
    from motion_pg.worker.grouping import SliceFailed, is_group
    from motion_pg.worker.paths import prepend_paths

    prepend_paths(paths)
    conn = None
    computer = None
    try:  # ready before the first claim: its fit does not pay the connection and the warm-up
        conn = connect(dsn, autocommit=True, application_name="motion-pg fit")
        computer = FitComputer(conn)
        if computer.blobs.shared is not None:  # the backend's PL/Python, the state cache
            computer.blobs.shared.get(computer.db)
    except Exception:  # connected again for the first claim, which then reports what fails
        if conn is not None:
            conn.close()
        conn = computer = None
    while True:
        try:
            claim = pipe.recv()
        except (EOFError, OSError):
            return
        if claim is None:
            return
        try:
            for retry in (True, False):
                if conn is None or conn.closed or conn.broken:
                    conn = connect(dsn, autocommit=True, application_name="motion-pg fit")
                    computer = FitComputer(conn)
                assert computer is not None
                try:
                    version = computer.fit(claim)
                    break
                except psycopg.OperationalError:
                    # a connection the database dropped (a restart): its transaction died with
                    # it, so the fit runs again on a new one rather than cost an attempt (a
                    # commit that did land is refused by the run fence: LostRun)
                    if not retry or not conn.broken:
                        raise
            seconds = computer.last_seconds if computer is not None else 0.0
            events = computer.last_events if computer is not None else None
            pipe.send(FitResult("ok", version=version, seconds=seconds, events=events))
        except LostRun:
            pipe.send(FitResult("lost"))
        except SliceFailed as e:
            pipe.send(FitResult("error", error=e.error, events=e.fitted, failed_run=e.run_id,
                                failed=e.events))  # fmt: skip
        except Exception as e:
            error = "".join(traceback.format_exception(e))
            size = (computer.call_size if computer is not None else 0) or claim.slice_events
            if is_group(claim, size):  # before any slice committed: the first slice fails
                first = [ev.id for ev in claim.events[:size]]
                pipe.send(FitResult("error", error=error, events=0, failed_run=claim.run_id,
                                    failed=first))  # fmt: skip
            else:
                pipe.send(FitResult("error", error=error))
        if conn is not None and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.close()  # user code left it in a state no next fit should inherit


class FitProcess(ChildProcess):
    """The worker's handle on its fit child process; restarts it after a crash or a timeout."""

    what = "fit"
    during = "the fit"

    def __init__(self, dsn: str, paths: list[str]) -> None:
        super().__init__()
        self.dsn = dsn
        self.paths = paths
        # started now, not at the first claim: a bulk load's first fit would wait for the
        # interpreter, the imports and the connection (~0.5 s)
        self._start()

    def _start(self) -> None:
        self._spawn(_child_main, (self.dsn, self.paths), "motion-fit")

    def run(self, claim: Claim, timeout: float, abort: Callable[[], bool]) -> FitResult:
        """Fit ``claim`` in the child; gives up after ``timeout`` s or when ``abort()`` says so."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._pipe is not None
        self._pipe.send(claim)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._pipe.poll(0.05):
                    result: FitResult = self._pipe.recv()
                    return result
            except (EOFError, OSError):
                return FitResult("error", error=self._death())
            if not self._proc.is_alive() and not self._pipe.poll(0):
                return FitResult("error", error=self._death())
            if time.monotonic() > deadline:
                self.kill()
                return FitResult(
                    "timeout", error=f"fit timed out after {timeout:g} s (fit_timeout)"
                )
            if abort():
                self.kill()
                return FitResult("aborted")
