"""The worker's heartbeat: a thread with its own connection that registers the worker and extends
the leases of its running fits, so only the fits of workers that are really gone get reclaimed."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import psycopg

from motion_pg.pg import MOTION_OPTIONS, PgDatabase, connect
from motion_pg.queries import query

log = logging.getLogger("motion_pg.worker")


class Heartbeat(threading.Thread):
    """Beats every ``lease_seconds / 3`` until :meth:`stop`; reconnects when the database drops."""

    def __init__(self, dsn: str, worker_id: str, lease_seconds: float) -> None:
        super().__init__(name="motion-heartbeat", daemon=True)
        self.dsn = dsn
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._stopped = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stopped.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = connect(
                        self.dsn,
                        autocommit=True,
                        application_name="motion-pg heartbeat",
                        options=MOTION_OPTIONS,
                    )
                db = PgDatabase(conn)
                db.query(
                    query("register_worker"), [self.worker_id, socket.gethostname(), os.getpid()]
                )
                db.query(query("heartbeat"), [self.worker_id, self.lease_seconds])
            except Exception as e:  # keep beating once the database is back
                log.debug("heartbeat failed: %s", e)
                if conn is not None:
                    conn.close()
                conn = None
            self._stopped.wait(self.lease_seconds / 3)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Stop beating (the worker unregisters itself)."""
        self._stopped.set()
        self.join(5)
