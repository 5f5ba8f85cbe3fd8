"""P1-P4: Motion itself (motion-python with a private Redis on loopback) side by side with
motion_pg on Motion's own workloads, alternated run by run: a counter's and a ZScore's serve rate
(P1, P2), state freshness (P3) and a 100k-event bulk load folded (P4).

Each row times the same work on both sides (see README "Against Motion"): a serve row runs n calls
that each hand the client a served output (Motion: ``run()``; motion_pg: ``INSERT … RETURNING``)
and stops the clock when the state includes all n events, since both fold while serving (Motion's
update thread, motion_pg's worker) and a serve that outruns its fold only defers the work. Durable
rows compare a commit that survives a crash with a Redis that fsyncs every write; the
``synchronous_commit = off`` rows compare with a Redis that persists nothing.

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

import psycopg

import motion_pg
from bench.harness import ROOT, Bench, Row, wait_until
from bench.workloads import peer_rows
from bench.workloads.peer_rows import Sizes, summarize
from bench.workloads.queue import _DRAINED, MOTION_PG, _count, _start_workers, _stop_all

PEER_PYTHON = Path(os.environ.get("MOTION_PEER_PYTHON", ROOT / ".venv-motion" / "bin" / "python"))
PEER_SCRIPT = ROOT / "bench" / "motion_peer.py"
SETUP = "scripts/setup-bench-peer.sh (a `make bench` prerequisite)"
_COUNTER = "INSERT INTO peer_counter (value) VALUES (%s) RETURNING result"
_ZSCORE = "INSERT INTO peer_zscore (value) VALUES (%s) RETURNING z"


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
def redis(root: Path, durable: bool = False) -> Iterator[int]:
    """A private Redis on loopback; yields its port. It persists nothing, or with ``durable``
    every write is in its append-only file, fsynced, before Redis answers (``appendfsync always``:
    Redis's mode in which an acknowledged write survives a crash, as a committed row does)."""
    persist = (["--appendonly", "yes", "--appendfsync", "always"] if durable
               else ["--appendonly", "no"])  # fmt: skip
    home = root / ("redis-durable" if durable else "redis")
    home.mkdir(exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persist,
         "--dir", str(home), "--daemonize", "no"],
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


def _drained(c: psycopg.Connection[Any], timeout: float, what: str) -> None:
    wait_until(lambda: _count(c, _DRAINED) == 0, timeout, what, 0.001)


def _serve(bench: Bench, statement: str, n: int, durable: bool) -> dict[str, Any]:
    """``n`` INSERTs, one client, each returning the served output (``RETURNING``), then until
    every event is in the serving state: what :func:`bench.motion_peer.serve` returns for Motion."""
    values = [i % 7 + 1 for i in range(n)]  # counter: > 0, so each event moves the count
    if durable:
        _durable(bench, True)
    try:
        with bench.connect() as c:
            c.execute(f"SET synchronous_commit = {'on' if durable else 'off'}")
            c.execute(statement, [1], prepare=True)  # warm: this backend loads the trigger
            _drained(c, 600, "the peer fits to drain")
            base = _count(c, "SELECT coalesce(sum(value), 0) FROM peer_counter")  # its count
            results, returned = [], []
            start = time.perf_counter()
            for v in values:
                row = c.execute(statement, [v], prepare=True).fetchone()
                results.append(row[0] if row else None)
                returned.append(time.perf_counter() - start)
            _drained(c, 1800, "the peer fits to drain")
            folded = time.perf_counter() - start
    finally:
        if durable:
            _durable(bench, False)
    return {"values": values, "results": results, "returned": returned, "folded": folded,
            "base": base}  # fmt: skip


def _freshness(bench: Bench, n: int) -> list[float]:
    """Seconds from an INSERT's commit to a serving version that includes it, at ~20 events/s."""
    version = "SELECT serving_version FROM motion.triggers WHERE name = 'peer_counter'"
    seen = []
    with bench.connect() as c:
        _drained(c, 600, "the peer fits to drain")
        for _ in range(n):
            before = _count(c, version)
            c.execute("INSERT INTO peer_counter (value) VALUES (1)")  # autocommit: committed
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
        _drained(c, 600, "the peer fits to drain")
        start = time.perf_counter()
        c.execute("INSERT INTO peer_counter (value) SELECT 1 FROM generate_series(1, %s)", [n])
        loaded = time.perf_counter() - start
        _drained(c, 1800, "the bulk load to fold")
        return {"load": loaded, "total": time.perf_counter() - start}


def peer(bench: Bench) -> None:
    """Measure P1-P4 (Motion and motion_pg alternated run by run) and append their rows."""
    why = why_skipped()
    if why is not None:
        bench.rows.append(Row("P1-P4", "Motion (motion-python + Redis) side by side", {},
                              "skipped", "motion_pg leads", None, {}, f"skipped: {why}"))  # fmt: skip
        return
    quick = bench.sizes.quick
    sizes = Sizes(*((200, 100, 5, 2000) if quick else (5000, 1000, 40, 100_000)))
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
        with redis(bench.root) as port, redis(bench.root, durable=True) as durable_port:
            for run in range(runs):
                sides = ("pg", "motion") if run % 2 == 0 else ("motion", "pg")  # alternated
                for side in sides:
                    if side == "pg":
                        for name, sql in (("counter", _COUNTER), ("zscore", _ZSCORE)):
                            for mode, n in (("on", sizes.durable), ("off", sizes.serve)):
                                run_ = _serve(bench, sql, n, durable=mode == "on")
                                add(f"{name} pg {mode}", summarize(run_, name == "counter"))
                        raw.setdefault("fresh pg", []).extend(_freshness(bench, sizes.fresh))
                        if run < bulk_runs:
                            add("bulk pg", _bulk(bench, sizes.bulk))
                    else:
                        for name in ("counter", "zscore"):
                            for mode, at, n in (("on", durable_port, sizes.durable),
                                                ("off", port, sizes.serve)):  # fmt: skip
                                run_ = _motion(bench, at, name, n)
                                add(f"{name} motion {mode}", summarize(run_, name == "counter"))
                        fresh = _motion(bench, port, "freshness", sizes.fresh)["freshness"]
                        raw.setdefault("fresh motion", []).extend(fresh)
                        if run < bulk_runs:
                            add("bulk motion", _motion(bench, port, "bulk", sizes.bulk))
    finally:
        _stop_all(bench, workers)
    peer_rows.rows(bench, raw, sizes)


def p3(bench: Bench) -> None:
    """P3 alone (``--only P3``): freshness at a trickle, Motion and motion_pg alternated run by
    run, without the serve and bulk rows (a minute instead of ten)."""
    why = why_skipped()
    if why is not None:
        bench.rows.append(Row("P3", "state freshness at a trickle", {}, "skipped",
                              "motion_pg leads", None, {}, f"skipped: {why}"))  # fmt: skip
        return
    runs, n = (1, 5) if bench.sizes.quick else (5, 100)
    with bench.connect() as conn:
        motion_pg.execute(conn, """
            CREATE TABLE peer_counter (id bigserial PRIMARY KEY, value int NOT NULL, result int);
            CREATE MOTION TRIGGER peer_counter ON peer_counter USING 'bench.peer_models:Counter';
        """)  # fmt: skip
    raw: dict[str, list[Any]] = {"fresh pg": [], "fresh motion": []}
    workers = _start_workers(bench, MOTION_PG, 1)
    try:
        _freshness(bench, 5)  # the first fits load the class and the state: not measured
        with redis(bench.root) as port:
            for run in range(runs):
                for side in ("pg", "motion") if run % 2 == 0 else ("motion", "pg"):
                    if side == "pg":
                        raw["fresh pg"].extend(_freshness(bench, n))
                    else:
                        raw["fresh motion"].extend(
                            _motion(bench, port, "freshness", n)["freshness"]
                        )
    finally:
        _stop_all(bench, workers)
    peer_rows.p3_row(bench, raw)
