"""A plain fit call's first round trip in the fit process: BEGIN, the trigger's catalog row and
the events' typed rows, read with the definition this process loaded last (read again only when
the row says the trigger changed).

With the state this process wrote last kept (:mod:`.folding`), this is all a fit call reads
before the fit runs; the commit pipeline (:mod:`.group_commit`) is the call's second and last
round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motion_pg.errors import FitError
from motion_pg.trigger import Event
from motion_pg.worker import typed_events
from motion_pg.worker.fit_definition import JOBS, MOTION_PATH, Definition, head_of
from motion_pg.worker.pgtypes import Result
from motion_pg.worker.typed_events import Groups

if TYPE_CHECKING:
    from motion_pg.worker.fitting import FitComputer


@dataclass
class Opened:
    """A fit call's first round trip: the definition, the version to fold onto, the typed
    events, and whether the user's search_path is set already."""

    definition: Definition
    version: int | None
    groups: Groups
    user_path: bool


def first_row(result: Result) -> dict[str, Any] | None:
    """The first row of ``result`` as a dict, or None."""
    names, rows = result
    return dict(zip(names, rows[0], strict=True)) if rows else None


def open_call(computer: FitComputer, trigger: str, events: list[Event]) -> Opened:
    """BEGIN, the catalog row and the typed events in one round trip, read with the definition
    loaded last; read again when the row says it changed."""
    first = f"BEGIN; {MOTION_PATH}; "
    definitions, user_db = computer.definitions, computer.user_db
    cached = definitions.cached(trigger)
    if cached is not None:
        groups = typed_events.grouped(events, cached)
        try:
            texts = typed_events.reads(user_db, trigger, groups, cached, JOBS)
        except FitError:  # a relation gone: the definition read below says why
            cached = None
    if cached is None:
        definition, version, _ = computer.definition(trigger, first)
        return Opened(definition, version, [], user_path=False)
    batch = [first + definitions.statement(trigger), *texts,
             computer.user_path(cached.search_path)]  # fmt: skip
    results = user_db.fetch_sets("; ".join(batch))
    row = first_row(results[2])  # BEGIN, the search_path, the row, the reads, the search_path
    if row is not None and cached.matches(row):
        groups = typed_events.fill(trigger, groups, cached, results[3 : 3 + len(texts)])
        return Opened(cached, head_of(row), groups, user_path=True)
    computer.conn.execute(MOTION_PATH)  # redefined meanwhile: load it, read the events again
    definition = definitions.of(trigger, row)
    assert row is not None
    return Opened(definition, head_of(row), [], user_path=False)
