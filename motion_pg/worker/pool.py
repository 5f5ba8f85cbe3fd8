"""Running one or several worker processes, and stopping them on signals."""

from __future__ import annotations

import multiprocessing
import signal
from types import FrameType

from motion_pg.worker.runner import Worker


def _serve(dsn: str, once: bool, poll_interval: float, fit_batch: int) -> int:
    worker = Worker(dsn, poll_interval=poll_interval, fit_batch=fit_batch)

    def stop(signum: int, frame: FrameType | None) -> None:
        if worker.stopping:  # a second signal: leave at once
            raise SystemExit(128 + signum)
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return worker.run(once=once)


def run_pool(
    dsn: str, *, concurrency: int = 1, once: bool = False, poll_interval: float = 1.0,
    fit_batch: int = 100,
) -> int:  # fmt: skip
    """Run ``concurrency`` workers until signalled (or drained, with ``once``); returns fit runs
    done (only counted for a single process)."""
    if concurrency <= 1:
        return _serve(dsn, once, poll_interval, fit_batch)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_serve, args=(dsn, once, poll_interval, fit_batch),
                    name=f"worker-{i}")
        for i in range(concurrency)
    ]  # fmt: skip
    for p in procs:
        p.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                import os

                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return 0
