"""Group commit of fit calls: one version per ``fit_batch`` slice, one transaction per group.

With ``fit_batch = 1`` every event is a fit call: a claim round trip, a hand-off to the fit
process, a round trip to open the call and a commit (a WAL flush) each. When more events of a
trigger are pending than ``fit_batch`` allows in one call, the claim takes several calls' worth
(within the worker's budget: time, bytes, and at most ``GROUP_EVENTS`` events), and the fit
process runs the fit once per slice of ``fit_batch`` events, oldest first, each slice folded onto
the state the previous one computed (never read back). Every slice still makes its own version,
run and lineage (:mod:`.group_commit`), and all of them commit in one transaction:

- a slice whose fit raises fails like a single call: the slices before it commit, its own
  ``ctx.db`` writes roll back to the savepoint taken before its first statement, its events are
  retried or parked as dead with its traceback, and the events after it are pending again,
  untouched (their attempts are not counted);
- no slice starts after ``group_seconds`` (the budget's time, at most half the fit timeout), so a
  group delays its first version by at most that much beyond its own fit;
- a fit process that dies or times out mid-group commits nothing: the worker hands every event
  back untouched and fits the next ones one call at a time (``Budget.hold``), so a slice that
  kills the process fails alone.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import psycopg

from motion_pg.settings import Settings
from motion_pg.trigger import Event
from motion_pg.worker import shared_cache, validation
from motion_pg.worker.committing import Claim
from motion_pg.worker.fit_definition import MOTION_PATH, Definition
from motion_pg.worker.folding import Written, fold_updates
from motion_pg.worker.group_commit import Slice, commit_slices, remember
from motion_pg.worker.keyed_claim import KeyedClaim
from motion_pg.worker.pgtypes import Result, TypedDatabase
from motion_pg.worker.typed_events import Groups

if TYPE_CHECKING:
    from motion_pg.worker.fitting import FitComputer

# the most events one group takes, whatever fit_batch (also in motion._claim_plain)
GROUP_EVENTS = 10_000


class SliceFailed(Exception):
    """A slice of a group failed: ``run_id`` holds its events (running, for the worker to fail),
    ``events`` the slice's event ids, ``fitted`` the events committed before it."""

    def __init__(self, run_id: int, events: list[int], error: str, fitted: int) -> None:
        super().__init__(error)
        self.run_id = run_id
        self.events = events
        self.error = error
        self.fitted = fitted


def call_size(claim: Claim, settings: Settings) -> int:
    """The events of one fit call of ``claim``: the trigger's fit_batch, else the worker's (0:
    the claim is one call: a keyed claim, or one the worker did not size)."""
    if isinstance(claim, KeyedClaim):
        return 0
    return settings.fit_batch or claim.slice_events


def is_group(claim: Claim, size: int) -> bool:
    """Whether ``claim`` holds more events than one fit call of ``size`` events takes."""
    return 0 < size < len(claim.events)


def slices(events: list[Event], size: int) -> list[list[Event]]:
    """``events`` (oldest first) cut into fit calls of ``size`` events."""
    return [events[i : i + size] for i in range(0, len(events), size)]


def split(groups: Groups, cuts: list[list[Event]]) -> list[Groups]:
    """The typed ``groups`` (by consecutive route) of each slice of ``cuts``."""
    last = {e.id: k for k, cut in enumerate(cuts) for e in cut}
    out: list[Groups] = [[] for _ in cuts]
    for route, events in groups:
        for event in events:
            mine = out[last[event.id]]
            if mine and mine[-1][0] is route:
                mine[-1][1].append(event)
            else:
                mine.append((route, [event]))
    return out


class SliceDatabase:
    """``ctx.db`` of one slice: a savepoint before the slice's first statement, so a failing
    slice's writes roll back alone (a slice that writes nothing costs no round trip)."""

    def __init__(self, db: TypedDatabase) -> None:
        self.db = db
        self.conn = db.conn
        self.saved = False

    def start(self) -> None:
        """A new slice begins."""
        self.saved = False

    def save(self) -> None:
        if not self.saved:
            self.conn.execute("SAVEPOINT motion_slice")
            self.saved = True

    def undo(self) -> None:
        """Roll the slice's writes back (the transaction goes on)."""
        if self.saved:
            self.conn.execute("ROLLBACK TO SAVEPOINT motion_slice")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.save()
        return self.db.query(sql, params)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> Result:
        self.save()
        return self.db.fetch(sql, params)

    def fetch_sets(self, sql: str) -> list[Result]:
        self.save()
        return self.db.fetch_sets(sql)


def fit_group(
    computer: FitComputer, claim: Claim, definition: Definition, version: int | None,
    state: Mapping[str, Any], groups: Groups, memory: Written | None,
) -> tuple[int | None, int]:  # fmt: skip
    """Fit and commit ``claim``'s slices in order in the open transaction; returns the last
    version written (None without one) and the events committed. Raises :class:`SliceFailed`
    when a slice failed (the slices before it are committed)."""
    trigger, settings = claim.trigger, definition.settings
    cuts = slices(claim.events, call_size(claim, settings))
    deadline = time.monotonic() + claim.group_seconds
    db = SliceDatabase(computer.user_db)
    done: list[Slice] = []
    failed: list[Event] = []
    error = ""
    head, current = version, state
    for k, (cut, typed) in enumerate(zip(cuts, split(groups, cuts), strict=True)):
        if k and time.monotonic() > deadline:
            break  # the rest waits for the next claim
        db.start()
        try:
            if settings.expect is not None:  # recorded violations are the slice's writes too
                db.save()
            typed = validation.screen(computer.db, trigger, settings, definition.keys, typed)
            merged = computer.updates(trigger, definition, head, current, typed, db)
            folded = fold_updates(trigger, merged)
            shared_cache.publish(computer.db, trigger, folded)
        except Exception as e:
            if computer.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                raise  # the fit ended the transaction: nothing of the group can commit
            db.undo()
            failed, error = cut, "".join(traceback.format_exception(e))
            break
        done.append(Slice(cut, folded))
        if folded.pickled:
            head = (head or 0) + 1
            current = MappingProxyType({**current, **folded.copies})
    if not done:
        raise SliceFailed(claim.run_id, [e.id for e in failed], error, 0)
    known = memory.digests if memory is not None else {}
    committed = commit_slices(computer.conn, claim, done, failed, motion_path=MOTION_PATH,
                              deployed=definition.deployed, code_digest=definition.code_digest,
                              known=known)  # fmt: skip
    fitted = sum(len(s.events) for s in done)
    remember(computer.memory, trigger, definition.revision, version, state, known, done,
             committed.versions)  # fmt: skip
    if committed.failed_run is not None:
        raise SliceFailed(committed.failed_run, [e.id for e in failed], error, fitted)
    written = [v for v, _ in committed.versions if v is not None]
    return (written[-1] if written else None), fitted
