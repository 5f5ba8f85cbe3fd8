"""``motion.compare(a, b, …)``: the comparison report of a live experiment, computed in the server.

Both sides' outputs come from ``motion.shadow_outputs`` (the latest record per row, since the
experiment began or ``since``): the rows both inferred are paired by relation and row key. The
report holds rows seen, agreement per output column (a confusion table for categorical ones: text
and booleans), infer latency p50/p99 and error rate of each side, fit runs and time and the serving
state's size; with a ``label`` column, each side's accuracy on the paired rows whose label is set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from motion_pg.errors import DefinitionError, UnknownColumn, unknown_trigger
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase

MAX_CATEGORIES = 50  # a column with more distinct values gets no confusion table
Records = dict[tuple[str, str], dict[str, Any]]  # (relation, row key as jsonb text) -> record


def report(
    db: PlpyDatabase,
    a: str,
    b: str,
    *,
    label: str | None = None,
    since: str | None = None,
    label_output: str | None = None,
    label_at: str | None = None,
) -> dict[str, Any]:
    """The comparison of triggers ``a`` and ``b`` (see the module docstring). ``label_at``: a
    timestamp column of the relation holding when the label was set; then only rows labelled
    since ``since`` (default: since the experiment began) are graded. Without it a row counts
    when its label is set now and both sides inferred it since then (when the label was set is
    not known): the report says which in ``label.labelled``."""
    for name in (a, b):
        if not db.query(query("trigger_definition"), [name]):
            raise unknown_trigger(name)
    experiment = _experiment(db, a, b)
    start = since if since is not None else str(experiment["started_at"])
    records = {n: _records(db, n, start) for n in (a, b)}
    paired = sorted(set(records[a]) & set(records[b]))
    both = [(records[a][k], records[b][k]) for k in paired
            if records[a][k]["outputs"] is not None and records[b][k]["outputs"] is not None]  # fmt: skip
    out: dict[str, Any] = {
        "a": a,
        "b": b,
        "experiment": {k: (str(v) if k == "started_at" else v) for k, v in experiment.items()},
        "since": start,
        "rows": {
            "a": len(records[a]),
            "b": len(records[b]),
            "both": len(paired),
            "both_inferred": len(both),
        },
        "columns": _columns(both),
        "variants": {n: _variant(db, n, start) for n in (a, b)},
    }
    if label is not None:
        out["label"] = _label(db, label, label_output, records, paired, a, b, label_at, start)
    return out


def _experiment(db: PlpyDatabase, a: str, b: str) -> dict[str, Any]:
    """The experiment relating ``a`` and ``b``: one against the other, or both against one."""
    own = {n: db.query(query("experiment_of"), [n]) for n in (a, b)}
    for name, other in ((b, a), (a, b)):
        rows = own[name]
        if rows and rows[0]["baseline"] == other:
            return {"trigger": name, "baseline": other, "kind": rows[0]["kind"],
                    "percent": rows[0]["percent"], "started_at": rows[0]["started_at"]}  # fmt: skip
    if own[a] and own[b] and own[a][0]["baseline"] == own[b][0]["baseline"]:
        later = max(own[a][0]["started_at"], own[b][0]["started_at"])
        return {"trigger": b, "baseline": own[b][0]["baseline"], "kind": "sibling",
                "percent": None, "started_at": later}  # fmt: skip
    raise DefinitionError(
        f'motion triggers "{a}" and "{b}" run no experiment against each other',
        hint=f"CREATE MOTION TRIGGER {b} … SHADOW OF {a} (or CANARY OF {a} (10)) starts one",
    )


def _records(db: PlpyDatabase, name: str, start: str) -> Records:
    found: Records = {}
    for r in db.query(query("compare_records"), [name, start]):
        raw = r["outputs"]
        r["outputs"] = json.loads(raw) if isinstance(raw, str) else raw
        found[(r["relation"], str(r["row_key"]))] = r
    return found


def _equal(x: Any, y: Any) -> bool:
    numbers = isinstance(x, int | float) and isinstance(y, int | float)
    if numbers and (isinstance(x, float) or isinstance(y, float)):
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
    return bool(x == y)


def _categorical(values: Sequence[Any]) -> bool:
    return all(isinstance(v, str | bool) or v is None for v in values)


def _columns(both: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    names: list[str] = []
    for ra, rb in both:
        names.extend(c for c in (*ra["outputs"], *rb["outputs"]) if c not in names)
    columns: dict[str, Any] = {}
    for column in names:
        pairs = [(ra["outputs"][column], rb["outputs"][column]) for ra, rb in both
                 if column in ra["outputs"] and column in rb["outputs"]]  # fmt: skip
        agree = sum(_equal(x, y) for x, y in pairs)
        entry: dict[str, Any] = {
            "compared": len(pairs),
            "agreement": round(agree / len(pairs), 6) if pairs else None,
        }
        flat = [v for p in pairs for v in p]
        if pairs and _categorical(flat) and len({json.dumps(v) for v in flat}) <= MAX_CATEGORIES:
            confusion: dict[str, dict[str, int]] = {}
            for x, y in pairs:
                row = confusion.setdefault(_text(x), {})
                row[_text(y)] = row.get(_text(y), 0) + 1
            entry["confusion"] = confusion
        elif pairs and all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
            entry["mean_abs_diff"] = round(sum(abs(x - y) for x, y in pairs) / len(pairs), 6)
        columns[column] = entry
    return columns


def _text(value: Any) -> str:
    """A value as Postgres writes it as text (booleans as true/false, NULL as null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)


