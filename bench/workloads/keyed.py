"""B9: keyed state (STATE PER) against the single-state workaround of issue 11 (``user:<id>``
keys inside one state): drain rate, storage per key, first infer for a key.

Each variant runs on its own table: N users, one message each, fitted by two workers claiming up
to ``FIT_BATCH`` events per fit call (many keys per call: a call's cost is mostly per call, not per
key); then one more message per sampled user measures infer. The load average at the end of the
drain is recorded with each variant (the machine is shared: only ratios mean much). ``--full`` adds the 1,000,000-key run (keyed only:
the workaround's storage grows keys x versions and would take hours).
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg

import motion_pg
from bench.harness import Bench, Row, median, wait_until
from bench.workloads.queue import MOTION_PG, _start_workers, _stop_all
from motion_pg import Context, Event

# events per fit call, for both variants
FIT_BATCH = 1000
# the relations each variant's state lives in (their growth is its storage)
_STORAGE = {
    "keyed": ("motion.key_states", "motion.versions", "motion.state_entries"),
    "workaround": ("motion.state_entries", "motion.blobs", "motion.versions"),
}


class KeyedSummary(motion_pg.Trigger):
    """STATE PER (user_id): a message count and the last message per user."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"seen": ctx.state.get("count", 0)}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state.get("count", 0) + len(events), "last": events[-1].row["body"]}


class WorkaroundSummary(motion_pg.Trigger):
    """The workaround without STATE PER: one state holding a ``user:<id>`` entry per user."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        found = ctx.state.get(f"user:{row['user_id']}")
        return {"seen": found["count"] if found else 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        updates: dict[str, Any] = {}
        for e in events:
            key = f"user:{e.row['user_id']}"
            old = updates.get(key) or ctx.state.get(key) or {"count": 0}
            updates[key] = {"count": old["count"] + 1, "last": e.row["body"]}
        return updates


def _size(conn: psycopg.Connection[Any], relations: tuple[str, ...]) -> int:
    row = conn.execute(
        "SELECT sum(pg_catalog.pg_total_relation_size(r::regclass))::bigint"
        " FROM unnest(%s::text[]) r",
        [list(relations)],
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _pending(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM motion.jobs WHERE trigger_name = %s AND state IN ('pending', 'running')",
        [name],
    ).fetchone()
    return int(row[0]) if row else 0


def _variant(bench: Bench, variant: str, keys: int, samples: int) -> dict[str, float]:
    name, table = f"b9_{variant}_{keys}", f"b9_{variant}_{keys}"
    per = " STATE PER (user_id)" if variant == "keyed" else ""
    cls = "KeyedSummary" if variant == "keyed" else "WorkaroundSummary"
    with bench.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, user_id int NOT NULL,"
                     " body text, seen int)")  # fmt: skip
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER {name} ON {table}{per}"
                          f" USING 'bench.workloads.keyed:{cls}'")  # fmt: skip
        conn.execute("VACUUM ANALYZE")
        before = _size(conn, _STORAGE[variant])
        procs = _start_workers(bench, [*MOTION_PG, "--fit-batch", str(FIT_BATCH)], 2)
        start = time.perf_counter()
        conn.execute(f"INSERT INTO {table} (user_id, body) SELECT g, 'hello ' || g"
                     " FROM generate_series(1, %s) g", [keys])  # fmt: skip
        insert_s = time.perf_counter() - start
        # counting a deep queue costs: poll it less often there
        poll = 0.1 if keys <= 20_000 else 2.0
        wait_until(lambda: _pending(conn, name) == 0, 7200, "the queue to drain", poll)
        drain_s = time.perf_counter() - start
        load = os.getloadavg()[0]
        _stop_all(bench, procs)
        conn.execute("CHECKPOINT")
        stored = _size(conn, _STORAGE[variant]) - before
        step = max(1, keys // samples)
        users = list(range(1, keys + 1, step))[:samples]
        fresh = []  # a new session's first infer (loads the trigger, and the key or the state)
        for user in users[:5]:
            with bench.connect() as session:
                t = time.perf_counter()
                session.execute(f"INSERT INTO {table} (user_id, body) VALUES (%s, 'again')",
                                [user])  # fmt: skip
                fresh.append((time.perf_counter() - t) * 1000)
        key_first = []  # in a warm session, the first infer of a key it has not seen
        with bench.connect() as session:
            session.execute(f"INSERT INTO {table} (user_id, body) VALUES (%s, 'warm')", [keys])
            for user in users[5:]:
                t = time.perf_counter()
                session.execute(f"INSERT INTO {table} (user_id, body) VALUES (%s, 'again')",
                                [user])  # fmt: skip
                key_first.append((time.perf_counter() - t) * 1000)
    return {
        "events_per_s": keys / drain_s,
        # once the insert committed (the events are fitted only then)
        "fit_events_per_s": keys / max(drain_s - insert_s, 1e-9),
        "insert_s": insert_s,
        "drain_s": drain_s,
        "bytes_per_key": stored / keys,
        "fresh_session_ms": median(fresh),
        "first_key_ms": median(key_first) if key_first else 0.0,
        "load": load,
    }


def b9(bench: Bench, full: bool = False) -> None:
    keys = 500 if bench.sizes.quick else 20_000
    samples = 25
    results = {v: _variant(bench, v, keys, samples) for v in ("keyed", "workaround")}
    _row(bench, keys, results)
    if full and not bench.sizes.quick:
        _row(bench, 1_000_000, {"keyed": _variant(bench, "keyed", 1_000_000, samples)})


def _row(bench: Bench, keys: int, results: dict[str, dict[str, float]]) -> None:
    figures: dict[str, str] = {}
    for variant, m in results.items():
        figures[variant] = (
            f"{m['events_per_s']:.0f} ev/s ({m['drain_s']:.1f} s; after the insert's"
            f" {m['insert_s']:.1f} s: {m['fit_events_per_s']:.0f} ev/s), {m['bytes_per_key']:.0f} B/key,"
            f" new session {m['fresh_session_ms']:.0f} ms, new key {m['first_key_ms']:.2f} ms"
            f" (load {m['load']:.1f})"
        )
    keyed, other = results["keyed"], results.get("workaround")
    ratio = (
        f"drain x{keyed['events_per_s'] / other['events_per_s']:.1f},"
        f" storage /{other['bytes_per_key'] / max(keyed['bytes_per_key'], 1):.0f},"
        f" new session /{other['fresh_session_ms'] / keyed['fresh_session_ms']:.1f}"
        if other
        else "keyed only (the workaround grows keys x versions)"
    )
    bench.rows.append(Row(
        "B9", f"STATE PER, {keys:,} keys x 1 event, 2 workers, fit_batch {FIT_BATCH}", figures, ratio,
        "keyed drains faster and stores less per key", None if bench.sizes.quick or not other
        else keyed["events_per_s"] > other["events_per_s"], results,
    ))  # fmt: skip
