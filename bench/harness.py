"""The bench's plumbing: a throwaway cluster with motion installed, timing, and the report.

Every figure is a ratio of variants measured side by side in one run, on one machine; absolute
times are printed for context only.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from motion_pg.embedded import Cluster, bin_path
from motion_pg.install import install

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results"


@dataclass
class Sizes:
    """Workload sizes: the full run, or tiny ones for the CI smoke (``--quick``)."""

    quick: bool
    runs: int
    rows: int  # B1, B2, B4
    growth: tuple[int, ...]  # B8
    pgbench_seconds: int
    latency_events: int
    drain_small: int  # B6 fit_batch=1 and procrastinate
    drain_large: int  # B6 fit_batch=100
    state_mb: int
    queue_deep: int

    @classmethod
    def make(cls, quick: bool) -> Sizes:
        if quick:
            return cls(True, 1, 1000, (500, 1000, 2000), 2, 5, 200, 1000, 2, 5000)
        return cls(False, 5, 100_000, (10_000, 100_000, 1_000_000), 20, 200, 1000, 20_000, 50,
                   1_000_000)  # fmt: skip

    def runs_for(self, seconds_per_run: float) -> int:
        """Fewer runs (at least 3) for the long workloads: the whole bench must stay near 10 min."""
        if self.quick:
            return 1
        return self.runs if seconds_per_run < 10 else 3


@dataclass
class Row:
    """One line of the report."""

    id: str
    workload: str
    figures: dict[str, str]  # variant -> median, formatted
    ratio: str
    goal: str
    met: bool | None  # None: no goal, or not judged (--quick)
    raw: dict[str, Any] = field(default_factory=dict)
    note: str = ""


class Bench:
    """A private cluster (fsync off: a throwaway one) with motion installed in database ``bench``."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.root = Path(tempfile.mkdtemp(prefix="motion-pg-bench-"))
        self.root.chmod(0o755)
        self.cluster = Cluster(self.root / "cluster", port=0, fast=True)
        self.rows: list[Row] = []
        self._children: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.cluster.start()
        with psycopg.connect(self.cluster.dsn("postgres"), autocommit=True) as c:
            c.execute("CREATE DATABASE bench")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            # this checkout first, and its own SQL: the server's extension files may be another
            # checkout's (git worktrees share one server)
            install(conn, [str(ROOT), sysconfig.get_paths()["purelib"]], extension=False)

    @property
    def dsn(self) -> str:
        return self.cluster.dsn("bench")

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True)

    def spawn(
        self, argv: list[str], env: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        """Start a child process (a worker) that :meth:`close` stops if it is still running."""
        env = {**os.environ, **(env or {}), "MOTION_DSN": self.dsn, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, **kwargs)
        self._children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        for proc in self._children:
            self.stop(proc)
        self.cluster.destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def pgbench(self, script: Path, clients: int, seconds: int) -> float:
        """TPS (without initial connection time) of ``script`` run by pgbench."""
        env = {**os.environ, "PGPASSWORD": self.cluster.password}
        out = subprocess.run(
            [bin_path("pgbench"), "-n", "-f", str(script), "-c", str(clients), "-j", "2",
             "-T", str(seconds), "-h", self.cluster.host, "-p", str(self.cluster.port),
             "-U", self.cluster.user, "bench"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        for line in out.stdout.splitlines():
            if line.startswith("tps =") and "without initial connection" in line:
                return float(line.split()[2])
        raise RuntimeError(f"no tps in pgbench output:\n{out.stdout}\n{out.stderr}")


def explain_ms(conn: psycopg.Connection[Any], statement: str) -> float:
    """Execution time (triggers included) from ``EXPLAIN (ANALYZE, TIMING OFF)``, in ms."""
    row = conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {statement}").fetchone()
    assert row is not None
    plan = row[0][0]
    return float(plan["Execution Time"])  # BEFORE and AFTER triggers included


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: …``; ``elapsed()`` is seconds since entering."""
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.01
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def machine(bench: Bench) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem_kb = int(f.readline().split()[1])
    with bench.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgres": row[0] if row else "?",
        "cluster": "embedded, fsync=off, synchronous_commit=off",
    }


def report(bench: Bench, info: dict[str, Any], elapsed: float, extra: dict[str, Any]) -> str:
    """The markdown table; writes ``bench-results/bench.json`` too."""
    lines = [
        "| id | workload | medians | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in bench.rows:
        figures = " · ".join(f"{k} {v}" for k, v in r.figures.items())
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.id} | {r.workload} | {figures} | {r.ratio} | {r.goal} | {met} |")
    runs = (
        "1 run (quick: timings not judged)"
        if bench.sizes.quick
        else f"median of {bench.sizes.runs} runs"
    )
    machine_line = (
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; {info['os']}; "
        f"PostgreSQL {info['postgres']}; Python {info['python']}; {runs}; total {elapsed:.0f} s"
    )
    text = "\n".join(lines) + "\n\n" + machine_line + "\n"
    notes = [f"- {r.id}: {r.note}" for r in bench.rows if r.note]
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "machine": info,
        "quick": bench.sizes.quick,
        "elapsed_s": elapsed,
        "rows": [r.__dict__ for r in bench.rows],
        **extra,
    }
    (RESULTS / "bench.json").write_text(json.dumps(payload, indent=2, default=str))
    return text
