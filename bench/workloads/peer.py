"""P1-P4: Motion itself (motion-python with a private Redis on loopback) side by side with
motion_pg on Motion's own workloads, alternated run by run: serve rate of a counter and a ZScore
(P1, P2: durable commits, and ``synchronous_commit = off``, the like-for-like row against a Redis
that persists nothing), state freshness (P3) and a 100k-event bulk load folded (P4).

Motion runs in its own interpreter (``.venv-motion``, made by ``scripts/setup-bench-peer.sh``, a
``make bench`` prerequisite) through ``bench/motion_peer.py``; nothing is installed here. Without
Redis or Motion the rows are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import motion_pg
from bench.harness import ROOT, Bench, Row, median, percentile, wait_until
from bench.workloads.queue import _DRAINED, MOTION_PG, _count, _start_workers, _stop_all

PEER_PYTHON = Path(os.environ.get("MOTION_PEER_PYTHON", ROOT / ".venv-motion" / "bin" / "python"))
PEER_SCRIPT = ROOT / "bench" / "motion_peer.py"
SETUP = "scripts/setup-bench-peer.sh (a `make bench` prerequisite)"
_COUNTER = "INSERT INTO peer_counter (value) VALUES (%s)"
_ZSCORE = "INSERT INTO peer_zscore (value) VALUES (%s)"


def why_skipped() -> str | None:
    """Why the peer cannot run here, or None."""
    if shutil.which("redis-server") is None:
        return f"redis-server is not installed (Debian's redis-server: {SETUP})"
    if not PEER_PYTHON.exists():
        return f"motion-python is not installed ({PEER_PYTHON.parent.parent.name}: {SETUP})"
    found = subprocess.run([str(PEER_PYTHON), "-c", "import motion, requests"],
                           capture_output=True, text=True)  # fmt: skip
    if found.returncode != 0:
        last = (found.stderr.strip().splitlines() or ["?"])[-1]
        return f"motion-python does not import ({last}): rerun {SETUP}"
    return None


@contextmanager
def redis(root: Path) -> Iterator[int]:
    """A private Redis on loopback that persists nothing; yields its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(root), "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"PING\r\n")
                    return c.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_until(up, 30, "redis-server to answer", 0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)


def _motion(bench: Bench, port: int, workload: str, n: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"MOTION_REDIS_HOST": "127.0.0.1", "MOTION_REDIS_PORT": str(port)}
    out = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), workload, str(n)], env=env,
                         cwd=bench.root, capture_output=True, text=True, timeout=3600)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"motion peer {workload} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _durable(bench: Bench, on: bool) -> None:
    """fsync on or off for the whole (throwaway, fsync-off) bench cluster: a reload suffices."""
    with bench.connect() as c:
        for name in ("fsync", "full_page_writes"):
            c.execute(f"ALTER SYSTEM SET {name} = {'on' if on else 'off'}")
        c.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)


def _serve(bench: Bench, statement: str, n: int, durable: bool) -> float:
    if durable:
        _durable(bench, True)
    try:
        with bench.connect() as c:
            c.execute(f"SET synchronous_commit = {'on' if durable else 'off'}")
            c.execute(statement, [1], prepare=True)
            start = time.perf_counter()
            for i in range(n):
                c.execute(statement, [i % 7], prepare=True)
            elapsed = time.perf_counter() - start
            wait_until(lambda: _count(c, _DRAINED) == 0, 600, "the peer fits to drain", 0.01)
    finally:
        if durable:
            _durable(bench, False)
    return n / elapsed


def _freshness(bench: Bench, n: int) -> list[float]:
    """Seconds from an INSERT's commit to a serving version that includes it, at ~20 events/s."""
    version = "SELECT serving_version FROM motion.triggers WHERE name = 'peer_counter'"
    seen = []
    with bench.connect() as c:
        wait_until(lambda: _count(c, _DRAINED) == 0, 600, "the peer fits to drain", 0.01)
        for _ in range(n):
            before = _count(c, version)
            c.execute(_COUNTER, [1])  # autocommit: returns once committed
            start = time.perf_counter()
            while _count(c, version) <= before:
                if time.perf_counter() - start > 60:
                    raise TimeoutError("no new peer_counter version within 60 s")
                time.sleep(0.001)
            seen.append(time.perf_counter() - start)
            time.sleep(0.05)
    return seen


def _bulk(bench: Bench, n: int) -> dict[str, float]:
    with bench.connect() as c:
        start = time.perf_counter()
        c.execute("INSERT INTO peer_counter (value) SELECT 1 FROM generate_series(1, %s)", [n])
        loaded = time.perf_counter() - start
        wait_until(lambda: _count(c, _DRAINED) == 0, 1800, "the bulk load to fold", 0.05)
        return {"load": loaded, "total": time.perf_counter() - start}


def _spread(values: list[float], fmt: str = ",.0f", unit: str = "/s") -> str:
    return f"{median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}}){unit}"


