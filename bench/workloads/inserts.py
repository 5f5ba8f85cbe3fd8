"""B1, B2, B4, B8 (rows): bulk ``INSERT … SELECT`` through triggers, timed by EXPLAIN ANALYZE."""

from __future__ import annotations

import re
from typing import Any

import psycopg

import motion_pg
from bench.harness import Bench, Row, explain_ms, median

# autovacuum off: a vacuum of the previous run's table must not share the 2 cores with the next run
_TABLE = (
    "CREATE TABLE {} (id bigserial PRIMARY KEY, x int NOT NULL, y int)"
    " WITH (autovacuum_enabled = off)"
)
_SK_TABLE = (
    "CREATE TABLE {} (id bigserial PRIMARY KEY, a float8, b float8, c float8, d float8, label int)"
    " WITH (autovacuum_enabled = off)"
)

HAND_INFER = """
CREATE FUNCTION hand_infer() RETURNS trigger LANGUAGE plpython3u AS $$
new = TD["new"]
new["y"] = new["x"] * 2
return "MODIFY"
$$;
"""

# the same with the function attributes motion's shims carry (privileged catalog access, pinned
# search_path): what a hand-written trigger pays once it is made safe to call from any role
HAND_INFER_SD = HAND_INFER.replace("hand_infer()", "hand_infer_sd()").replace(
    "plpython3u AS", "plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS"
)

# the same, plus one queue insert per row: what a hand-written in-database ML trigger does for fit
HAND_INFER_ENQUEUE = """
CREATE TABLE hand_queue (id bigserial PRIMARY KEY, topic text NOT NULL, row_data jsonb NOT NULL,
                         state text NOT NULL DEFAULT 'pending', created_at timestamptz DEFAULT now());
CREATE INDEX hand_queue_pending ON hand_queue (id) WHERE state = 'pending';
CREATE FUNCTION hand_infer_enqueue() RETURNS trigger LANGUAGE plpython3u AS $$
import json
new = TD["new"]
new["y"] = new["x"] * 2
plan = SD.get("plan")
if plan is None:
    plan = SD["plan"] = plpy.prepare(
        "INSERT INTO hand_queue (topic, row_data) VALUES ($1, $2::jsonb)", ["text", "text"])
plpy.execute(plan, ["hand", json.dumps(new)])
return "MODIFY"
$$;
"""

PROFILE = """
CREATE FUNCTION bench_profile(statement text) RETURNS text LANGUAGE plpython3u AS $$
import cProfile, io, pstats
profile = cProfile.Profile()
profile.enable()
plpy.execute(statement)
profile.disable()
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(14)
return out.getvalue()
$$;
"""


def _insert(table: str, n: int) -> str:
    return f"INSERT INTO {table} (x) SELECT g FROM generate_series(1, {n}) g"


def _sk_insert(table: str, n: int) -> str:
    return (
        f"INSERT INTO {table} (a, b, c, d) SELECT random() * 2 - 1, random() * 2 - 1, "
        f"random() * 2 - 1, random() * 2 - 1 FROM generate_series(1, {n})"
    )


def setup(bench: Bench) -> None:
    with bench.connect() as conn:
        for t in (
            "b_none",
            "b_hand",
            "b_handsd",
            "b_motion",
            "b_handq",
            "b_motionq",
            "b_growth",
            "b_motion_nolin",
        ):
            conn.execute(_TABLE.format(t))
        for t in ("b_sk_row", "b_sk_batch"):
            conn.execute(_SK_TABLE.format(t))
        conn.execute(HAND_INFER + HAND_INFER_SD + HAND_INFER_ENQUEUE + PROFILE)
        conn.execute("CREATE TRIGGER hand BEFORE INSERT ON b_handsd FOR EACH ROW "
                     "EXECUTE FUNCTION hand_infer_sd()")  # fmt: skip
        conn.execute("CREATE TRIGGER hand BEFORE INSERT ON b_hand FOR EACH ROW "
                     "EXECUTE FUNCTION hand_infer()")  # fmt: skip
        conn.execute("CREATE TRIGGER hand BEFORE INSERT ON b_handq FOR EACH ROW "
                     "EXECUTE FUNCTION hand_infer_enqueue()")  # fmt: skip
        motion_pg.execute(conn, """
            CREATE MOTION TRIGGER trivial ON b_motion USING 'bench.models:Trivial';
            CREATE MOTION TRIGGER trivial_nolin ON b_motion_nolin USING 'bench.models:Trivial'
                WITH (lineage = false);
            CREATE MOTION TRIGGER trivial_fit ON b_motionq USING 'bench.models:TrivialFit';
            CREATE MOTION TRIGGER growth ON b_growth USING 'bench.models:Trivial';
            CREATE MOTION TRIGGER sk_row ON b_sk_row USING 'bench.models:Sklearn';
            CREATE MOTION TRIGGER sk_batch ON b_sk_batch USING 'bench.models:SklearnBatch';
        """)  # fmt: skip


def _timed(conns: dict[str, psycopg.Connection[Any]], statements: dict[str, str],
           runs: int) -> dict[str, list[float]]:  # fmt: skip
    """Interleaved runs of each variant's statement (ms), each on a warmed connection."""
    times: dict[str, list[float]] = {k: [] for k in statements}
    for name, statement in statements.items():  # warm: first-call loads are not the steady state
        conns[name].execute(
            re.sub(r"generate_series\(1, \d+\)", "generate_series(1, 10)", statement)
        )
        conns[name].execute(_reset(statement))
    for i in range(runs):
        order = list(statements)
        order = order[i % len(order):] + order[: i % len(order)]  # fmt: skip
        for name in order:
            conn = conns[name]
            conn.execute(_reset(statements[name]))
            times[name].append(explain_ms(conn, statements[name]))
    for name in statements:
        conns[name].execute(_reset(statements[name]))
    return times


