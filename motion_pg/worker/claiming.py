"""The worker's claim step: one round trip per claim.

Before a claim the worker used to send up to four statements: the fit-policy gate (FIT WHEN,
REFIT WHEN, on_drift = 'pause'), the backlog trim (discard_after, keep_latest), the keyed claim
(STATE PER) and the plain claim; and the fit process asked once more per fit call whether a REFIT
was pending. ``motion.claim_step`` (sql/idempotent/180-claim.sql) does all of it in one statement,
runs only the parts some enabled trigger needs (read from the catalog in the same statement: a
definition change applies from the next claim on, with no cache to go stale), applies the gate to
keyed triggers too, and returns the pending REFIT with a plain claim.
"""

from __future__ import annotations

import json
import logging
import time
from operator import itemgetter
from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime.keyed import canonical
from motion_pg.settings import Settings
from motion_pg.trigger import Event
from motion_pg.worker.budget import PROBE, Budget
from motion_pg.worker.code_gate import CodeGate
from motion_pg.worker.committing import Claim, trigger_settings
from motion_pg.worker.drift import DriftWatch
from motion_pg.worker.folding import Unparsed, row_of
from motion_pg.worker.keyed_claim import KeyedClaim

log = logging.getLogger("motion_pg.worker")

_LOST = (psycopg.OperationalError, psycopg.InterfaceError)
# how old the settings a fit call runs with (fit_timeout, fit_batch_time) may be, in seconds
SETTINGS_TTL = 1.0
_STEP = (
    "SELECT * FROM motion.claim_step($1::text, $2::float8, $3::integer, $4::text[], $5::jsonb,"
    " $6::integer, $7::bigint, $8::boolean)"
)


