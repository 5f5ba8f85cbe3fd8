"""E1: the cost of a live experiment on the write path (issue 11 item 3): a multi-row INSERT into a
table served by one trigger alone, with a shadow of it, and with a 10 % canary of it, in µs per
row. Each side's records are collected per statement and written with one INSERT
(:mod:`motion_pg.runtime.shadow_batch`); before that, each record was its own INSERT (299 µs/row
with a shadow against 27 µs/row alone, at load ~9).
"""

from __future__ import annotations

import os
import time
from typing import Any

import motion_pg
from bench.harness import Bench, Row, median
from motion_pg import Context

ROWS = 5000


class Serving(motion_pg.Trigger):
    """The serving side: a label and a score from the value."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"label": "even" if row["value"] % 2 == 0 else "odd", "score": 1.0}


class Variant(motion_pg.Trigger):
    """The experiment's side: another label and score."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"label": "even" if row["value"] % 4 == 0 else "odd", "score": 0.5}


def _table(bench: Bench, variant: str) -> str:
    """The variant's table and triggers; ``per_row``: a shadow recording each row with its own
    INSERT, as before 0.5 (its statement triggers dropped, so the row path writes at once)."""
    table = f"e1_{variant}"
    with bench.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, value int NOT NULL,"
                     " label text, score real)")  # fmt: skip
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER {table}_a ON {table}"
                          " USING 'bench.workloads.experiments:Serving'")  # fmt: skip
        if variant != "alone":
            clause = "CANARY OF" if variant == "canary" else "SHADOW OF"
            tail = " (10)" if variant == "canary" else ""
            motion_pg.execute(conn, f"CREATE MOTION TRIGGER {table}_b ON {table} {clause}"
                              f" {table}_a{tail} USING 'bench.workloads.experiments:Variant'")  # fmt: skip
        if variant == "per_row":
            for (name,) in conn.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
                [table, "%shadow_begin"],
            ).fetchall():
                conn.execute(f'DROP TRIGGER "{name}" ON {table}')
    return table


def e1(bench: Bench) -> None:
    """Row E1: µs per inserted row alone, with a shadow, with a 10 % canary (goal: a shadow costs
    at most twice the trigger alone). The variants take turns in each run, so a change of the
    machine's load falls on all three alike."""
    rows = 500 if bench.sizes.quick else ROWS
    runs = 1 if bench.sizes.quick else bench.sizes.runs
    load = os.getloadavg()[0]
    variants = ("alone", "shadow", "canary", "per_row")
    tables = {v: _table(bench, v) for v in variants}
    timings: dict[str, list[float]] = {v: [] for v in variants}
    with bench.connect() as conn:
        for v in variants:  # warm: load the triggers into this session
            conn.execute(f"INSERT INTO {tables[v]} (value) VALUES (1)")
        for _ in range(runs):
            for v in variants:
                start = time.perf_counter()
                conn.execute(f"INSERT INTO {tables[v]} (value)"
                             " SELECT g FROM generate_series(1, %s) g", [rows])  # fmt: skip
                timings[v].append((time.perf_counter() - start) / rows * 1e6)
    us = {v: median(timings[v]) for v in variants}
    figures = {v: f"{us[v]:.0f} µs/row" for v in us}
    ratio = ", ".join(f"{v} x{us[v] / us['alone']:.2f}" for v in variants[1:])
    bench.rows.append(Row(
        "E1", f"INSERT of {rows:,} rows: one trigger; + a shadow; + a 10 % canary; + a shadow"
        " recording each row with its own INSERT (before 0.5)", figures, ratio,
        "a shadow costs <= 2 x the trigger alone",
        None if bench.sizes.quick else us["shadow"] <= 2 * us["alone"], {**us, "load": load},
        note=f"load average {load:.1f} when E1 started",
    ))  # fmt: skip
