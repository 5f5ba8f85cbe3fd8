"""B7m: what a large state costs 20 backends in memory (PSS), mapped from the shared cache file.

RSS counts a shared page in every process that maps it, so 20 backends mapping one 50 MB file
show 20 x 50 MB of RSS; PSS (``/proc/PID/smaps_rollup``) divides each page among its mappers and
sums to what the host really holds. Run after B7 (its ``b7`` table, ``big`` trigger and
``bench_imports`` function).
"""

from __future__ import annotations

from typing import Any

import psycopg

import motion_pg
from bench.harness import Bench, Row

BACKENDS = 20


def _rollup_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/smaps_rollup")


def _totals(conns: list[psycopg.Connection[Any]]) -> tuple[float, float]:
    pids = [c.info.backend_pid for c in conns]
    pss = sum(_rollup_kb(p, "Pss") for p in pids) / 1024
    rss = sum(_rollup_kb(p, "Rss") for p in pids) / 1024
    return pss, rss


def b7m(bench: Bench) -> None:
    """20 new backends, interpreter and NumPy loaded; then each serves the state once and reads
        all of it (a mapped page costs nothing until it is read). Each backend first loads a trigger
    with a tiny state, so the growth measured is the large state's alone."""
    mb = bench.sizes.state_mb
    with bench.connect() as admin:
        admin.execute("CREATE TABLE b7m (id bigserial PRIMARY KEY, x int NOT NULL, y int)")
        motion_pg.execute(admin, "CREATE MOTION TRIGGER tiny ON b7m USING 'bench.models:BigState'"
                          " WITH (mb = 0.01)")  # fmt: skip
    conns = [bench.connect() for _ in range(BACKENDS)]
    try:
        for c in conns:
            c.execute("SELECT motion._bootstrap()")
            c.execute("SELECT bench_imports()")
        fixed0, _ = _totals(conns)
        for c in conns:  # what loading any trigger costs a backend (class, code identity, plans)
            c.execute("INSERT INTO b7m (x) VALUES (1)")
        pss0, rss0 = _totals(conns)
        for c in conns:
            c.execute("INSERT INTO b7 (x) VALUES (1)")
            c.execute("SELECT bench_touch('big')")  # every page, as a real model's use may
        pss1, rss1 = _totals(conns)
    finally:
        for c in conns:
            c.close()
    pss, rss, fixed = pss1 - pss0, rss1 - rss0, (pss0 - fixed0) / BACKENDS
    ratio = pss / mb
    bench.rows.append(Row(
        "B7m", f"memory of a {mb} MB state served by {BACKENDS} backends (shared cache file)",
        {"PSS growth, all backends": f"{pss:.0f} MB", "RSS growth, all backends": f"{rss:.0f} MB",
         "first trigger load per backend (any state, excluded)": f"{fixed:.1f} MB PSS"},
        f"PSS {ratio:.2f}x state (RSS counts shared pages {BACKENDS} times: {rss / mb:.1f}x)",
        "PSS ≤ 2x state", None if bench.sizes.quick else ratio <= 2,
        {"pss_mb": pss, "rss_mb": rss, "state_mb": mb, "backends": BACKENDS,
         "trigger_load_pss_mb_per_backend": fixed},
    ))  # fmt: skip