class SettingsReader:
    """Trigger settings as the worker reads them: afresh, or at most ``SETTINGS_TTL`` old."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[float, Settings]] = {}

    def fresh(self, conn: psycopg.Connection[Any], trigger: str) -> Settings:
        """The settings of ``trigger`` now (the defaults when they cannot be read)."""
        try:
            return trigger_settings(conn, trigger)
        except _LOST:
            raise
        except Exception as e:  # unreadable settings are this trigger's problem: the defaults
            log.warning("cannot read the settings of %s (%s); using the defaults", trigger, e)
            return Settings()

    def recent(self, conn: psycopg.Connection[Any], trigger: str) -> Settings:
        """The settings of ``trigger`` read at most ``SETTINGS_TTL`` seconds ago: a fit call does
        not pay a round trip for them (a failure reads them afresh)."""
        now = time.monotonic()
        read_at, settings = self._read.get(trigger, (float("-inf"), Settings()))
        if now - read_at > SETTINGS_TTL:
            settings = self.fresh(conn, trigger)
            self._read[trigger] = (now, settings)
        return settings

    def refresh(self, conn: psycopg.Connection[Any], trigger: str) -> None:
        """Read the settings of ``trigger`` again once half their time is up: called after a fit,
        off the path from a notification to the next fit, which then finds them recent."""
        if time.monotonic() - self._read.get(trigger, (float("-inf"), None))[0] > SETTINGS_TTL / 2:
            self._read[trigger] = (time.monotonic(), self.fresh(conn, trigger))


class Claimer:
    """Claims ready events for one worker; :attr:`discarded` counts the events its trims
    dropped, :attr:`steps` the claim steps (round trips) it sent."""

    def __init__(
        self, worker_id: str, lease_seconds: float, fit_batch: int, budget: Budget,
        code_gate: CodeGate, drift: DriftWatch,
    ) -> None:  # fmt: skip
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.fit_batch = fit_batch
        self.budget = budget
        self.code_gate = code_gate
        self.drift = drift
        self.discarded = 0
        self.steps = 0
        self._keyed_first = False  # keyed and plain claims take turns going first

    def claim(self, conn: psycopg.Connection[Any]) -> Claim | None:
        """Claim ready events: of one trigger with no running fit, or of keys of one keyed
        trigger (STATE PER) no running fit holds; the two kinds take turns first. None if none."""
        self._keyed_first = not self._keyed_first
        names, rows = self._step(conn)
        claimed = [r for r in rows if r[0] in ("plain", "keyed")]
        for r in rows:
            if r[0] in ("plain", "keyed"):
                continue
            row = dict(zip(names, r, strict=True))
            if row["kind"] == "shed":
                self.discarded += int(row["events"])
                log.info("discarded %d pending event(s) of %s (%s)", int(row["events"]),
                         row["trigger_name"], row["reason"])  # fmt: skip
            elif row["kind"] == "refit":
                log.info("%s: refit enqueued (job %s): %s", row["trigger_name"], row["id"],
                         row["reason"])  # fmt: skip
        if not claimed:
            return None
        first = dict(zip(names, claimed[0], strict=True))
        trigger = first["trigger_name"]
        refusal = self.code_gate.refusal(conn, trigger)
        if refusal is not None:  # hand it back unspent: workers with the deployed code fit it
            PgDatabase(conn).query(
                query("release_runs"), [self.worker_id, True, f"not fitted on this host: {refusal}"]
            )
            return self.claim(conn)  # the gate excludes that trigger now
        if first["kind"] == "keyed":
            return _keyed([dict(zip(names, r, strict=True)) for r in claimed], self.worker_id)
        return self._plain(conn, first, names, claimed)

    def _step(self, conn: psycopg.Connection[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        params = [self.worker_id, self.lease_seconds, self.fit_batch, self.code_gate.excluded,
                  self.budget.caps_json(), PROBE, self.budget.limits.bytes, self._keyed_first]  # fmt: skip
        self.steps += 1
        with psycopg.RawCursor(conn) as cur:
            # jsonb left as text: only a scheduled firing's and a keyed event's row are parsed
            # (a plain claim sends no other row: the fit process reads the rows back typed)
            cur.adapters.register_loader("jsonb", Unparsed)
            cur.execute(_STEP, params)
            rows = cur.fetchall()
            names = [d.name for d in cur.description or ()]
        return names, rows

    def _plain(
        self, conn: psycopg.Connection[Any], first: dict[str, Any], names: list[str],
        rows: list[tuple[Any, ...]],
    ) -> Claim | None:  # fmt: skip
        trigger = first["trigger_name"]
        at = {name: i for i, name in enumerate(names)}
        i_id, i_op, i_rel, i_route, i_data = (at[n] for n in ("id", "op", "relation", "route",
                                                              "row_data"))  # fmt: skip
        refit = any(r[i_op] == "REFIT" for r in rows)  # a refit rebuilds the reference: it runs
        if (
            not refit
            and first["drift_pause"]
            and self.drift.holds(conn, trigger, max(r[i_id] for r in rows))
        ):
            # on_drift = 'pause' and these events drifted: hand them back unspent, unfitted
            PgDatabase(conn).query(
                query("release_runs"), [self.worker_id, True, "held: the events drifted"]
            )
            return None
        rows.sort(key=itemgetter(i_id))
        relations: dict[str, str] = {}  # one string per relation: the pipe sends each once
        events = [
            Event(r[i_id], r[i_op], relations.setdefault(r[i_rel], r[i_rel]), r[i_route],
                  row_of(r[i_op], r[i_data]))
            for r in rows
        ]  # fmt: skip
        job = first["refit_job"]
        return Claim(run_id=first["run_id"], trigger=trigger, events=events,
                     worker_id=self.worker_id, refit=int(job) if job is not None else None,
                     refit_known=True, slice_events=self.fit_batch)  # fmt: skip


def _keyed(rows: list[dict[str, Any]], worker_id: str) -> KeyedClaim:
    events = sorted(
        (Event(id=r["id"], op=r["op"], relation=r["relation"], route=r["route"],
               row=json.loads(r["row_data"])) for r in rows),
        key=lambda e: e.id,
    )  # fmt: skip
    keys = {int(r["id"]): canonical(r["state_key"]) for r in rows}
    return KeyedClaim(run_id=rows[0]["run_id"], trigger=rows[0]["trigger_name"], events=events,
                      worker_id=worker_id, keys=keys)  # fmt: skip
