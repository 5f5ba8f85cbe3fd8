"""B3: 4 clients of single-row INSERT transactions, run by pgbench (scripts in bench/pgbench/)."""

from __future__ import annotations

from pathlib import Path

import motion_pg
from bench.harness import Bench, Row, median

SCRIPTS = Path(__file__).resolve().parents[1] / "pgbench"
VARIANTS = {"none": "no trigger", "hand": "hand-written", "motion": "motion"}


def setup(bench: Bench) -> None:
    with bench.connect() as conn:
        for v in VARIANTS:
            conn.execute(f"CREATE TABLE b3_{v} (id bigserial PRIMARY KEY, x int NOT NULL, y int)"
                         " WITH (autovacuum_enabled = off)")  # fmt: skip
        conn.execute("CREATE TRIGGER hand BEFORE INSERT ON b3_hand FOR EACH ROW "
                     "EXECUTE FUNCTION hand_infer()")  # fmt: skip
        motion_pg.execute(
            conn, "CREATE MOTION TRIGGER b3 ON b3_motion USING 'bench.models:Trivial'"
        )


def b3(bench: Bench) -> None:
    seconds = bench.sizes.pgbench_seconds
    tps: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i in range(bench.sizes.runs_for(3 * seconds)):
        order = list(VARIANTS)[i % 3 :] + list(VARIANTS)[: i % 3]
        for v in order:
            tps[v].append(bench.pgbench(SCRIPTS / f"insert_{v}.sql", 4, seconds))
    m = {v: median(t) for v, t in tps.items()}
    ratio = m["motion"] / m["hand"]
    bench.rows.append(Row(
        "B3", f"pgbench, 4 clients, single-row INSERT transactions, {seconds} s",
        {VARIANTS[v]: f"{m[v]:,.0f} TPS" for v in VARIANTS},
        f"motion / hand = {ratio:.2f}", "≥ 0.85", None if bench.sizes.quick else ratio >= 0.85,
        tps,
    ))  # fmt: skip
