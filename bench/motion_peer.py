"""The Motion side of the peer rows (P1-P4), run by the peer's own interpreter (``.venv-motion``,
made by ``scripts/setup-bench-peer.sh``): ``python bench/motion_peer.py WORKLOAD N`` prints one JSON
object. Motion's components here are the bench's, written against Motion's public API
(``Component``, ``init_state``, ``serve``, ``update``, ``run``); Motion keeps its
state in the private Redis named by ``MOTION_REDIS_HOST``/``MOTION_REDIS_PORT``.

Standard library and Motion (with its own dependencies, ``redis`` and ``cloudpickle``) only: this
file must not import motion_pg or the bench package.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import uuid
from typing import Any

import cloudpickle  # type: ignore[import-not-found]
import redis  # type: ignore[import-not-found]
from motion import Component  # type: ignore[import-not-found]

Counter = Component("BenchCounter", cache_ttl=0)  # no serve cache: honest counters


@Counter.init_state
def _counter_setup() -> dict[str, Any]:
    return {"count": 0}


@Counter.serve("add")
def _counter_serve(state: Any, props: Any) -> Any:
    return state["count"] + props["value"]


@Counter.update("add")
def _counter_update(state: Any, props: Any) -> dict[str, Any]:
    return {"count": state["count"] + props["value"]}


ZScore = Component("BenchZScore", cache_ttl=0)


@ZScore.init_state
def _zscore_setup() -> dict[str, Any]:
    return {"n": 0, "mean": 0.0, "m2": 0.0}


@ZScore.serve("value")
def _zscore_serve(state: Any, props: Any) -> float:
    n = state["n"]
    std = math.sqrt(state["m2"] / (n - 1)) if n > 1 else 0.0
    return (props["value"] - state["mean"]) / std if std > 0 else 0.0


@ZScore.update("value")
def _zscore_update(state: Any, props: Any) -> dict[str, Any]:  # Welford's running variance
    n = state["n"] + 1
    delta = props["value"] - state["mean"]
    mean = state["mean"] + delta / n
    return {"n": n, "mean": mean, "m2": state["m2"] + delta * (props["value"] - mean)}


def _instance(component: Any) -> Any:
    return component(instance_id=uuid.uuid4().hex[:12], logging_level="ERROR")


class _Stored:
    """What Redis holds for an instance, read the way ``motion.inspect_state`` reads it, over one
    kept connection (``inspect_state`` opens a connection per call: polled every millisecond, that
    would cost Motion's own process, whose update thread shares its GIL)."""

    def __init__(self, instance: Any) -> None:
        self.key = f"MOTION_STATE:{instance.instance_name}"
        self.conn = redis.Redis(host=os.environ["MOTION_REDIS_HOST"],
                                port=int(os.environ["MOTION_REDIS_PORT"]))  # fmt: skip

    def get(self, key: str) -> Any:
        raw = self.conn.get(self.key)
        return cloudpickle.loads(raw)[key] if raw is not None else None

    def wait(self, key: str, expected: float, timeout: float) -> float:
        """Seconds until the stored state reaches ``expected`` at ``key``, polled every ms.

        The state stored in Redis is what every serve reads (``run`` reloads it when its version
        moved); ``read_state`` can stay stale for good (seen after 100k runs)."""
        start = time.perf_counter()
        while (self.get(key) or 0) < expected:
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"motion did not fold its updates within {timeout:g} s")
            time.sleep(0.001)
        return time.perf_counter() - start


def serve(workload: str, n: int) -> dict[str, Any]:
    """``n`` sequential runs, one client (each serves now, its update queued), then until the stored
    state includes every update: the served results, each call's return time and the fold's end,
    in seconds from the first call."""
    component, flow, key = (
        (Counter, "add", "count") if workload == "counter" else (ZScore, "value", "n")
    )
    values = [float(i % 7 + 1) for i in range(n)]  # counter: > 0, so each event moves the count
    with _instance(component) as c:
        stored = _Stored(c)
        c.run(flow, props={"value": 1.0}, flush_update=True)  # warm: state created and folded
        base = stored.get(key)
        results, returned = [], []
        start = time.perf_counter()
        for v in values:
            results.append(c.run(flow, props={"value": v}))
            returned.append(time.perf_counter() - start)
        expected = base + (sum(values) if workload == "counter" else n)
        stored.wait(key, expected, 1800)
        folded = time.perf_counter() - start
    return {"values": values, "results": results, "returned": returned, "folded": folded,
            "base": base}  # fmt: skip


def freshness(n: int) -> dict[str, Any]:
    """Seconds from a run's return (its update queued) to the stored state that includes it, at
    ~20 runs/s."""
    with _instance(Counter) as c:
        stored = _Stored(c)
        c.run("add", props={"value": 1}, flush_update=True)
        seen = []
        for i in range(n):
            c.run("add", props={"value": 1})
            seen.append(stored.wait("count", i + 2, 60))
            time.sleep(0.05)
    return {"freshness": seen}


def bulk(n: int) -> dict[str, Any]:
    """``n`` events loaded (runs, one client) and folded: load time and total time."""
    with _instance(Counter) as c:
        stored = _Stored(c)
        c.run("add", props={"value": 1}, flush_update=True)
        start = time.perf_counter()
        for _ in range(n):
            c.run("add", props={"value": 1})
        loaded = time.perf_counter() - start
        stored.wait("count", n + 1, 1800)
    return {"load": loaded, "total": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    workload, n = argv[0], int(argv[1])
    if workload in ("counter", "zscore"):
        result = serve(workload, n)
    elif workload == "freshness":
        result = freshness(n)
    else:
        result = bulk(n)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
