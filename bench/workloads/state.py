"""B7: a new backend's first infer of a large state (mapped from the shared cache file), and the
first infer after a new version (the version's writer, here REFIT's backend, wrote the file), against
bare ``pickle.loads``; with the peak memory of the infer backend and of the writer."""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg

import motion_pg
from bench.harness import Bench, Row, median

HAND_LOADS = """
CREATE FUNCTION bench_loads(blob bigint) RETURNS float8[] LANGUAGE plpython3u AS $$
import pickle, time
t0 = time.perf_counter()
data = plpy.execute("SELECT data FROM motion.blobs WHERE id = %d" % blob)[0]["data"]
t1 = time.perf_counter()
value = pickle.loads(data)
t2 = time.perf_counter()
return [t1 - t0, t2 - t1]
$$;
CREATE FUNCTION bench_imports() RETURNS void LANGUAGE plpython3u AS $$
import numpy, bench.models
$$;
CREATE FUNCTION bench_state_load(name text) RETURNS float8 LANGUAGE plpython3u AS $$
import time
from motion_pg.runtime import shared_state
from motion_pg.runtime.state import BlobCache
db = GD["motion_pg"].database(plpy)
version = plpy.execute(
    "SELECT serving_version FROM motion.triggers WHERE name = %s" % plpy.quote_literal(name)
)[0]["serving_version"]
t0 = time.perf_counter()
state = BlobCache(shared_state.BackendSource()).load(db, name, version)
return time.perf_counter() - t0
$$;
CREATE FUNCTION bench_touch(name text) RETURNS float8 LANGUAGE plpython3u AS $$
return float(GD["motion_pg"]._loaded[name].state["weights"].sum())
$$;
"""


def _rss_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS


def _insert_ms(conn: psycopg.Connection[Any]) -> float:
    start = time.perf_counter()
    conn.execute("INSERT INTO b7 (x) VALUES (1)")
    return (time.perf_counter() - start) * 1000


def b7(bench: Bench) -> None:
    mb = bench.sizes.state_mb
    with bench.connect() as admin:
        admin.execute("CREATE TABLE b7 (id bigserial PRIMARY KEY, x int NOT NULL, y int)")
        admin.execute(HAND_LOADS)
        motion_pg.execute(admin, "CREATE MOTION TRIGGER big ON b7 USING 'bench.models:BigState'"
                          f" WITH (mb = {mb})")  # fmt: skip
        infer = bench.connect()
        _insert_ms(infer)  # serve version 1 in this backend
        row = infer.execute("SELECT pg_backend_pid()").fetchone()
        pid = int(row[0]) if row else 0
        raw: dict[str, list[float]] = {"first_ms": [], "bare_loads_ms": [], "fetch_ms": [],
                                       "rss_growth_mb": [], "peak_growth_mb": [],
                                       "new_backend_ms": [], "new_backend_load_ms": [],
                                       "writer_peak_growth_mb": [], "refit_ms": []}  # fmt: skip
        writer = admin.info.backend_pid
        for _ in range(bench.sizes.runs):
            before = _rss_kb(writer, "VmRSS")
            _reset_peak(writer)
            start = time.perf_counter()
            motion_pg.execute(admin, "ALTER MOTION TRIGGER big REFIT")  # a new 50 MB version
            raw["refit_ms"].append((time.perf_counter() - start) * 1000)
            raw["writer_peak_growth_mb"].append((_rss_kb(writer, "VmHWM") - before) / 1024)
            rss = _rss_kb(pid, "VmRSS")
            _reset_peak(pid)
            first = _insert_ms(infer)
            steady = median([_insert_ms(infer) for _ in range(5)])
            raw["first_ms"].append(first - steady)
            raw["rss_growth_mb"].append((_rss_kb(pid, "VmRSS") - rss) / 1024)
            raw["peak_growth_mb"].append((_rss_kb(pid, "VmHWM") - rss) / 1024)
            raw["new_backend_ms"].append(new_backend_first_ms(bench))
            raw["new_backend_load_ms"].append(new_backend_load_ms(bench))
            blob = admin.execute(
                "SELECT e.blob_id FROM motion.state_entries e JOIN motion.triggers t ON "
                "t.name = e.trigger_name AND t.serving_version = e.version WHERE t.name = 'big'"
            ).fetchone()
            assert blob is not None
            with bench.connect() as hand:
                hand.execute("SELECT motion._bootstrap()")  # the import paths (numpy)
                hand.execute("SELECT bench_loads(%s)", [blob[0]])  # PL/Python's own start-up
                times = hand.execute("SELECT bench_loads(%s)", [blob[0]]).fetchone()
            assert times is not None
            raw["fetch_ms"].append(times[0][0] * 1000)
            raw["bare_loads_ms"].append(times[0][1] * 1000)
        raw["miss_ms"], raw["miss_peak_growth_mb"] = _miss(admin, infer, pid)
        infer.close()
    m = {k: median(v) if isinstance(v, list) else v for k, v in raw.items()}
    ratio = m["new_backend_load_ms"] / m["bare_loads_ms"]
    cold = m["first_ms"] / m["bare_loads_ms"]
    hand = m["first_ms"] / (m["fetch_ms"] + m["bare_loads_ms"])
    peak = m["peak_growth_mb"] / mb
    writer_peak = m["writer_peak_growth_mb"] / mb
    bench.rows.append(Row(
        "B7", f"a new backend's first infer of a {mb} MB state (mapped from the shared cache file)",
        {"state load": f"{m['new_backend_load_ms']:.1f} ms",
         "first infer, all of it": f"{m['new_backend_ms']:.0f} ms",
         "bare pickle.loads": f"{m['bare_loads_ms']:.0f} ms"},
        f"state load vs loads {ratio:.2f}", "≤ 1.2",
        None if bench.sizes.quick else ratio <= 1.2, raw,
        "the rest of a new backend's first infer (class import, code identity, routes) does not "
        "depend on the state",
    ))  # fmt: skip
    bench.rows.append(Row(
        "B7b", f"first infer after a new {mb} MB state version (its writer, REFIT, wrote the file)",
        {"first infer": f"{m['first_ms']:.1f} ms",
         "hand-written SELECT + loads": f"{m['fetch_ms'] + m['bare_loads_ms']:.0f} ms",
         "infer backend RSS growth / peak": f"{m['rss_growth_mb']:.0f} / "
                                            f"{m['peak_growth_mb']:.0f} MB",
         "writer (REFIT backend) peak growth": f"{m['writer_peak_growth_mb']:.0f} MB "
                                               f"({writer_peak:.1f}x state)",
         "REFIT, file included": f"{m['refit_ms']:.0f} ms",
         "a miss (no file: read back in slices, file written), first infer / peak":
             f"{m['miss_ms']:.0f} ms / {m['miss_peak_growth_mb']:.0f} MB "
             f"({m['miss_peak_growth_mb'] / mb:.1f}x state)"},
        f"first infer vs loads {cold:.2f}, vs SELECT+loads {hand:.2f}; infer peak {peak:.1f}x "
        f"state; writer peak {writer_peak:.1f}x",
        "first infer ≤ 1.2x loads; infer peak ≤ 2x state",
        None if bench.sizes.quick else cold <= 1.2 and peak <= 2, raw,
        "the writer's peak is REFIT's own: setup's value, its pickle and the bytea the INSERT "
        "sends; the cache file is written from the value (arrays not copied)",
    ))  # fmt: skip


