"""The cheap end of a fit call: the state the fit process last wrote, kept, and the version write,
run finish and job completion in one fenced statement.

A fit call used to cost about a dozen round trips to end (lock, head version, next number, version
row, copied entries, each blob and entry, state size, serving, run, jobs) and two more to read the
state it had just written back. Here the fit process remembers the state it committed (the copies
its unpickling check made, so no object the user still holds is shared) and folds the next call
onto it when the trigger's newest version is still that one; and it ends the fit with the row lock,
``fold_commit``, a fence and COMMIT sent together (one round trip, psycopg's pipeline mode): the
fence raises when ``fold_commit`` wrote nothing, so that COMMIT rolls back.
The guarantees do not change: the statement is fenced by the run and the deployed code, and the
user's ``ctx.db`` writes, the version and the completion still commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import dict_row

from motion_pg.errors import FitError
from motion_pg.queries import query
from motion_pg.worker.committing import Claim, LostRun, checked_pickle

# values smaller than this are always sent: looking up whether the database holds them already is
# dearer than sending them again
SEND_ALWAYS = 64 * 1024
# sent after fold_commit with the COMMIT (sql/idempotent/250-fitcall.sql); _LOST: its SQLSTATE
# when the run is no longer ours
FENCE = "SELECT motion._fit_fence($1::bigint, $2::text, $3::text, $4::text)"
_LOST = "MP410"


class Unparsed(Loader):
    """jsonb left as text: the fit process reads each event's row back typed anyway."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


def claim_rows(conn: psycopg.Connection[Any], params: list[Any]) -> list[dict[str, Any]]:
    """The rows of ``claim_jobs`` with ``row_data`` as jsonb text: a bulk claim does not parse
    thousands of rows the fit process reads back typed (:func:`row_of` parses what it needs)."""
    with psycopg.RawCursor(conn, row_factory=dict_row) as cur:
        cur.adapters.register_loader("jsonb", Unparsed)
        cur.execute(query("claim_jobs"), params)
        return cur.fetchall()


def row_of(op: str, row_data: str | None) -> dict[str, Any]:
    """The row an event carries to the fit process: a scheduled firing's own (``{}``), else
    nothing (the fit process reads the row back typed; the claim step does not send it)."""
    return json.loads(row_data) if op == "SCHEDULE" and row_data is not None else {}


@dataclass(frozen=True)
class Written:
    """A version this process wrote: its number, its unpickled state and its values' digests."""

    revision: int
    version: int
    state: Mapping[str, Any]
    digests: Mapping[str, bytes]


@dataclass
class Folded:
    """A fit's updates ready to commit: pickled bytes, their digests and unpickled copies."""

    pickled: dict[str, bytes]
    digests: dict[str, bytes]
    copies: dict[str, Any]


class StateMemory:
    """Per trigger, the last version this fit process wrote, to fold the next fit onto it without
    reading it back. Keyed by the trigger's revision too: a trigger dropped and created again
    numbers its versions from 1 again."""

    def __init__(self) -> None:
        self._last: dict[str, Written] = {}

    def state(self, trigger: str, revision: int, version: int | None) -> Written | None:
        """The remembered state of ``trigger`` at ``version``, or None."""
        last = self._last.get(trigger)
        if last is None or version is None or (last.revision, last.version) != (revision, version):
            return None
        return last

    def remember(
        self, trigger: str, revision: int, version: int, parent: Mapping[str, Any],
        digests: Mapping[str, bytes], folded: Folded,
    ) -> None:  # fmt: skip
        """Remember ``version``: ``parent`` (the state the fit folded onto, with the digests
        known of its values) with the fit's updates."""
        state = {**parent, **folded.copies}
        known = {k: d for k, d in digests.items() if k in state and k not in folded.copies}
        self._last[trigger] = Written(
            revision, version, MappingProxyType(state), {**known, **folded.digests}
        )

    def forget(self, trigger: str) -> None:
        self._last.pop(trigger, None)


def fold_updates(trigger: str, updates: Mapping[str, Any]) -> Folded:
    """``updates`` pickled (each known to unpickle again), with digests and unpickled copies."""
    folded = Folded({}, {}, {})
    for key, value in updates.items():
        data, copy = checked_pickle(trigger, key, value)
        folded.pickled[key] = data
        folded.digests[key] = hashlib.sha256(data).digest()
        folded.copies[key] = copy
    return folded


def fold_params(
    claim: Claim, run_id: int, events: int, folded: Folded, code_digest: str | None,
    deployed: str | None, known: Mapping[str, bytes],
) -> list[Any]:  # fmt: skip
    """The parameters of ``fold_commit`` for ``folded`` as run ``run_id`` of ``events`` events:
    a large value whose blob the database holds (its digest in ``known``) is not sent again."""
    keys = list(folded.pickled)
    digests = [folded.digests[k] for k in keys]
    data: list[bytes | None] = [
        None if len(folded.pickled[k]) >= SEND_ALWAYS and known.get(k) == folded.digests[k]
        else folded.pickled[k]
        for k in keys
    ]  # fmt: skip
    return [claim.trigger, run_id, claim.worker_id, events, keys, digests, data, code_digest,
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


def commit_fold(
    conn: psycopg.Connection[Any],
    claim: Claim,
    folded: Folded,
    *,
    motion_path: str,
    deployed: str | None,
    code_digest: str | None,
    known: Mapping[str, bytes],
    commit: bool = True,
) -> tuple[int | None, int | None]:
    """Write the fit's version onto the newest one, finish its run and complete its jobs in the
    caller's open transaction, and commit it (unless ``commit`` is false); returns the version
    written (None without updates) and the version it was folded onto (the newest at commit time:
    not the one the fit read when another version was written meanwhile). ``known`` maps keys to digests of blobs the database holds (large ones are not sent
    again). Raises :class:`LostRun` when the run is no longer ours or the trigger is gone, and
    :class:`FitError` when the code was deployed again while the fit ran: the caller rolls back.
    """
    params = fold_params(claim, claim.run_id, len(claim.events), folded, code_digest, deployed,
                         known)  # fmt: skip
    try:
        with conn.pipeline():
            conn.execute(motion_path)
            # the row lock first, in a statement of its own: fold_commit's snapshot then sees every
            # version written before it (deploys and SET STATE take the same lock)
            psycopg.RawCursor(conn).execute(query("trigger_code_for_update"), [claim.trigger])
            cur = psycopg.RawCursor(conn)
            cur.execute(query("fold_commit"), params)
            if commit:  # the fence raises when fold_commit wrote nothing: COMMIT then rolls back
                psycopg.RawCursor(conn).execute(FENCE, [claim.run_id, claim.worker_id,
                                                         claim.trigger, deployed])  # fmt: skip
                conn.execute("COMMIT")
        row = cur.fetchone()  # all of it in one round trip: the pipeline's closing sync
    except psycopg.Error as e:
        raise_fenced(claim, e)
    assert row is not None
    found, code_ok, fenced, version, parent = row
    if found and not code_ok:
        raise FitError(
            f'motion trigger "{claim.trigger}": its code was deployed again while this fit ran',
            hint="the fit is retried with the deployed code",
        )
    if not fenced:
        raise LostRun(claim.run_id)
    return (int(version) if version is not None else None), parent
