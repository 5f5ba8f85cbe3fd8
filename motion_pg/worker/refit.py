"""A refit in the fit process: the trigger's ``setup`` rebuilds its state over all data, as
``ALTER MOTION TRIGGER … REFIT`` does: setup reads one snapshot, and the version is committed with the
completion of its run.

A claim refits instead of fitting when a REFIT job of its trigger is pending (``REFIT EVERY``,
``REFIT WHEN``, ``on_drift = 'refit'``): setup reads the data those events wrote, so the claimed
events and every pending event up to the REFIT job are folded by the refit and completed with its
run; later events fit on top of the new version. The drift reference is rebuilt with the commit.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from motion_pg.drift.sql_entry import after_setup
from motion_pg.errors import FitError, UserCodeError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime.state import head_version, write_version
from motion_pg.settings import Settings
from motion_pg.trigger import Context
from motion_pg.worker.committing import Claim, LostRun, check_updates, pickled_state

if TYPE_CHECKING:
    from motion_pg.worker.fitting import FitComputer


def pending_refit(db: PgDatabase, claim: Claim) -> int | None:
    """The id of the trigger's pending REFIT job when this claim must refit, else None."""
    if any(e.op == "REFIT" for e in claim.events):
        return max(e.id for e in claim.events if e.op == "REFIT")
    if claim.refit_known:  # the claim step asked already, in its round trip
        return claim.refit
    rows = db.query(query("pending_refit"), [claim.trigger])
    return int(rows[0]["id"]) if rows else None


def refit(computer: FitComputer, claim: Claim, horizon: int, motion_path: str) -> int:
    """Run the trigger's setup and commit its state as a new version (source 'refit') with the
    completion of the claim and of the pending events up to ``horizon``; returns the version.

    Setup reads one snapshot (a REPEATABLE READ transaction of its own), and the refit absorbs
    exactly the pending events that snapshot saw: an event committed while setup ran stays
    pending and is fitted on top of the new version. The commit is a second transaction, fenced
    by the run like every fit's, so a lease renewed meanwhile never fails it."""
    conn, db = computer.conn, computer.db
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(motion_path)
        definition, _, search_path = computer.definition(claim.trigger)
        conn.execute(computer.user_path(search_path))
        ctx = Context(claim.trigger, 0, MappingProxyType({}), definition.params, computer.user_db)
        try:
            state = definition.instance.setup(ctx)
        except Exception as e:
            raise UserCodeError(f'motion trigger "{claim.trigger}": setup failed during a '
                                f"scheduled refit: {type(e).__name__}: {e}") from e  # fmt: skip
        checked = check_updates(claim.trigger, state, "setup")
        computer.check_transaction(claim.trigger)
        conn.execute(motion_path)
        pickled = pickled_state(claim.trigger, checked)
        upto = max(horizon, *(e.id for e in claim.events))
        seen = [int(r["id"]) for r in db.query(query("refit_seen_jobs"), [claim.trigger, upto])]
    with conn.transaction():
        conn.execute(motion_path)
        check_deployed(db, claim.trigger, definition.deployed)
        version = _commit(db, claim, pickled, seen)
        if definition.code_digest is not None:
            db.query(query("set_version_code"), [claim.trigger, version, definition.code_digest])
        after_setup(db, claim.trigger, definition.settings, "refit")
        return version


def check_deployed(db: PgDatabase, trigger: str, deployed: str | None) -> None:
    """Refuse to commit a refit (or a keyed fit) whose code was replaced by a deploy while it ran
    (the row lock makes deploys and this commit serial); the retry runs the new code."""
    rows = db.query(query("trigger_code_for_update"), [trigger])
    if rows and rows[0]["code_digest"] != deployed:
        raise FitError(
            f'motion trigger "{trigger}": its code was deployed again while this refit ran',
            hint="the refit is retried with the deployed code",
        )


def _commit(db: PgDatabase, claim: Claim, pickled: dict[str, bytes], seen: list[int]) -> int:
    current = db.query(query("trigger_for_update"), [claim.trigger])
    if not current:
        raise LostRun(claim.run_id)
    row: dict[str, Any] = current[0]
    parent = head_version(db, claim.trigger)
    params = row["params"]
    version = write_version(
        db, claim.trigger, pickled, source="refit", parent=parent,
        params=json.loads(params) if isinstance(params, str) else params,
        settings=Settings.from_json(row["settings"]), run_id=claim.run_id, pickled=True,
        inherit=False,
    )  # fmt: skip
    # the pending events setup saw, this run's own among them (a plain run does not mark them)
    absorbed = {int(r["id"]) for r in db.query(query("absorb_jobs"),
                                                [claim.trigger, claim.run_id, seen])}  # fmt: skip
    fenced = db.query(
        query("finish_run"),
        [claim.run_id, claim.worker_id, "succeeded", len(absorbed | {e.id for e in claim.events}),
         parent, version, None],
    )  # fmt: skip
    if not fenced:
        raise LostRun(claim.run_id)
    db.query(query("complete_jobs"), [claim.run_id])
    return version
