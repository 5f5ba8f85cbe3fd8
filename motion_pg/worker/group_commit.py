"""The end of every fit call: its slices' runs, versions, entries and job log rows written by one
statement, committed with the fit's own ``ctx.db`` writes in one round trip.

A fit call commits one slice (all its events, one version) or, in a group (:mod:`.grouping`),
one slice per ``fit_batch`` events, each with its own run, version and job log rows. The claim
opened one run; the first slice keeps it (narrowed to the slice's events when the group was cut
short) and every later slice gets a run of its own, its id drawn by the statement itself. One
statement (``fold_group``) writes them all: per slice, a statement of its own cost ~0.9 ms of
server time (one running run per trigger made each new run's unique check visit every run the
transaction had opened before). The end is one pipeline, one round trip (psycopg's pipeline
mode): the row lock, ``fold_group``, the fence of the claim's run, the run of a failed slice's
events (if any), then COMMIT. The fence raises when ``fold_group`` wrote nothing (the run is no
longer this worker's, or the code was deployed again while the fit ran), so the COMMIT rolls back
and the user's ``ctx.db`` writes with it. A failed slice's events stay in a running run of their
own, which the worker fails like any fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import psycopg

from motion_pg.errors import FitError
from motion_pg.queries import query
from motion_pg.trigger import Event
from motion_pg.worker.committing import Claim, LostRun
from motion_pg.worker.folding import Folded, StateMemory

# values smaller than this are always sent: looking up whether the database holds them already is
# dearer than sending them again
SEND_ALWAYS = 64 * 1024
# sent after fold_group with the COMMIT (sql/idempotent/250-fitcall.sql); _LOST: its SQLSTATE
# when the run is no longer ours
FENCE = "SELECT motion._fit_fence($1::bigint, $2::text, $3::text, $4::text)"
_LOST = "MP410"
# how fold_group is planned: a call of up to SMALL events (a trickle) runs the plan cached for the
# statement (planning it costs ~0.9 ms, more than running it for one event, and the server's
# default mode plans it again for every call); a larger call or a group is planned as the server
# chooses (for its own sizes: the cached plan assumes ~100 rows per array)
SMALL = 100
PLANS = {
    True: "SELECT pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)",
    False: "SELECT pg_catalog.set_config('plan_cache_mode', 'auto', true)",
}


@dataclass
class Slice:
    """A slice fitted and ready to commit: its events and its folded updates."""

    events: list[Event]
    folded: Folded


@dataclass
class Committed:
    """What a call's commit wrote: per slice (version written or None, version folded onto),
    and the run left running for the failed slice's events (None without one)."""

    versions: list[tuple[int | None, int | None]]
    failed_run: int | None


def fold_params(
    claim: Claim, slices: Sequence[Slice], code_digest: str | None, deployed: str | None,
    known: Mapping[str, bytes],
) -> list[Any]:  # fmt: skip
    """The parameters of ``fold_group`` for ``slices``: a large value whose blob the database
    holds (its digest in ``known``, or written by an earlier slice) is not sent again."""
    events: list[int] = []
    owner: list[int] = []
    ords: list[int] = []
    keys: list[str] = []
    digests: list[bytes] = []
    data: list[bytes | None] = []
    seen = dict(known)
    for k, s in enumerate(slices, start=1):
        events.extend(e.id for e in s.events)
        if len(slices) > 1:  # one slice: the statement numbers its events itself
            owner.extend([k] * len(s.events))
        for key, pickled in s.folded.pickled.items():
            digest = s.folded.digests[key]
            ords.append(k)
            keys.append(key)
            digests.append(digest)
            data.append(None if len(pickled) >= SEND_ALWAYS and seen.get(key) == digest
                        else pickled)  # fmt: skip
        seen.update(s.folded.digests)
    return [claim.trigger, claim.run_id, claim.worker_id, len(slices), events,
            owner if len(slices) > 1 else None, ords, keys, digests, data, code_digest,
            deployed]  # fmt: skip


