"""The end of a group of fit calls (:mod:`.grouping`) in one transaction: each slice its own run,
version and job log rows, all committed together.

The claim opened one run for the whole group. Its first slice keeps that run (narrowed to the
slice's events); every later slice gets a run of its own, with ids drawn beforehand. One statement
(``fold_group``) then writes every slice's run, version, entries and job log rows at once: per
slice, ``fold_commit`` cost ~0.9 ms of server time (one running run per trigger made each new
run's unique check visit every run the transaction had opened before). The end is one pipeline:
the row lock, ``fold_group``, the fence of the group's run (the statement wrote nothing unless
that run was still this worker's and the code still the one the fit ran), then COMMIT. A failed
slice's events stay in a running run of their own, which the worker fails like any fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from motion_pg.queries import query
from motion_pg.trigger import Event
from motion_pg.worker.committing import Claim, LostRun
from motion_pg.worker.folding import FENCE, SEND_ALWAYS, Folded, raise_fenced


@dataclass
class Slice:
    """A slice fitted and ready to commit: its events and its folded updates."""

    events: list[Event]
    folded: Folded


@dataclass
class Committed:
    """What a group's commit wrote: per slice (version written or None, version folded onto),
    and the run left running for the failed slice's events (None without one)."""

    versions: list[tuple[int | None, int | None]]
    failed_run: int | None


def commit_group(
    conn: psycopg.Connection[Any], claim: Claim, slices: Sequence[Slice], failed: list[Event],
    *, motion_path: str, deployed: str | None, code_digest: str | None,
    known: Mapping[str, bytes],
) -> Committed:  # fmt: skip
    """Commit ``slices`` (at least one) in the caller's open transaction, each as its own run and
    version, and leave the ``failed`` slice's events (if any) in a running run of their own.
    Raises :class:`LostRun` or :class:`~motion_pg.errors.FitError` like
    :func:`~motion_pg.worker.folding.commit_fold`; nothing is written then."""
    extra = len(slices) - 1 + (1 if failed else 0)
    ids: list[int] = []
    if extra:
        with psycopg.RawCursor(conn) as cur:
            cur.execute(query("group_run_ids"), [extra])
            ids = [int(r[0]) for r in cur.fetchall()]
    runs = [claim.run_id, *ids]
    events: list[int] = []
    owner: list[int] = []
    ords: list[int] = []
    keys: list[str] = []
    digests: list[bytes] = []
    data: list[bytes | None] = []
    seen = dict(known)  # blobs written by earlier slices are in the database too
    for k, s in enumerate(slices, start=1):
        events.extend(e.id for e in s.events)
        owner.extend([k] * len(s.events))
        for key, pickled in s.folded.pickled.items():
            digest = s.folded.digests[key]
            ords.append(k)
            keys.append(key)
            digests.append(digest)
            data.append(None if len(pickled) >= SEND_ALWAYS and seen.get(key) == digest
                        else pickled)  # fmt: skip
        seen.update(s.folded.digests)
    params = [claim.trigger, claim.run_id, claim.worker_id, runs[: len(slices)], events, owner,
              ords, keys, digests, data, code_digest, deployed]  # fmt: skip
    try:
        with conn.pipeline():
            conn.execute(motion_path)
            psycopg.RawCursor(conn).execute(query("trigger_code_for_update"), [claim.trigger])
            cur = psycopg.RawCursor(conn)
            cur.execute(query("fold_group"), params)
            psycopg.RawCursor(conn).execute(FENCE, [claim.run_id, claim.worker_id, claim.trigger,
                                                    deployed])  # fmt: skip
            if failed:  # its events wait in a run of their own for the worker to fail them
                psycopg.RawCursor(conn).execute(query("slice_run"), [
                    runs[-1], claim.run_id, claim.worker_id, [e.id for e in failed]])  # fmt: skip
            conn.execute("COMMIT")
        row = cur.fetchone()
    except psycopg.Error as e:
        raise_fenced(claim, e)
    assert row is not None
    _found, _code_ok, fenced, versions, parents = row
    if not fenced:  # the fence raises first: a safeguard
        raise LostRun(claim.run_id)
    return Committed(list(zip(versions, parents, strict=True)), runs[-1] if failed else None)
