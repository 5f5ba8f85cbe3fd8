"""A long-lived child process the worker talks to over a pipe: the fit process
(:mod:`.isolation`) and the async infer process (:mod:`.async_isolation`). This is their common
lifecycle: spawn, tell how it died, kill, close."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the worker dies (a lost worker's fit must not run
    on, orphaned, while another worker re-runs its jobs)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: a lost worker's child ends when it next talks to the worker


class ChildProcess:
    """The worker's handle on one child; ``what`` and ``during`` name it in messages (``'fit'``,
    ``'the fit'``)."""

    what = "child"
    during = "its work"

    def __init__(self) -> None:
        self._proc: Any = None
        self._pipe: Connection | None = None

    def _spawn(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        """Start ``target(*args, pipe)`` in a fresh (spawned) interpreter."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(*args, child), name=name, daemon=True)
        self._proc.start()
        child.close()
        self._pipe = parent

    def _death(self) -> str:
        """Why the child is gone (it died while working); forgets it."""
        self._proc.join(5)
        code = self._proc.exitcode
        self._reset()
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return f"the {self.what} process was killed by {name} during {self.during}"
        return (
            f"the {self.what} process exited with code {code} during {self.during} "
            "(sys.exit in user code?)"
        )

    def kill(self) -> None:
        """Stop the child at once (a new one starts when it is next needed)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._reset()

    def _reset(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        self._proc = None
        self._pipe = None

    def close(self) -> None:
        """Ask the child to leave, then make sure it has."""
        if self._pipe is not None and self._proc is not None and self._proc.is_alive():
            try:
                self._pipe.send(None)
                self._proc.join(5)
            except OSError:
                pass
        self.kill()
