"""The worker's async infer thread: LISTEN ``motion_async`` for recorded rows, poll as a fallback,
and infer them (:class:`motion_pg.worker.async_infer.AsyncInferer`) beside the fit loop, so a long
fit never delays async outputs."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import MotionError
from motion_pg.pg import MOTION_OPTIONS, connect
from motion_pg.worker.async_infer import CHANNEL
from motion_pg.worker.async_isolation import InferProcess

log = logging.getLogger("motion_pg.worker")


def open_isolated(dsn: str, *, batch: int, threads: int,
                  paths: list[str] | None = None) -> InferProcess:  # fmt: skip
    """An :class:`InferProcess` (async infer in a child process) whose own connection listens on
    ``motion_async``."""
    conn = connect(dsn, autocommit=True, application_name="motion-pg async infer watch",
                   options=MOTION_OPTIONS)  # fmt: skip
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
    return InferProcess(conn, dsn, paths, batch=batch, threads=threads)


class AsyncLoop(threading.Thread):
    """Infers recorded rows until :meth:`stop`; reconnects when the database goes away."""

    def __init__(
        self, dsn: str, *, poll_interval: float = 1.0, batch: int = 100, threads: int = 8,
        excluded: Callable[[], list[str]] = list, paths: list[str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name="motion-async-infer", daemon=True)
        self.paths = paths
        self.dsn = dsn
        self.poll_interval = poll_interval
        self.batch = batch
        self.threads = threads
        self.excluded = excluded
        self._stopping = threading.Event()
        self._inferer: InferProcess | None = None

    def stop(self) -> None:
        """Stop after the batch in hand (its transaction commits or rolls back whole)."""
        self._stopping.set()

    def run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                inferer = self._connected()
                handled = inferer.step(self.excluded())
                delay = 0.1
                if handled == 0:
                    for _ in inferer.conn.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
            except (MotionError, psycopg.OperationalError, psycopg.InterfaceError) as e:
                log.warning("async infer: database connection lost (%s); reconnecting in %.1f s",
                            str(e).strip().splitlines()[0] if str(e).strip() else e, delay)  # fmt: skip
                self._close()
                self._stopping.wait(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)
            except Exception as e:  # one bad batch never stops the thread
                log.error("async infer step failed (%s: %s); retrying in %.1f s",
                          type(e).__name__, str(e).strip(), delay)  # fmt: skip
                self._stopping.wait(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)
        self._close()

    def _connected(self) -> InferProcess:
        inferer = self._inferer
        if inferer is not None and not inferer.conn.closed and not inferer.conn.broken:
            return inferer
        self._close()
        self._inferer = open_isolated(self.dsn, batch=self.batch, threads=self.threads,
                                      paths=self.paths)  # fmt: skip
        return self._inferer

    def _close(self) -> None:
        if self._inferer is not None:
            self._inferer.close()
            with contextlib.suppress(Exception):
                self._inferer.conn.close()
            self._inferer = None


def drain(
    dsn: str, *, batch: int = 100, threads: int = 8, excluded: Any = list,
    paths: list[str] | None = None,
) -> int:  # fmt: skip
    """Infer every recorded row once, in an infer process (``motion-pg worker --once``);
    returns rows handled."""
    inferer = open_isolated(dsn, batch=batch, threads=threads, paths=paths)
    started = time.monotonic()
    handled = 0
    try:
        while (n := inferer.step(excluded())) > 0:
            handled += n
    finally:
        inferer.close()
        inferer.conn.close()
    if handled:
        log.info("async infer: %d recorded row(s) in %.0f ms", handled,
                 (time.monotonic() - started) * 1000)  # fmt: skip
    return handled