def peer(bench: Bench) -> None:
    """Measure P1-P4 (Motion and motion_pg alternated run by run) and append their rows."""
    why = why_skipped()
    if why is not None:
        bench.rows.append(Row("P1-P4", "Motion (motion-python + Redis) side by side", {},
                              "skipped", "motion_pg leads", None, {}, f"skipped: {why}"))  # fmt: skip
        return
    quick = bench.sizes.quick
    n_serve, n_fresh, n_bulk = (200, 5, 2000) if quick else (5000, 40, 100_000)
    runs, bulk_runs = (1, 1) if quick else (5, 3)
    with bench.connect() as conn:
        motion_pg.execute(conn, """
            CREATE TABLE peer_counter (id bigserial PRIMARY KEY, value int NOT NULL, result int);
            CREATE MOTION TRIGGER peer_counter ON peer_counter USING 'bench.peer_models:Counter';
            CREATE TABLE peer_zscore (id bigserial PRIMARY KEY, value float8 NOT NULL, z float8);
            CREATE MOTION TRIGGER peer_zscore ON peer_zscore USING 'bench.peer_models:ZScore';
        """)  # fmt: skip
    raw: dict[str, list[Any]] = {}

    def add(key: str, value: Any) -> None:
        raw.setdefault(key, []).append(value)

    workers = _start_workers(bench, MOTION_PG, 1)
    try:
        with redis(bench.root) as port:
            for run in range(runs):
                sides = ("pg", "motion") if run % 2 == 0 else ("motion", "pg")  # alternated
                for side in sides:
                    if side == "pg":
                        add("counter on", _serve(bench, _COUNTER, n_serve, durable=True))
                        add("counter off", _serve(bench, _COUNTER, n_serve, durable=False))
                        add("zscore on", _serve(bench, _ZSCORE, n_serve, durable=True))
                        add("zscore off", _serve(bench, _ZSCORE, n_serve, durable=False))
                        raw.setdefault("fresh pg", []).extend(_freshness(bench, n_fresh))
                        if run < bulk_runs:
                            add("bulk pg", _bulk(bench, n_bulk))
                    else:
                        add("counter motion", _motion(bench, port, "counter", n_serve)["rate"])
                        add("zscore motion", _motion(bench, port, "zscore", n_serve)["rate"])
                        fresh = _motion(bench, port, "freshness", n_fresh)["freshness"]
                        raw.setdefault("fresh motion", []).extend(fresh)
                        if run < bulk_runs:
                            add("bulk motion", _motion(bench, port, "bulk", n_bulk))
    finally:
        _stop_all(bench, workers)
    _rows(bench, raw, n_serve, n_bulk)


def _rows(bench: Bench, raw: dict[str, list[Any]], n_serve: int, n_bulk: int) -> None:
    judged = not bench.sizes.quick
    motion = "Motion (Redis, no persistence)"
    for pid, name in (("P1", "counter"), ("P2", "ZScore")):
        key = name.lower()
        m = median(raw[f"{key} motion"])
        for suffix, mode, label in (("", "on", "durable commits (fsync on)"),
                                    ("b", "off", "synchronous_commit = off")):  # fmt: skip
            pg = median(raw[f"{key} {mode}"])
            bench.rows.append(Row(
                pid + suffix, f"{name} serve rate, one client, {n_serve:,} calls: motion_pg "
                f"INSERT with infer, {label} · Motion run()",
                {f"motion_pg {mode}": _spread(raw[f"{key} {mode}"]),
                 motion: _spread(raw[f"{key} motion"])},
                f"motion_pg / Motion {pg / m:.2f}", "≥ 1", None if not judged else pg / m >= 1,
                {"pg": raw[f"{key} {mode}"], "motion": raw[f"{key} motion"]},
                "Motion's Redis persists nothing: the synchronous_commit = off row is like for like"
                if mode == "on" else "",
            ))  # fmt: skip
    fresh_pg, fresh_m = raw["fresh pg"], raw["fresh motion"]
    p50_pg, p50_m = percentile(fresh_pg, 50) * 1000, percentile(fresh_m, 50) * 1000
    bench.rows.append(Row(
        "P3", "state freshness: commit (Motion: run() returned) → a state that includes the event, "
        "~20 events/s",
        {"motion_pg p50/p99": f"{p50_pg:.1f} / {percentile(fresh_pg, 99) * 1000:.1f} ms",
         "Motion p50/p99": f"{p50_m:.1f} / {percentile(fresh_m, 99) * 1000:.1f} ms"},
        f"Motion / motion_pg {p50_m / p50_pg:.2f}", "≥ 1", None if not judged else p50_m >= p50_pg,
        {"pg": fresh_pg, "motion": fresh_m},
    ))  # fmt: skip
    pg_total = [b["total"] for b in raw["bulk pg"]]
    m_total = [b["total"] for b in raw["bulk motion"]]
    ratio = median(m_total) / median(pg_total)
    bench.rows.append(Row(
        "P4", f"bulk: {n_bulk:,} events loaded and folded (motion_pg: one INSERT … SELECT, "
        "1 worker; Motion: run() per event, its update thread)",
        {"motion_pg": _spread(pg_total, ".1f", " s") + " (load "
         f"{median([b['load'] for b in raw['bulk pg']]):.1f} s)",
         "Motion": _spread(m_total, ".1f", " s") + " (load "
         f"{median([b['load'] for b in raw['bulk motion']]):.1f} s)"},
        f"Motion / motion_pg {ratio:.2f}", "≥ 1", None if not judged else ratio >= 1,
        {"pg": raw["bulk pg"], "motion": raw["bulk motion"]},
    ))  # fmt: skip
