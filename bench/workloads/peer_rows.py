"""The P rows (Motion side by side) from the raw runs of :mod:`bench.workloads.peer`: sizes, what a
serve run yields (rate while the fold keeps up, freshness seen in the served outputs), the table."""

from __future__ import annotations

from typing import Any, NamedTuple

from bench.harness import Bench, Row, median, percentile


class Sizes(NamedTuple):
    serve: int  # calls of a serve run, synchronous_commit = off / Redis persisting nothing
    durable: int  # calls of a durable serve run (fsync per commit on both sides)
    fresh: int  # trickle events of a freshness run
    bulk: int  # events of the bulk load


def served_freshness(run: dict[str, Any]) -> list[float]:
    """Per event of a counter serve run: seconds from its call's return to the return of the first
    later call whose served output reflects it (the count served is ``output - value``), or to the
    fold's end when no later call did. Both sides computed alike, from what the client holds."""
    values, results, returned = run["values"], run["results"], run["returned"]
    n, total, j, lags = len(values), float(run["base"]), 0, []
    for i in range(n):
        total += values[i]  # the count once event i is in the state
        j = max(j, i + 1)
        while j < n and results[j] - values[j] < total:
            j += 1
        lags.append((returned[j] if j < n else run["folded"]) - returned[i])
    return lags


def summarize(run: dict[str, Any], counter: bool) -> dict[str, Any]:
    """One serve run: calls per second until every event is in the state (``rate``), calls per
    second of the calls alone (``calls``), and for the counter the distinct states served and the
    served freshness p50/p99 (seconds)."""
    n = len(run["values"])
    out = {"rate": n / run["folded"], "calls": n / run["returned"][-1],
           "fold_after": run["folded"] - run["returned"][-1]}  # fmt: skip
    if counter:
        lags = served_freshness(run)
        out |= {"states": len({r - v for r, v in zip(run["results"], run["values"], strict=True)}),
                "p50": percentile(lags, 50), "p99": percentile(lags, 99)}  # fmt: skip
    return out


def _spread(values: list[float], fmt: str = ",.0f", unit: str = "/s") -> str:
    return f"{median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}}){unit}"


def _serve_figure(runs: list[dict[str, Any]]) -> str:
    calls = median([r["calls"] for r in runs])
    return f"{_spread([r['rate'] for r in runs])} (calls alone {calls:,.0f}/s)"


def rows(bench: Bench, raw: dict[str, list[Any]], sizes: Sizes) -> None:
    """Append P1-P4 to ``bench.rows``."""
    judged = not bench.sizes.quick
    for pid, name in (("P1", "counter"), ("P2", "ZScore")):
        key = name.lower()
        for suffix, mode, n, label, peer in (
            ("", "on", sizes.durable, "durable commits (fsync on)",
             "Motion, Redis fsyncing every write (appendfsync always)"),
            ("b", "off", sizes.serve, "synchronous_commit = off",
             "Motion, Redis persisting nothing"),
        ):  # fmt: skip
            pg, m = raw[f"{key} pg {mode}"], raw[f"{key} motion {mode}"]
            ratio = median([r["rate"] for r in pg]) / median([r["rate"] for r in m])
            figures = {f"motion_pg {mode}": _serve_figure(pg), peer: _serve_figure(m)}
            note = ""
            if mode == "on":
                off = raw[f"{key} motion off"]
                figures["Motion, Redis persisting nothing (P" + pid[1:] + "b)"] = _serve_figure(off)
                note = ("both durable: a committed row and a Redis write acknowledged after fsync "
                        "survive a crash")  # fmt: skip
            bench.rows.append(Row(
                pid + suffix, f"{name} serve rate until the state includes every event, one "
                f"client, {n:,} calls: motion_pg INSERT … RETURNING with infer, {label} · "
                "Motion run()", figures, f"motion_pg / Motion {ratio:.2f}", "≥ 1",
                None if not judged else ratio >= 1, {"pg": pg, "motion": m}, note,
            ))  # fmt: skip
    p3_row(bench, raw)
    under_pg, under_m = raw["counter pg off"], raw["counter motion off"]
    q_pg = [median([r[q] for r in under_pg]) * 1000 for q in ("p50", "p99")]
    q_m = [median([r[q] for r in under_m]) * 1000 for q in ("p50", "p99")]
    states = (median([r["states"] for r in under_pg]), median([r["states"] for r in under_m]))
    bench.rows.append(Row(
        "P3b", f"state freshness while serving flat out (P1b's {sizes.serve:,} calls): a call's "
        "return → the first later served output that reflects its event",
        {"motion_pg p50/p99": f"{q_pg[0]:.1f} / {q_pg[1]:.1f} ms",
         "Motion p50/p99": f"{q_m[0]:.1f} / {q_m[1]:.1f} ms",
         "distinct states served": f"motion_pg {states[0]:,.0f} · Motion {states[1]:,.0f}"},
        f"Motion / motion_pg {q_m[0] / q_pg[0]:.2f}", "≥ 1",
        None if not judged else q_m[0] >= q_pg[0],
        {"pg": [[r["p50"], r["p99"]] for r in under_pg],
         "motion": [[r["p50"], r["p99"]] for r in under_m]},
    ))  # fmt: skip
    pg_total = [b["total"] for b in raw["bulk pg"]]
    m_total = [b["total"] for b in raw["bulk motion"]]
    ratio = median(m_total) / median(pg_total)
    bench.rows.append(Row(
        "P4", f"bulk: {sizes.bulk:,} events loaded and folded (motion_pg: one INSERT … SELECT, "
        "1 worker; Motion: run() per event, its update thread)",
        {"motion_pg": _spread(pg_total, ".1f", " s") + " (load "
         f"{median([b['load'] for b in raw['bulk pg']]):.1f} s)",
         "Motion": _spread(m_total, ".1f", " s") + " (load "
         f"{median([b['load'] for b in raw['bulk motion']]):.1f} s)"},
        f"Motion / motion_pg {ratio:.2f}", "≥ 1", None if not judged else ratio >= 1,
        {"pg": raw["bulk pg"], "motion": raw["bulk motion"]},
    ))  # fmt: skip


def p3_row(bench: Bench, raw: dict[str, list[Any]]) -> None:
    """Append P3 (freshness at a trickle) from the raw seconds of both sides: met when motion_pg's
    p50 and p99 are both below Motion's."""
    fresh_pg, fresh_m = raw["fresh pg"], raw["fresh motion"]
    p50_pg, p50_m = percentile(fresh_pg, 50) * 1000, percentile(fresh_m, 50) * 1000
    p99_pg, p99_m = percentile(fresh_pg, 99) * 1000, percentile(fresh_m, 99) * 1000
    judged = not bench.sizes.quick
    bench.rows.append(Row(
        "P3", "state freshness at a trickle (~20 events/s): commit (Motion: run() returned) → a "
        "stored state that includes the event",
        {"motion_pg p50/p99": f"{p50_pg:.1f} / {p99_pg:.1f} ms",
         "Motion p50/p99": f"{p50_m:.1f} / {p99_m:.1f} ms"},
        f"Motion / motion_pg {p50_m / p50_pg:.2f} (p99 {p99_m / p99_pg:.2f})", "≥ 1 (p50 and p99)",
        None if not judged else p50_m >= p50_pg and p99_m >= p99_pg,
        {"pg": fresh_pg, "motion": fresh_m},
    ))  # fmt: skip