def raise_fenced(claim: Claim, e: psycopg.Error) -> NoReturn:
    """Raise what the fence's error ``e`` means: :class:`FitError` (code deployed again),
    :class:`LostRun` (the run is no longer ours), else ``e`` itself."""
    if e.sqlstate == FitError.sqlstate:
        raise FitError(f'motion trigger "{claim.trigger}": its code was deployed again while '
                       "this fit ran", hint="the fit is retried with the deployed code") from None  # fmt: skip
    if e.sqlstate == _LOST:
        raise LostRun(claim.run_id) from None
    raise e


def commit_slices(
    conn: psycopg.Connection[Any], claim: Claim, slices: Sequence[Slice], failed: list[Event],
    *, motion_path: str, deployed: str | None, code_digest: str | None,
    known: Mapping[str, bytes],
) -> Committed:  # fmt: skip
    """Commit ``slices`` (at least one) in the caller's open transaction, each as its own run and
    version folded onto the newest one at commit time, and leave the ``failed`` slice's events
    (if any) in a running run of their own. ``known`` maps keys to digests of blobs the database
    holds (large ones are not sent again). Raises :class:`LostRun` when the run is no longer ours
    or the trigger is gone, and :class:`FitError` when the code was deployed again while the fit
    ran; nothing is written then, and the caller rolls back."""
    params = fold_params(claim, slices, code_digest, deployed, known)
    opened = None
    try:
        with conn.pipeline():
            conn.execute(motion_path)
            conn.execute(PLANS[len(slices) == 1 and len(slices[0].events) <= SMALL])
            # the row lock first, in a statement of its own: fold_group's snapshot then sees every
            # version written before it (deploys and SET STATE take the same lock)
            psycopg.RawCursor(conn).execute(query("trigger_code_for_update"), [claim.trigger])
            cur = psycopg.RawCursor(conn)
            cur.execute(query("fold_group"), params)
            psycopg.RawCursor(conn).execute(FENCE, [claim.run_id, claim.worker_id, claim.trigger,
                                                    deployed])  # fmt: skip
            if failed:  # its events wait in a run of their own for the worker to fail them
                opened = psycopg.RawCursor(conn)
                opened.execute(query("slice_run"), [claim.run_id, claim.worker_id,
                                                    [e.id for e in failed]])  # fmt: skip
            conn.execute("COMMIT")
        row = cur.fetchone()  # all of it in one round trip: the pipeline's closing sync
        failed_run = opened.fetchone() if opened is not None else None
    except psycopg.Error as e:
        raise_fenced(claim, e)
    assert row is not None
    _found, _code_ok, fenced, versions, parents = row
    if not fenced:  # the fence raises first: a safeguard
        raise LostRun(claim.run_id)
    return Committed(list(zip(versions, parents, strict=True)),
                     int(failed_run[0]) if failed_run is not None else None)  # fmt: skip


def remember(
    memory: StateMemory, trigger: str, revision: int, version: int | None,
    state: Mapping[str, Any], known: Mapping[str, bytes], slices: Sequence[Slice],
    versions: list[tuple[int | None, int | None]],
) -> None:  # fmt: skip
    """Remember the last version ``slices`` wrote onto ``version`` (whose ``state`` the fit
    folded onto), unless a slice was folded onto a version the fit process did not compute
    (written meanwhile): then the next call reads it back."""
    head = version
    for written, parent in versions:
        if written is None:
            continue
        if parent != head:
            memory.forget(trigger)
            return
        head = written
    if head is None or head == version:
        return  # nothing written: what is remembered still holds
    merged = Folded({}, {}, {})
    for s in slices:
        merged.digests.update(s.folded.digests)
        merged.copies.update(s.folded.copies)
    memory.remember(trigger, revision, head, state, known, merged)