def _miss(
    admin: psycopg.Connection[Any], infer: psycopg.Connection[Any], pid: int
) -> tuple[float, float]:
    """One first infer of a version whose writer could not write the file (its directory made
    read-only meanwhile): the fallback reads the value back in slices and writes the file; its
    time less a steady infer, and its peak RSS growth in MB."""
    row = admin.execute(
        "SELECT current_setting('data_directory'), d.oid FROM pg_database d "
        "WHERE d.datname = current_database()"
    ).fetchone()
    assert row is not None
    directory = os.path.join(str(row[0]), "motion_state", str(row[1]))
    os.chmod(directory, 0o500)
    try:
        motion_pg.execute(admin, "ALTER MOTION TRIGGER big REFIT")
    finally:
        os.chmod(directory, 0o700)
    rss = _rss_kb(pid, "VmRSS")
    _reset_peak(pid)
    first = _insert_ms(infer)
    peak = (_rss_kb(pid, "VmHWM") - rss) / 1024
    return first - median([_insert_ms(infer) for _ in range(5)]), peak


def new_backend_first_ms(bench: Bench) -> float:
    """A new backend's first insert into ``b7`` less a steady one: class, routes and state load,
    with PL/Python's and NumPy's start-up excluded (as they are from bare ``pickle.loads``)."""
    with bench.connect() as c:
        c.execute("SELECT motion._bootstrap()")
        c.execute("SELECT bench_imports()")
        first = _insert_ms(c)
        return first - median([_insert_ms(c) for _ in range(5)])


def new_backend_load_ms(bench: Bench) -> float:
    """What loading the serving state costs a new backend (catalog reads, the cache settings,
    mapping the file), the part of its first infer that bare ``pickle.loads`` stands for; the
    rest of a first infer (class import, code identity, routes) does not depend on the state."""
    with bench.connect() as c:
        c.execute("SELECT motion._bootstrap()")
        c.execute("SELECT bench_imports()")
        row = c.execute("SELECT bench_state_load('big')").fetchone()
        assert row is not None
        return float(row[0]) * 1000
