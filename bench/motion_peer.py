"""The Motion side of the peer rows (P1-P4), run by the peer's own interpreter (``.venv-motion``,
made by ``scripts/setup-bench-peer.sh``): ``python bench/motion_peer.py WORKLOAD N`` prints one JSON
object. Motion's components here are the bench's, written against Motion's public API
(``Component``, ``init_state``, ``serve``, ``update``, ``run``, ``inspect_state``); Motion keeps its
state in the private Redis named by ``MOTION_REDIS_HOST``/``MOTION_REDIS_PORT``.

Standard library and Motion only: this file must not import motion_pg or the bench package.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from typing import Any

from motion import Component, inspect_state  # type: ignore[import-not-found]

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


def _wait(instance: Any, key: str, expected: float, timeout: float) -> float:
    """Seconds until the state stored in Redis reaches ``expected`` at ``key``.

    ``inspect_state`` reads what Redis holds; ``read_state`` can stay stale for good (seen after
    100k runs: its cached version was current while its cached state was not)."""
    start = time.perf_counter()
    while inspect_state(instance.instance_name)[key] < expected:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"motion did not fold its updates within {timeout:g} s")
        time.sleep(0.001)
    return time.perf_counter() - start


def serve(workload: str, n: int) -> dict[str, Any]:
    """Serve rate: ``n`` sequential runs (serve now, update queued), one client."""
    component, flow = (Counter, "add") if workload == "counter" else (ZScore, "value")
    with _instance(component) as c:
        c.run(flow, props={"value": 1.0}, flush_update=True)  # warm: state created
        start = time.perf_counter()
        for i in range(n):
            c.run(flow, props={"value": float(i % 7)})
        elapsed = time.perf_counter() - start
        key = "count" if workload == "counter" else "n"
        _wait(c, key, n + 1 if workload == "zscore" else 1 + sum(i % 7 for i in range(n)), 600)
    return {"rate": n / elapsed}


def freshness(n: int) -> dict[str, Any]:
    """Seconds from a run's return (its update queued) to the state that includes it, at 20/s."""
    with _instance(Counter) as c:
        c.run("add", props={"value": 1}, flush_update=True)
        seen = []
        for i in range(n):
            c.run("add", props={"value": 1})
            seen.append(_wait(c, "count", i + 2, 60))
            time.sleep(0.05)
    return {"freshness": seen}


def bulk(n: int) -> dict[str, Any]:
    """``n`` events loaded (runs, one client) and folded: load time and total time."""
    with _instance(Counter) as c:
        c.run("add", props={"value": 1}, flush_update=True)
        start = time.perf_counter()
        for _ in range(n):
            c.run("add", props={"value": 1})
        loaded = time.perf_counter() - start
        _wait(c, "count", n + 1, 1800)
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
