"""The entry point of a Ray task, shipped to the Ray worker by value (so motion_pg need not be
importable there until the task has put the motion worker's paths on ``sys.path``).

Standard library only, and everything imported inside the function: it is pickled with its code.
"""

from __future__ import annotations

from typing import Any


def fit_task(paths: list[str], fallback: str, request: bytes) -> tuple[str, Any]:
    """Import motion_pg and the trigger's code from ``paths`` (the motion worker's import paths;
    ``fallback`` is where the worker's own motion_pg lives, used only when ``paths`` lack one),
    then compute the pickled fit ``request`` (see :func:`motion_pg.worker.ray_task.run`)."""
    import importlib
    import importlib.util
    import site
    import sys

    before = list(sys.path)
    for p in paths:
        if p not in before:
            site.addsitedir(p)
    sys.path[:] = [p for p in sys.path if p not in before] + before
    if importlib.util.find_spec("motion_pg") is None and fallback not in sys.path:
        sys.path.append(fallback)
    task = importlib.import_module("motion_pg.worker.ray_task")
    result: tuple[str, Any] = task.run(request)
    return result
