"""Running one or several worker processes, and stopping them on signals.

The first SIGTERM/SIGINT stops claiming and lets a running fit finish within the grace period,
then hands unfinished fits back without spending an attempt; a second one exits at once and leaves
the rest to lease expiry.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from types import FrameType
from typing import Any

from motion_pg.worker import logs
from motion_pg.worker.runner import Worker


def serve(dsn: str, once: bool, options: dict[str, Any]) -> int:
    """Run one worker in this process with signal handling; returns fit runs done."""
    logs.setup_from_environment()  # a spawned process starts with logging unconfigured
    worker = Worker(dsn, **options)

    def stop(signum: int, frame: FrameType | None) -> None:
        if worker.stopping:
            worker.kill_fit()
            os._exit(128 + signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return worker.run(once=once)


def run_pool(dsn: str, *, concurrency: int = 1, once: bool = False, **options: Any) -> int:
    """Run ``concurrency`` workers until signalled (or drained, with ``once``).

    Returns the fit runs done (for one process; several processes report 0).
    """
    if concurrency <= 1:
        return serve(dsn, once, options)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=serve, args=(dsn, once, options), name=f"worker-{i}")
        for i in range(concurrency)
    ]
    for p in procs:
        p.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return 0