def _reset(statement: str) -> str:
    table = statement.split()[2]
    return f"TRUNCATE {table}, hand_queue, motion.jobs RESTART IDENTITY"


def _variants(bench: Bench, statements: dict[str, str], runs: int) -> dict[str, list[float]]:
    conns = {name: bench.connect() for name in statements}
    try:
        return _timed(conns, statements, runs)
    finally:
        for c in conns.values():
            c.close()


def _fmt(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def b1_b2(bench: Bench) -> dict[str, Any]:
    n, runs = bench.sizes.rows, bench.sizes.runs
    t = _variants(bench, {
        "none": _insert("b_none", n), "hand": _insert("b_hand", n),
        "hand (definer)": _insert("b_handsd", n),
        "motion": _insert("b_motion", n), "hand+queue": _insert("b_handq", n),
        "motion (lineage off)": _insert("b_motion_nolin", n),
        "motion+fit": _insert("b_motionq", n),
    }, runs)  # fmt: skip
    m = {k: median(v) for k, v in t.items()}
    r1 = m["motion"] / m["hand"]
    bench.rows.append(Row(
        "B1", f"INSERT … SELECT {n:,} rows, infer-only, trivial model",
        {"no trigger": _fmt(m["none"]), "hand-written": _fmt(m["hand"]),
         "hand-written as SECURITY DEFINER + SET search_path": _fmt(m["hand (definer)"]),
         "motion": _fmt(m["motion"])},
        f"motion / hand = {r1:.2f} (/ definer hand = {m['motion'] / m['hand (definer)']:.2f})", "≤ 1.15", None if bench.sizes.quick else r1 <= 1.15, t,
        f"per row: executor {m['none'] / n * 1000:.1f} µs, PL/Python trigger floor "
        f"{(m['hand'] - m['none']) / n * 1000:.1f} µs, motion on top "
        f"{(m['motion'] - m['hand']) / n * 1000:.2f} µs",
    ))  # fmt: skip
    lin = m["motion"] / m["motion (lineage off)"]
    bench.rows.append(Row(
        "B1 lineage off", "B1 with WITH (lineage = false): rows not stamped",
        {"motion, lineage off": _fmt(m["motion (lineage off)"]), "motion": _fmt(m["motion"])},
        f"lineage on / off = {lin:.2f}", "≤ 1.10", None if bench.sizes.quick else lin <= 1.10, t,
    ))  # fmt: skip
    r2 = m["motion+fit"] / m["hand+queue"]
    bench.rows.append(Row(
        "B2", f"same, route with fit ({n:,} events enqueued)",
        {"hand-written + per-row queue insert": _fmt(m["hand+queue"]),
         "motion": _fmt(m["motion+fit"])},
        f"motion / hand = {r2:.2f}", "≤ 1.0", None if bench.sizes.quick else r2 <= 1.0, t,
    ))  # fmt: skip
    return {"b1_b2_ms": m}


def b4(bench: Bench) -> None:
    n, runs = (
        bench.sizes.rows,
        bench.sizes.runs_for(bench.sizes.rows / 3000),
    )  # row mode ~350 µs/row
    t = _variants(bench, {"row": _sk_insert("b_sk_row", n),
                          "batch": _sk_insert("b_sk_batch", n)}, runs)  # fmt: skip
    m = {k: median(v) for k, v in t.items()}
    speedup = m["row"] / m["batch"]
    bench.rows.append(Row(
        "B4", f"INSERT … SELECT {n:,} rows, scikit-learn LogisticRegression",
        {"row mode": _fmt(m["row"]), "batch mode": _fmt(m["batch"])},
        f"batch {speedup:.1f}x faster", "≥ 5x", None if bench.sizes.quick else speedup >= 5, t,
    ))  # fmt: skip


def b8_rows(bench: Bench, b1: dict[str, Any]) -> None:
    per_row: dict[int, float] = {}
    raw: dict[str, list[float]] = {}
    for n in bench.sizes.growth:
        runs = bench.sizes.runs_for(n * 15e-6)
        t = _variants(bench, {"motion": _insert("b_growth", n)}, runs)["motion"]
        raw[str(n)] = t
        per_row[n] = median(t) / n * 1000
    spread = max(per_row.values()) / min(per_row.values())
    bench.rows.append(Row(
        "B8a", "B1 (motion) at " + " / ".join(f"{n:,}" for n in per_row) + " rows",
        {f"{n:,}": f"{us:.1f} µs/row" for n, us in per_row.items()},
        f"max/min per-row = {spread:.2f}", "linear (≤ 1.2)",
        None if bench.sizes.quick else spread <= 1.2, raw,
        "",
    ))  # fmt: skip


def profile(bench: Bench) -> str:
    """cProfile of the motion infer path inside the backend (Python frames only)."""
    n = min(bench.sizes.rows, 20_000)
    with bench.connect() as conn:
        conn.execute(_insert("b_motion", 1))
        row = conn.execute("SELECT bench_profile(%s)", [_insert("b_motion", n)]).fetchone()
        conn.execute("TRUNCATE b_motion RESTART IDENTITY")
    return str(row[0]) if row else ""
