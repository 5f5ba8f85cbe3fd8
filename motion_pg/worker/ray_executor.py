"""Fits computed as Ray tasks (``WITH (executor = 'ray', ray_address = '…')``).

The worker's fit process stays in charge: it claims, reads the state and the typed events, and
after the task commits the version and completes the jobs in one fenced transaction, exactly as
for a local fit. Only the computation moves: the fit process is a Ray driver that submits one task
per fit and waits for it. The rules stay motion's:

- timeout and abort: the worker kills the fit process at ``fit_timeout`` (or when the worker
  stops); Ray then ends the tasks that process owned, so a timed-out fit does not run on;
- retries: Ray never retries by itself (``max_retries = 0``): a task whose Ray worker died, or
  whose fit raised, fails this attempt and motion's ``max_attempts`` and backoff apply;
- code: the task imports the trigger's module from the worker's import paths and refuses to run
  code whose digest is not the deployed one (:mod:`.ray_task`).
"""

from __future__ import annotations

import logging
import pickle
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import motion_pg
from motion_pg.errors import FitError
from motion_pg.trigger import Event, RouteInfo
from motion_pg.worker import ray_bootstrap
from motion_pg.worker.paths import PREPENDED
from motion_pg.worker.ray_task import FitRequest

_RETRY_HINT = "the fit is retried by the trigger's max_attempts and retry_delay"
_connected: str | None = None  # the address this process is a Ray driver of
_remote: Any = None  # the remote function of ray_bootstrap.fit_task


def _ray(trigger: str) -> ModuleType:
    try:
        import ray
    except ImportError:
        raise FitError(
            f"motion trigger \"{trigger}\" has executor = 'ray' but Ray is not installed where "
            "this worker runs",
            hint="pip install 'motion_pg[ray]' in the worker's environment, or ALTER MOTION "
            f"TRIGGER {trigger} SET (executor = 'local')",
        ) from None
    return ray


def connect(trigger: str, address: str | None) -> ModuleType:
    """``ray``, with this process a driver of the cluster at ``address`` (None: ``'auto'``)."""
    global _connected, _remote
    ray = _ray(trigger)
    wanted = address or "auto"
    if ray.is_initialized() and _connected == wanted:
        return ray
    if ray.is_initialized():
        ray.shutdown()  # one cluster per process: another trigger names another one
    _connected = _remote = None
    _reachable(trigger, wanted)
    # the fit process ignores SIGINT/SIGTERM (the worker decides when fits stop): keep it so
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(address=wanted, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as e:
        raise FitError(
            f'motion trigger "{trigger}": cannot reach the Ray cluster at {wanted!r} '
            f"(ray_address): {type(e).__name__}: {e}",
            hint="start the cluster (ray start --head) or set ray_address = 'host:port' to its "
            f"head; {_RETRY_HINT}",
        ) from None
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    ray.cloudpickle.register_pickle_by_value(ray_bootstrap)
    _remote = ray.remote(max_retries=0, retry_exceptions=False)(ray_bootstrap.fit_task)
    _connected = wanted
    return ray


def _reachable(trigger: str, address: str) -> None:
    """Refuse a ``host:port`` nothing listens on at once: ``ray.init`` would wait for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # 'auto' or a ray:// client address: ray.init resolves and reports it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise FitError(
            f'motion trigger "{trigger}": cannot reach the Ray cluster at {address!r} '
            f"(ray_address): {e}",
            hint=f"start the cluster (ray start --head) or point ray_address at its head; {_RETRY_HINT}",
        ) from None


def compute(
    trigger: str, class_ref: str, deployed: str | None, version: int,
    state: Mapping[str, Any], params: Mapping[str, Any],
    groups: list[tuple[RouteInfo, list[Event]]], address: str | None,
) -> dict[str, bytes]:  # fmt: skip
    """The pickled state updates the trigger's fit methods return for ``groups`` folded onto
    ``state`` (``version``), computed by one task on the Ray cluster at ``address``."""
    ray = connect(trigger, address)
    request = FitRequest(
        trigger=trigger, class_ref=class_ref, deployed=deployed, version=version,
        state=dict(state), params=dict(params), groups=groups,
    )  # fmt: skip
    try:
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise FitError(
            f'motion trigger "{trigger}": the fit cannot be sent to Ray: its state or events do '
            f"not pickle: {type(e).__name__}: {e}"
        ) from e
    fallback = str(Path(motion_pg.__file__).resolve().parents[1])
    try:
        status, value = ray.get(_remote.remote(list(PREPENDED), fallback, data))
    except ray.exceptions.RayError as e:  # the task's Ray worker or node died, or Ray failed it
        raise FitError(
            f'motion trigger "{trigger}": the Ray task computing the fit failed '
            f"({_connected}): {type(e).__name__}: {e}",
            hint=_RETRY_HINT,
        ) from None
    if status != "ok":
        raise FitError(
            f'motion trigger "{trigger}": the fit failed on Ray ({_connected}):\n{value}'
        )
    updates: dict[str, bytes] = value
    return updates
