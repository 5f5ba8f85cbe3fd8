"""Progress bars. ``motion-pg worker --once`` draining a deep queue: events fitted of those ready
at the start, with rate and ETA. Counted from the database, so it holds for any ``--concurrency``;
shown only on a terminal (never in pipes, nor with ``--log-format json``). :class:`TimedBar`: one
call that cannot report progress (``motion-pg replay``'s fit), against the time it took before."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from motion_pg.pg import MOTION_OPTIONS, connect

POLL = 0.5  # seconds between two counts of the remaining events

_READY = (
    "SELECT count(*), max(id), now() FROM motion.jobs"
    " WHERE state IN ('pending', 'running') AND run_at <= now()"
)
_LEFT = (
    "SELECT count(*) FROM motion.jobs WHERE id <= %s AND run_at <= %s"
    " AND state IN ('pending', 'running')"
)


class RateColumn(ProgressColumn):
    """Events (or ``unit``) per second (rich's estimate over the last seconds)."""

    def __init__(self, unit: str = "events") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(
            f"{speed:,.0f} {self.unit}/s" if speed else f"… {self.unit}/s",
            style="progress.data.speed",
        )


@contextlib.contextmanager
def drain_progress(dsn: str, console: Console) -> Iterator[None]:
    """Show the drain's progress while the block runs, when ``console`` is a terminal and events
    are ready; otherwise do nothing."""
    if not console.is_terminal:
        yield
        return
    with connect(dsn, autocommit=True, options=MOTION_OPTIONS) as conn:
        row = conn.execute(_READY).fetchone()
        assert row is not None
        total, horizon, at = row
        if not total:
            yield
            return
        progress = Progress(
            TextColumn("fitting"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
            RateColumn(), TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )  # fmt: skip
        task = progress.add_task("fitting", total=total)
        done = threading.Event()

        def poll() -> None:
            while not done.wait(POLL):
                _update(conn, progress, task, total, horizon, at)

        watcher = threading.Thread(target=poll, name="motion-pg progress", daemon=True)
        with progress:
            watcher.start()
            try:
                yield
            finally:
                done.set()
                watcher.join()
                _update(conn, progress, task, total, horizon, at)


def _update(conn: Any, progress: Progress, task: Any, total: int, horizon: int, at: Any) -> None:
    with contextlib.suppress(Exception):  # a lost connection only freezes the bar
        row = conn.execute(_LEFT, [horizon, at]).fetchone()
        if row is not None:
            progress.update(task, completed=total - row[0])


class TimedBar:
    """A bar for one call that cannot report progress (a replayed fit): it fills with the time
    spent against the time the same work took before (``expected`` seconds), so its ETA is
    "as long as last time"; it says so, and finishes when the work does."""

    def __init__(self, console: Console, label: str, expected: float) -> None:
        self.expected = max(expected, 0.001)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TimeElapsedColumn(),
            TextColumn(f"(the original took {expected:.1f} s)"), console=console,
            transient=False,
        )  # fmt: skip
        self.task = self.progress.add_task(label, total=self.expected)
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="motion-pg timed bar", daemon=True)

    def _tick(self) -> None:
        start = time.monotonic()
        while not self._done.wait(0.2):  # never full before the work is done
            spent = min(time.monotonic() - start, self.expected * 0.99)
            self.progress.update(self.task, completed=spent)

    def say(self, line: str) -> None:
        """Show ``line`` as the bar's description."""
        self.progress.update(self.task, description=line)

    def __enter__(self) -> TimedBar:
        self.progress.start()
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._ticker.join()
        if exc[0] is None:
            self.progress.update(self.task, completed=self.expected)
        self.progress.stop()
