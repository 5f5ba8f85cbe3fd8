"""B3: 4 clients of single-row INSERT transactions, run by pgbench (scripts in bench/pgbench/)."""

from __future__ import annotations

from pathlib import Path

import motion_pg
from bench.harness import Bench, Row, median

SCRIPTS = Path(__file__).resolve().parents[1] / "pgbench"
VARIANTS = {
    "none": "no trigger", "hand": "hand-written", "motion": "motion",
    "nolin": "motion, lineage off",
}  # fmt: skip


def setup(bench: Bench) -> None:
    with bench.connect() as conn:
        for v in VARIANTS:
            conn.execute(f"CREATE TABLE b3_{v} (id bigserial PRIMARY KEY, x int NOT NULL, y int)"
                         " WITH (autovacuum_enabled = off)")  # fmt: skip
        conn.execute("CREATE TRIGGER hand BEFORE INSERT ON b3_hand FOR EACH ROW "
                     "EXECUTE FUNCTION hand_infer()")  # fmt: skip
        motion_pg.execute(conn, """
            CREATE MOTION TRIGGER b3 ON b3_motion USING 'bench.models:Trivial';
            CREATE MOTION TRIGGER b3_nolin ON b3_nolin USING 'bench.models:Trivial'
                WITH (lineage = false);
        """)  # fmt: skip


def b3(bench: Bench) -> None:
    seconds = bench.sizes.pgbench_seconds
    tps: dict[str, list[float]] = {v: [] for v in VARIANTS}
    k = len(VARIANTS)
    for i in range(bench.sizes.runs_for(k * seconds)):
        order = list(VARIANTS)[i % k :] + list(VARIANTS)[: i % k]
        for v in order:
            tps[v].append(bench.pgbench(SCRIPTS / f"insert_{v}.sql", 4, seconds))
    m = {v: median(t) for v, t in tps.items()}
    ratio = m["motion"] / m["hand"]
    shown = ("none", "hand", "motion")
    bench.rows.append(Row(
        "B3", f"pgbench, 4 clients, single-row INSERT transactions, {seconds} s",
        {VARIANTS[v]: f"{m[v]:,.0f} TPS" for v in shown},
        f"motion / hand = {ratio:.2f}", "≥ 0.85", None if bench.sizes.quick else ratio >= 0.85,
        {v: tps[v] for v in shown},
    ))  # fmt: skip
    lin = m["motion"] / m["nolin"]
    bench.rows.append(Row(
        "B3 lineage off", "B3 with WITH (lineage = false): rows not stamped",
        {"motion, lineage off": f"{m['nolin']:,.0f} TPS", "motion": f"{m['motion']:,.0f} TPS"},
        f"lineage on / off = {lin:.2f}", "≥ 0.90", None if bench.sizes.quick else lin >= 0.90,
        {v: tps[v] for v in ("nolin", "motion")},
    ))  # fmt: skip