def _variant(db: PlpyDatabase, name: str, start: str) -> dict[str, Any]:
    rows = db.query(query("compare_latencies"), [name, start])
    latencies = [float(r["latency_seconds"]) for r in rows]
    errors = sum(1 for r in rows if r["failed"])
    fits = db.query(query("compare_fits"), [name, start])[0]
    state = db.query(query("compare_state"), [name])[0]
    return {
        "infers": len(rows),
        "errors": errors,
        "error_rate": round(errors / len(rows), 6) if rows else None,
        "latency_p50_ms": _ms(percentile(latencies, 0.5)),
        "latency_p99_ms": _ms(percentile(latencies, 0.99)),
        "fit_runs": int(fits["runs"]),
        "fit_events": int(fits["events"]),
        "fit_mean_seconds": fits["mean_seconds"],
        "fit_p50_seconds": fits["p50_seconds"],
        "serving_version": state["version"],
        "state_bytes": int(state["state_bytes"] or 0),
    }


def _label(
    db: PlpyDatabase,
    label: str,
    label_output: str | None,
    records: Mapping[str, Records],
    paired: Sequence[tuple[str, str]],
    a: str,
    b: str,
    label_at: str | None,
    start: str,
) -> dict[str, Any]:
    outputs: set[str] = set()
    for side in (a, b):
        for key in paired:
            outputs.update(records[side][key]["outputs"] or {})
    output = label_output or _label_output(label, outputs)
    labels: dict[tuple[str, str], str] = {}
    for relation in sorted({rel for rel, _ in paired}):
        keys = [k for rel, k in paired if rel == relation]
        found = _labels(db, relation, label, keys, label_at, start)
        labels.update({(relation, k): v for k, v in found.items()})
    labelled = (
        f"{label} set since {start} (by {label_at}), on rows both sides inferred since then"
        if label_at is not None
        else f"{label} set now, on rows both sides inferred since {start} (when it was set is not "
        "recorded: give label_at, a column holding that time, to grade only labels set since)"
    )
    result: dict[str, Any] = {"column": label, "output": output, "rows": len(labels),
                              "label_at": label_at, "labelled": labelled}  # fmt: skip
    for side in (a, b):
        right = sum(
            1 for k, v in labels.items()
            if (records[side][k]["outputs"] or {}).get(output, None) is not None
            and _text(records[side][k]["outputs"][output]) == v
        )  # fmt: skip
        result[side] = {"correct": right,
                        "accuracy": round(right / len(labels), 6) if labels else None}  # fmt: skip
    return result


def _label_output(label: str, outputs: set[str]) -> str:
    """The output column a label is compared with: the same name, the one named ``*_label``, or
    the only one; else the caller must name it."""
    if label in outputs:
        return label
    suffixed = sorted(o for o in outputs if o.endswith("_" + label))
    if len(suffixed) == 1:
        return suffixed[0]
    if len(outputs) == 1:
        return next(iter(outputs))
    raise DefinitionError(
        f"cannot tell which output column label {label!r} grades (outputs: "
        f"{', '.join(sorted(outputs)) or 'none'})",
        hint="name it: motion.compare(a, b, label => …, label_output => 'column')",
    )


def _labels(
    db: PlpyDatabase, relation: str, label: str, keys: list[str], label_at: str | None, start: str
) -> dict[str, str]:
    """``{row key: label text}`` of the rows of ``relation`` with these keys and a label set (at
    or after ``start`` by column ``label_at``, when given)."""
    found = db.query(query("compare_relation"), [relation])
    if not found:
        return {}  # the relation was dropped since
    rel = sql.Identifier(found[0]["schema"], found[0]["name"])
    names = [c["name"] for c in db.query(query("relation_columns"), [found[0]["relid"]])]
    for what, column in (("label", label), ("label_at", label_at)):
        if column is not None and column not in names:
            raise UnknownColumn(
                f'{what} column "{column}" of relation {relation} does not exist',
                hint=f"its columns are: {', '.join(names)}",
            )
    key_columns = list(json.loads(keys[0])) if keys else []
    if not keys or not set(key_columns) <= set(names):
        return {}
    statement = sql.SQL(
        "SELECT k.key::text AS key, t.{label}::text AS label "
        "FROM pg_catalog.unnest($1::text[]) AS k(key) "
        "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::{rel}, k.key::jsonb) AS p "
        "JOIN {rel} AS t ON {match} WHERE t.{label} IS NOT NULL{since}"
    ).format(
        label=sql.Identifier(label), rel=rel,
        since=sql.SQL("") if label_at is None else sql.SQL(
            " AND t.{} >= $2::timestamptz").format(sql.Identifier(label_at)),
        match=sql.SQL(" AND ").join(
            sql.SQL("t.{c} = p.{c}").format(c=sql.Identifier(c)) for c in key_columns
        ),
    )  # fmt: skip
    rows = db.query(statement.as_string(None), [keys] if label_at is None else [keys, start])
    return {r["key"]: r["label"] for r in rows}
