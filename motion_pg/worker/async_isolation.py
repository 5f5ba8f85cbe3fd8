"""Async infer in a child process, like fit (:mod:`motion_pg.worker.isolation`): user infer code
that hangs, crashes or exits costs the rows it was inferring, never the worker, nor other triggers.

The child keeps an :class:`~motion_pg.worker.async_infer.AsyncInferer` (classes and serving state
stay loaded between batches) on its own connection; each step is one transaction there, so a
killed child's claim and writes die with its connection. It tells the parent what it claimed and,
once the trigger is loaded, that trigger's ``infer_timeout``; the parent kills it when the step
outlives that. The rows of a batch that timed out or crashed are then inferred one by one (the
others' outputs are not lost to one bad row); a row that times out or crashes alone is recorded in
``motion.infer_errors`` and dropped, like a row whose infer raises.
"""

from __future__ import annotations

import logging
import signal
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.settings import Settings
from motion_pg.worker.child import ChildProcess, die_with_parent

log = logging.getLogger("motion_pg.worker")

# seconds a step may take before its trigger is loaded and its own infer_timeout known
LOAD_TIMEOUT = Settings().infer_timeout


def _child_main(dsn: str, paths: list[str] | None, batch: int, threads: int,
                pipe: Connection) -> None:  # fmt: skip
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when infer stops
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    from motion_pg.worker.async_infer import open_inferer

    inferer: Any = None
    while True:
        try:
            request = pipe.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        excluded, only, size = request
        try:
            if inferer is None or inferer.conn.closed or inferer.conn.broken:
                inferer = open_inferer(dsn, batch=batch, threads=threads, excluded=list,
                                       paths=paths, listen=False)  # fmt: skip
                inferer.watch = lambda t, ids, timeout: pipe.send(("claimed", t, ids, timeout))
            inferer.excluded = lambda names=list(excluded): names
            pipe.send(("done", inferer.step(only, size)))
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            pipe.send(("lost", str(e).strip() or type(e).__name__))
            inferer = None
        except Exception as e:
            pipe.send(("error", "".join(traceback.format_exception(e))))


class InferProcess(ChildProcess):
    """The worker's handle on its async infer child; ``conn`` (the parent's own autocommit
    connection) records the rows a killed or crashed step leaves behind."""

    what = "infer"
    during = "infer"

    def __init__(self, conn: psycopg.Connection[Any], dsn: str, paths: list[str] | None, *,
                 batch: int = 100, threads: int = 8) -> None:  # fmt: skip
        self.conn = conn
        self.dsn = dsn
        self.paths = paths
        self.batch = batch
        self.threads = threads
        super().__init__()
        self.suspects: dict[str, set[int]] = {}  # trigger -> entries to infer one by one

    def _start(self) -> None:
        self._spawn(_child_main, (self.dsn, self.paths, self.batch, self.threads), "motion-infer")

    def step(self, excluded: list[str]) -> int:
        """One batch of one trigger in the child; returns recorded rows handled (0: none ready)."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._pipe is not None
        only = next(iter(self.suspects), None)
        self._pipe.send((excluded, only, 1 if only is not None else None))
        claim: tuple[str, list[int]] | None = None
        timeout = LOAD_TIMEOUT
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._pipe.recv() if self._pipe.poll(0.05) else None
            except (EOFError, OSError):  # the child is gone
                return self._failed(claim, self._death())
            if message is not None:
                kind = message[0]
                if kind == "claimed":
                    claim = (message[1], list(message[2]))
                    if message[3] is not None:
                        timeout = float(message[3])
                        deadline = time.monotonic() + timeout
                    continue
                if kind == "done":
                    if claim is not None:
                        self._settled(*claim)
                    elif only is not None:  # none of its rows is left
                        self.suspects.pop(only, None)
                    return int(message[1])
                if kind == "lost":
                    raise psycopg.OperationalError(message[1])
                log.error("async infer step failed: %s", message[1])
                return 0
            if not self._proc.is_alive() and not self._pipe.poll(0):
                return self._failed(claim, self._death())
            if time.monotonic() > deadline:
                self.kill()
                return self._failed(claim, f"infer timed out after {timeout:g} s (infer_timeout)")

    def _settled(self, trigger: str, ids: list[int]) -> None:
        left = self.suspects.get(trigger)
        if left is not None:
            left.difference_update(ids)
            if not left:
                del self.suspects[trigger]

    def _failed(self, claim: tuple[str, list[int]] | None, why: str) -> int:
        if claim is None:
            log.error("async infer process failed before claiming: %s", why)
            return 0
        trigger, ids = claim
        if len(ids) > 1:  # which row? infer them one by one
            log.warning("async infer of %s: a batch of %d rows failed (%s); inferring them one "
                        "by one", trigger, len(ids), why)  # fmt: skip
            self.suspects.setdefault(trigger, set()).update(ids)
            return len(ids)
        log.warning("async infer of %s: row entry %s failed: %s", trigger, ids, why)
        PgDatabase(self.conn).query(query("async_abandon"), [ids, trigger, why])
        self._settled(trigger, ids)
        return len(ids)
