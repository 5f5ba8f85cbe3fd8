"""One fit call of the worker: run the claim in the fit process with its timeout, then record
what came of it (a new version, a failure to retry, a hand-back); whatever goes wrong is that
run's failure, never the worker's."""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.settings import Settings
from motion_pg.worker import grouping
from motion_pg.worker.committing import Claim, fail_fit
from motion_pg.worker.isolation import FitResult
from motion_pg.worker.logs import log_context

if TYPE_CHECKING:
    from motion_pg.worker.runner import Worker

log = logging.getLogger("motion_pg.worker")

_LOST = (psycopg.OperationalError, psycopg.InterfaceError)


def isolated(worker: Worker, conn: psycopg.Connection[Any], claim: Claim) -> int:
    """Process ``claim``; whatever goes wrong with it (other than a lost connection) is that
    run's failure, never the worker's: one trigger never stops the others. Returns the runs it
    made (a group makes one per slice it committed or failed)."""
    try:
        with log_context(trigger=claim.trigger, run_id=claim.run_id,
                         job_ids=[e.id for e in claim.events]):  # fmt: skip
            return _process(worker, conn, claim)
    except _LOST:
        raise
    except Exception as e:
        error = (f'motion trigger "{claim.trigger}": the worker failed processing run '
                 f"{claim.run_id}:\n" + "".join(traceback.format_exception(e)))  # fmt: skip
        log.warning("fit of %s failed (run %s): %s: %s", claim.trigger, claim.run_id,
                    type(e).__name__, e)  # fmt: skip
        try:
            fail_fit(
                conn, worker.worker_id, claim, error, worker.settings.fresh(conn, claim.trigger)
            )
        except _LOST:
            raise
        except Exception as again:  # e.g. an error text the database refuses: say less
            log.error("could not record the failure of run %s: %s", claim.run_id, again)
            fail_fit(conn, worker.worker_id, claim,
                     f"the worker failed processing this run: {type(e).__name__}",
                     Settings())  # fmt: skip
    return 1


def _process(worker: Worker, conn: psycopg.Connection[Any], claim: Claim) -> int:
    assert worker.fit_process is not None
    settings = worker.settings.recent(conn, claim.trigger)
    timeout = settings.fit_timeout or worker.fit_timeout
    size = grouping.call_size(claim, settings)
    if grouping.is_group(claim, size):
        # the whole group runs within one fit_timeout: no slice starts after half of it
        claim.group_seconds = min(settings.fit_batch_time or worker.budget.limits.seconds,
                                  timeout / 2)  # fmt: skip
    started = time.monotonic()
    result = worker.fit_process.run(
        claim, timeout, abort=lambda: time.monotonic() > worker.stop_deadline
    )
    if result.status == "aborted":
        PgDatabase(conn).query(query("release_runs"), [worker.worker_id, True, "worker stopping"])
        log.warning("fit of %s handed back: the grace period ended", claim.trigger)
        return 1
    if result.status == "lost":
        log.warning("run %s of %s was reclaimed meanwhile; its result was discarded",
                    claim.run_id, claim.trigger)  # fmt: skip
        return 1
    if result.failed is not None and result.failed_run is not None:  # a slice of a group
        _slice_failed(worker, conn, claim, result, settings, time.monotonic() - started)
        return -(-(result.events or 0) // max(size, 1)) + 1
    if result.status != "ok" and grouping.is_group(claim, size):
        # the fit process died or timed out mid-group: nothing committed. Every event goes back
        # untouched, and the next ones are claimed one fit call at a time: the slice that did
        # it then fails alone, charged like any fit
        PgDatabase(conn).query(query("release_runs"), [worker.worker_id, True,
                                                       f"group handed back: {result.status}"])  # fmt: skip
        worker.budget.hold(claim.trigger, len(claim.events), size)
        log.warning("fit of %s (a group of %d events) failed (%s): handed back, fitted one call "
                    "at a time next", claim.trigger, len(claim.events), result.status)  # fmt: skip
        return 1
    if result.status != "ok":
        lines = [line for line in result.error.strip().splitlines()
                 if not line.startswith("hint: ")]  # fmt: skip
        last = lines[-1] if lines else result.status
        log.warning("fit of %s failed (run %s): %s", claim.trigger, claim.run_id, last)
        fail_fit(conn, worker.worker_id, claim, result.error, settings)
        return 1
    version = result.version
    fitted = result.events if result.events is not None else len(claim.events)
    worker.fitted_events += fitted
    seconds = result.seconds or time.monotonic() - started
    worker.budget.observe(claim.trigger, fitted, seconds, settings)
    log.info("fitted %d event(s) of %s in %.0f ms%s", fitted, claim.trigger,
             (time.monotonic() - started) * 1000,
             f" -> version {version}" if version is not None else "")  # fmt: skip
    return -(-fitted // size) if grouping.is_group(claim, size) else 1


def _slice_failed(
    worker: Worker, conn: psycopg.Connection[Any], claim: Claim, result: FitResult,
    settings: Settings, seconds: float,
) -> None:  # fmt: skip
    """A slice of a group failed: the slices before it are committed; its events fail like a
    fit call's (the run holding them, narrowed when it is the group's own); the rest is pending."""
    assert result.failed is not None and result.failed_run is not None
    failed = set(result.failed)
    part = Claim(run_id=result.failed_run, trigger=claim.trigger,
                 events=[e for e in claim.events if e.id in failed], worker_id=claim.worker_id)  # fmt: skip
    if result.events:  # the slices before it
        worker.fitted_events += result.events
        worker.budget.observe(claim.trigger, result.events, seconds, settings)
        with log_context(job_ids=[e.id for e in claim.events[: result.events]]):
            log.info("fitted %d event(s) of %s in %.0f ms (a group's slices before a failed one)",
                     result.events, claim.trigger, seconds * 1000)  # fmt: skip
    lines = [line for line in result.error.strip().splitlines() if not line.startswith("hint: ")]
    with log_context(run_id=part.run_id, job_ids=[e.id for e in part.events]):
        log.warning("fit of %s failed (run %s, %d event(s) of a group): %s", claim.trigger,
                    part.run_id, len(part.events), lines[-1] if lines else "error")  # fmt: skip
        fail_fit(conn, worker.worker_id, part, result.error, settings,
                 narrow=part.run_id == claim.run_id)  # fmt: skip
