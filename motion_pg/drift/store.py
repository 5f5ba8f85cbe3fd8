"""Drift profiles, figures and status in the catalog: building the reference (from the routed
relations' rows at setup and REFIT, or pinned from recent events), testing the current window of
events against it, and recording what was found.

Works on any :class:`~motion_pg.trigger.Database` (the backend's at CREATE and REFIT, the worker's
and the CLI's connections), through named queries.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motion_pg.drift.profile import build_profile, column_kind
from motion_pg.queries import query
from motion_pg.trigger import Database

if TYPE_CHECKING:
    from motion_pg.drift.stats import Figure

SAMPLE_ROWS = 2000  # rows of a relation a reference is built from
FIRST_EVENTS = 200  # events (at most drift_window) that become the reference of an empty relation
DRIFT_SHARE = 0.5  # a trigger drifts when this share of its judged columns drifted (Evidently)


@dataclass(frozen=True)
class Column:
    """A profiled column of a route's relation."""

    route: int
    relid: int
    relation: str
    name: str
    type_name: str
    is_enum: bool


@dataclass(frozen=True)
class Status:
    """The outcome of one check: the share of drifted columns, whether that is a drift (and was
    one before), and the newest event the current profiles hold."""

    share: float
    drifted: bool
    was_drifted: bool
    judged: int
    last_event_id: int | None


def columns(db: Database, trigger: str) -> dict[int, list[Column]]:
    """The profiled columns of each relation route: every column but the key and lineage ones,
    so the route's inputs and infer's outputs."""
    routes: dict[int, list[Column]] = defaultdict(list)
    for r in db.query(query("drift_columns"), [trigger]):
        routes[int(r["route"])].append(
            Column(int(r["route"]), int(r["relid"]), r["relation"], r["column_name"],
                   r["type_name"], bool(r["is_enum"]))
        )  # fmt: skip
    return dict(routes)


def as_dict(value: Any) -> dict[str, Any]:
    """A jsonb value as a dict (PL/Python gives text, psycopg a dict)."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def _write_profiles(
    db: Database, trigger: str, route: list[Column], rows: list[dict[str, Any]], side: str,
    source: str, kinds: dict[str, str] | None = None,
) -> dict[str, tuple[str, dict[str, Any]]]:  # fmt: skip
    """Profile ``rows`` for each column (kinds decided from the rows unless given)."""
    built: dict[str, tuple[str, dict[str, Any]]] = {}
    for column in route:
        values = [row.get(column.name) for row in rows]
        kind = (
            (kinds or {}).get(column.name)
            if kinds is not None
            else column_kind(column.type_name, column.is_enum, values)
        )
        if kind is None:
            continue
        profile = build_profile(kind, values)
        db.query(query("write_drift_profile"),
                 [trigger, column.route, column.name, side, kind, json.dumps(profile), source])  # fmt: skip
        built[column.name] = (kind, profile)
    return built


def build_reference(db: Database, trigger: str, source: str) -> int:
    """Rebuild the reference from a sample of the routed relations' rows now (the data setup saw);
    forget the figures measured against the previous one. Returns the profiles written."""
    reset(db, trigger)
    written = 0
    for route in columns(db, trigger).values():
        rows = [as_dict(r["row"]) for r in db.query(query("drift_relation_sample"),
                                                 [route[0].relid, SAMPLE_ROWS])]  # fmt: skip
        if rows:
            written += len(_write_profiles(db, trigger, route, rows, "reference", source))
    return written


def pin(db: Database, trigger: str, window: int) -> int:
    """Make the current window of events the reference (``motion-pg drift --pin``)."""
    reset(db, trigger)
    written = 0
    kinds = _reference_kinds(db, trigger)
    for ordinal, route in columns(db, trigger).items():
        rows = [as_dict(r["row_data"]) for r in db.query(query("drift_events"),
                                                      [trigger, ordinal, window])]  # fmt: skip
        if rows:
            known = kinds.get(ordinal)
            written += len(_write_profiles(db, trigger, route, rows, "reference", "pin", known))
    return written


def reset(db: Database, trigger: str) -> None:
    """Forget the figures and the drift verdict (a new reference makes them stale)."""
    db.query(query("reset_drift_figures"), [trigger])
    db.query(query("reset_drift_status"), [trigger])


def _reference_kinds(db: Database, trigger: str) -> dict[int, dict[str, str]]:
    kinds: dict[int, dict[str, str]] = defaultdict(dict)
    for r in db.query(query("drift_reference"), [trigger]):
        kinds[int(r["route"])][r["column_name"]] = r["kind"]
    return dict(kinds)


def check(db: Database, trigger: str, window: int) -> Status:
    """Test the latest ``window`` events of each route against the reference and record the
    figures and the trigger's status. A route without a reference takes its first full window
    of events as one (source ``first events``)."""
    from motion_pg.drift.stats import compare  # scipy: never imported by the backend

    references: dict[int, dict[str, tuple[str, dict[str, Any]]]] = defaultdict(dict)
    for r in db.query(query("drift_reference"), [trigger]):
        profile = as_dict(r["profile"])
        references[int(r["route"])][r["column_name"]] = (r["kind"], profile)
    previous = db.query(query("drift_status_of"), [trigger])
    was_drifted = bool(previous and previous[0]["drifted"])
    judged = drifted = 0
    last_event: int | None = None
    for ordinal, route in columns(db, trigger).items():
        events = db.query(query("drift_events"), [trigger, ordinal, window])
        if events:
            last_event = max(last_event or 0, max(int(e["id"]) for e in events))
        rows = [as_dict(e["row_data"]) for e in events]
        reference = references.get(ordinal)
        if not reference:
            if len(rows) >= min(window, FIRST_EVENTS):
                _write_profiles(db, trigger, route, rows, "reference", "first events")
            continue
        kinds = {name: kind for name, (kind, _) in reference.items()}
        current = _write_profiles(db, trigger, route, rows, "current", "events", kinds)
        for column in route:
            if column.name not in current:
                continue
            kind, ref_profile = reference[column.name]
            figure = compare(kind, ref_profile, current[column.name][1])
            _write_figure(db, trigger, column, kind, figure, ref_profile,
                          current[column.name][1])  # fmt: skip
            if figure.value is not None:
                judged += 1
                drifted += figure.drifted
    share = drifted / judged if judged else 0.0
    is_drifted = judged > 0 and share >= DRIFT_SHARE
    db.query(query("write_drift_status"), [trigger, share, is_drifted, last_event])
    return Status(share, is_drifted, was_drifted, judged, last_event)


def _write_figure(
    db: Database, trigger: str, column: Column, kind: str, figure: Figure,
    reference: dict[str, Any], current: dict[str, Any],
) -> None:  # fmt: skip
    db.query(
        query("write_drift_figure"),
        [trigger, column.route, column.relation, column.name, kind, figure.statistic,
         figure.value, figure.threshold, figure.drifted, int(reference.get("count") or 0),
         int(current.get("count") or 0)],
    )  # fmt: skip


def report(db: Database, trigger: str) -> list[dict[str, Any]]:
    """The rows of ``motion.drift`` for ``trigger``."""
    return db.query(query("drift_report"), [trigger])
