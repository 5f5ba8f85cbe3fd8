"""Replaying a state version (``motion-pg replay``): rebuild it, compare its keys' digests.

A ``fit`` version is rebuilt from its parent's state, the events its run fitted (``motion.jobs``
and ``motion.job_log``) and its recorded params, settings and code, through the worker's own code
path (:meth:`~motion_pg.worker.fitting.FitComputer.rebuild`) in a transaction that is rolled back:
no version, state or table changes. ``rollback`` and ``params`` versions are checked against the
version whose state they copied, without running code (a keyed trigger's, STATE PER, fit and
rollback versions are compared key by key: :mod:`.keyed_replay`). ``setup`` and ``refit`` versions read the
whole relation as it was then, which is not recorded: they are refused, as are versions whose code
differs from the code on disk, whose events or parent state were pruned, or that do not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import MotionError, unknown_trigger
from motion_pg.pg import PgDatabase, connect
from motion_pg.queries import query
from motion_pg.runtime import identity
from motion_pg.runtime.keyed import canonical
from motion_pg.trigger import Event
from motion_pg.worker import keyed_replay
from motion_pg.worker.fitting import FitComputer
from motion_pg.worker.paths import prepend_paths, recorded_paths
from motion_pg.worker.replay_result import Entry, ReplayRefused, ReplayResult, same_value

__all__ = ["ReplayRefused", "ReplayResult", "replay"]

Progress = Callable[[str], None]

_HAS_PRUNED_AT = (
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid ="
    " 'motion.versions'::pg_catalog.regclass AND attname = 'pruned_at' AND NOT attisdropped) AS ok"
)
# pruned_at comes with retention (schema 0.4); before it, missing entries alone say "pruned"
_VERSION = (
    "SELECT v.source, v.run_id, v.parent_version, v.restored_from, v.params,"
    " pg_catalog.to_jsonb(v.settings) AS settings, v.code_digest, v.state_bytes,"
    " {pruned} IS NOT NULL AS pruned_at, EXISTS (SELECT FROM motion.state_entries e"
    " WHERE e.trigger_name = v.trigger_name AND e.version = v.version) AS has_entries"
    " FROM motion.versions v WHERE v.trigger_name = $1 AND v.version = $2::integer"
)
_ENTRIES = (
    "SELECT e.key, pg_catalog.encode(b.digest, 'hex') AS digest,"
    " pg_catalog.octet_length(b.data) AS size"
    " FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id"
    " WHERE e.trigger_name = $1 AND e.version = $2::integer ORDER BY e.key"
)
_BLOB = (
    "SELECT b.data FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id"
    " WHERE e.trigger_name = $1 AND e.version = $2::integer AND e.key = $3"
)
_REPLAYABLE = (
    "SELECT pg_catalog.array_agg(version ORDER BY version) AS versions FROM motion.versions"
    " WHERE trigger_name = $1 AND source IN ('fit', 'rollback', 'params')"
)
_RUN = "SELECT state, jobs FROM motion.runs WHERE id = $1::bigint"
# the events a run fitted, oldest first: done in the queue, or moved into the job log since
_EVENTS = (
    "SELECT id, route, relation, op, row_data IS NULL AS pruned FROM motion.jobs"
    " WHERE run_id = $1::bigint AND state = 'done'"
    " UNION ALL SELECT id, route, relation, op, row_data IS NULL FROM motion.job_log"
    " WHERE run_id = $1::bigint ORDER BY id"
)
_FIT_ROUTES = "SELECT ordinal FROM motion.routes WHERE trigger_name = $1 AND fit_method IS NOT NULL"
_EVENT_ROWS = sql.SQL(
    "(SELECT id, row_data FROM motion.jobs UNION ALL SELECT id, row_data FROM motion.job_log)"
)


@dataclass(frozen=True)
class _Version:
    number: int
    source: str
    run_id: int | None
    parent: int | None
    restored_from: int | None
    params: Any
    settings: Any
    code_digest: str | None
    pruned: bool


def replay(
    dsn: str, trigger: str, version: int, progress: Progress | None = None,
    paths: list[str] | None = None, key: str | None = None,
) -> ReplayResult:  # fmt: skip
    """Rebuild version ``version`` of ``trigger`` and compare it with the stored one.

    For a keyed trigger (STATE PER) the keys the version changed are compared (only ``key``, a
    key as jsonb text, when given: :mod:`.keyed_replay`).

    The user's code is imported from ``paths`` (e.g. a checkout of the code that built the
    version), by default from the paths ``install`` recorded, as the workers do, and runs in this
    process. Raises :class:`ReplayRefused` (naming the trigger, the version and what to do) when it
    cannot be rebuilt faithfully; what user code raises propagates.
    """
    say = progress or (lambda _: None)
    with connect(dsn, autocommit=True, application_name="motion-pg replay") as conn:
        recorded = recorded_paths(conn)
        prepend_paths(paths if paths is not None else recorded)
        db = PgDatabase(conn)
        found = db.query(query("trigger_definition"), [trigger])
        if not found:
            unknown = unknown_trigger(trigger)
            raise ReplayRefused(unknown.message, hint=unknown.hint)
        record = _version(db, trigger, version)
        if record is None:
            raise ReplayRefused(f'motion trigger "{trigger}" has no version {version}',
                                hint=_replayable_hint(db, trigger))  # fmt: skip
        if record.pruned:
            raise _refused(trigger, version, "its state was pruned (retention)",
                           "nothing is left to compare a rebuild with")  # fmt: skip
        per = db.query(query("trigger_state_per"), [trigger])
        keyed = bool(per) and per[0]["state_per"] is not None
        if key is not None:
            if not keyed:
                raise _refused(trigger, version, "it has no STATE PER: there is no key to replay",
                               "replay the whole version (without --key)")  # fmt: skip
            key = canonical(key)
            if record.source in ("fit", "rollback"):
                keyed_replay.check_key(db, trigger, version, key)
        if keyed and record.source == "fit":
            return _keyed_fit(conn, db, str(found[0]["class_ref"]), record, say, trigger, key)
        stored = _entries(db, trigger, version)
        if record.source in ("rollback", "params"):
            result = _copied(db, trigger, record, stored)
            if keyed and record.source == "rollback" and record.restored_from is not None:
                keys, then = keyed_replay.restored(db, trigger, version, record.restored_from, key)
                if key is not None:  # only that key
                    result.stored, result.rebuilt = {}, {}
                result.stored.update(keys)
                result.rebuilt.update(then)
                result.basis += f", and the {len(keys)} key(s) it restored"
            return result
        if record.source != "fit":
            raise _refused(
                trigger, version,
                f"it was built by {record.source} ({_WHAT[record.source]}), which reads the whole "
                "relation as it was then; that is not recorded",
                f"replay rebuilds fit versions and checks rollback and params versions; "
                f"{_replayable_hint(db, trigger)}",
            )  # fmt: skip
        return _refit(conn, db, str(found[0]["class_ref"]), record, stored, say, trigger)


_WHAT = {"setup": "CREATE MOTION TRIGGER", "refit": "ALTER MOTION TRIGGER … REFIT"}


def _refit(
    conn: psycopg.Connection[Any], db: PgDatabase, class_ref: str, record: _Version,
    stored: dict[str, Entry], say: Progress, trigger: str,
) -> ReplayResult:  # fmt: skip
    n = record.number
    _check_code(trigger, n, class_ref, record.code_digest)
    assert record.code_digest is not None
    if record.run_id is None:
        raise _refused(trigger, n, "it records no fit run", "nothing says which events built it")
    events = _events(db, trigger, n, record.run_id)
    parent = _parent_entries(db, trigger, n, record.parent)
    say(f"fitting {len(events)} event(s) of run {record.run_id} onto version {record.parent} "
        f"with code {record.code_digest[:12]}")  # fmt: skip
    fitting = {int(r["ordinal"]) for r in db.query(_FIT_ROUTES, [trigger])}
    skipped = sum(1 for e in events if e.route not in fitting)
    computer = FitComputer(conn)
    updates = computer.rebuild(trigger, record.parent, record.params, record.settings,
                               record.code_digest, events, _EVENT_ROWS)  # fmt: skip
    rebuilt = {**parent, **{k: Entry.of(v) for k, v in updates.items()}}
    result = ReplayResult(
        trigger, n, "fit", f"fit of run {record.run_id}: {len(events)} event(s) onto version "
        f"{record.parent}", stored, rebuilt, events=len(events),
    )  # fmt: skip
    for d in result.differences:
        if d.change == "changed" and d.key in updates:
            data = db.query(_BLOB, [trigger, n, d.key])[0]["data"]
            if same_value(bytes(data), updates[d.key]):
                result.notes.append(
                    f"{d.key}: the values compare equal but their pickles differ (e.g. the order "
                    "of a set of strings, which changes with each process's hash seed)"
                )
    if skipped:
        result.notes.append(f"{skipped} event(s) of routes that no longer fit were skipped, as a "
                            "worker skips them today")  # fmt: skip
    return result


def _keyed_fit(
    conn: psycopg.Connection[Any], db: PgDatabase, class_ref: str, record: _Version,
    say: Progress, trigger: str, key: str | None,
) -> ReplayResult:  # fmt: skip
    """A keyed fit version: each key it changed (or ``key``) rebuilt from the run's events."""
    n = record.number
    _check_code(trigger, n, class_ref, record.code_digest)
    assert record.code_digest is not None
    if record.run_id is None:
        raise _refused(trigger, n, "it records no fit run", "nothing says which events built it")
    events = _events(db, trigger, n, record.run_id)
    _parent_entries(db, trigger, n, record.parent)  # refused when retention pruned it
    fitting = {int(r["ordinal"]) for r in db.query(_FIT_ROUTES, [trigger])}
    skipped = sum(1 for e in events if e.route not in fitting)
    say(f"fitting {len(events)} event(s) of run {record.run_id} key by key"
        f"{f' (key {key} only)' if key else ''} with code {record.code_digest[:12]}")  # fmt: skip
    result = keyed_replay.rebuild(
        conn, trigger, n, record.parent, record.run_id, record.params, record.settings,
        record.code_digest, events, _EVENT_ROWS, key,
    )  # fmt: skip
    if skipped:
        result.notes.append(f"{skipped} event(s) of routes that no longer fit were skipped, as a "
                            "worker skips them today")  # fmt: skip
    return result


def _check_code(trigger: str, n: int, class_ref: str, recorded: str | None) -> None:
    if recorded is None:
        raise _refused(trigger, n, "it records no code digest (written before schema 0.3)",
                       "which code built it is unknown: replay versions written since")  # fmt: skip
    try:
        on_disk = identity.identify(class_ref).digest
    except MotionError as e:
        raise _refused(trigger, n, f"its code cannot be read: {e.message}",
                       e.hint or "put the code of that version on the import path") from e  # fmt: skip
    if on_disk != recorded:
        raise _refused(
            trigger, n,
            f"the code on disk differs from the code that built it (recorded {recorded}, "
            f"on disk {on_disk})",
            f"check out the code of version {n} ({class_ref}, digest {recorded[:12]}) and replay "
            "with --path DIR (its directory), or put it back on the database's import paths",
        )  # fmt: skip


def _events(db: PgDatabase, trigger: str, n: int, run_id: int) -> list[Event]:
    runs = db.query(_RUN, [run_id])
    if not runs:
        raise _refused(trigger, n, f"its fit run {run_id} was pruned (retention)",
                       _EVENTS_HINT)  # fmt: skip
    rows = db.query(_EVENTS, [run_id])
    expected = int(runs[0]["jobs"])
    missing = [int(r["id"]) for r in rows if r["pruned"]]
    if missing or len(rows) < expected:
        lost = len(missing) + max(expected - len(rows), 0)
        raise _refused(trigger, n, f"{lost} of the {expected} events of its fit run {run_id} were "
                       "pruned (retention, keep_events)", _EVENTS_HINT)  # fmt: skip
    return [
        Event(id=int(r["id"]), op=r["op"], relation=r["relation"], route=int(r["route"]), row={})
        for r in rows
    ]


_EVENTS_HINT = "replay versions whose events are still kept, or keep events longer (keep_events)"


def _parent_entries(db: PgDatabase, trigger: str, n: int, parent: int | None) -> dict[str, Entry]:
    if parent is None:
        return {}
    record = _version(db, trigger, parent)
    if record is None or record.pruned:
        raise _refused(trigger, n, f"the state of its parent version {parent} was pruned "
                       "(retention)", "replay a version whose parent is still kept (keep_versions)")  # fmt: skip
    return _entries(db, trigger, parent)


def _copied(
    db: PgDatabase, trigger: str, record: _Version, stored: dict[str, Entry]
) -> ReplayResult:
    """A rollback or params version holds a copy of another version's state: compare with it."""
    n = record.number
    base = record.restored_from if record.source == "rollback" else record.parent
    if base is None:
        raise _refused(trigger, n, f"it records no version it copied ({record.source})",
                       "nothing to compare it with")  # fmt: skip
    found = _version(db, trigger, base)
    if found is None or found.pruned:
        raise _refused(trigger, n, f"the state of version {base}, which it copied, was pruned "
                       "(retention)", "nothing is left to compare it with")  # fmt: skip
    what = "ROLLBACK TO VERSION" if record.source == "rollback" else "SET: a copy of"
    return ReplayResult(trigger, n, record.source, f"{what} {base} (no code runs)", stored,
                        _entries(db, trigger, base))  # fmt: skip


def _version(db: PgDatabase, trigger: str, number: int) -> _Version | None:
    has_pruned_at = db.query(_HAS_PRUNED_AT)[0]["ok"]
    pruned_at = sql.SQL("v.pruned_at" if has_pruned_at else "NULL::pg_catalog.timestamptz")
    statement = sql.SQL(_VERSION).format(pruned=pruned_at).as_string(db.conn)
    rows = db.query(statement, [trigger, number])
    if not rows:
        return None
    r = rows[0]
    pruned = bool(r["pruned_at"]) or (int(r["state_bytes"]) > 0 and not r["has_entries"])
    return _Version(number, r["source"], r["run_id"], r["parent_version"], r["restored_from"],
                    r["params"], r["settings"], r["code_digest"], pruned)  # fmt: skip


def _entries(db: PgDatabase, trigger: str, number: int) -> dict[str, Entry]:
    return {r["key"]: Entry(r["digest"], int(r["size"])) for r in
            db.query(_ENTRIES, [trigger, number])}  # fmt: skip


def _replayable_hint(db: PgDatabase, trigger: str) -> str:
    versions = db.query(_REPLAYABLE, [trigger])[0]["versions"] or []
    if not versions:
        return f'"{trigger}" has no fit, rollback or params versions to replay yet'
    shown = ", ".join(map(str, versions[-10:]))
    return f"versions of {trigger} replay can check: {'…, ' if len(versions) > 10 else ''}{shown}"


def _refused(trigger: str, version: int, why: str, hint: str) -> ReplayRefused:
    return ReplayRefused(
        f'cannot replay motion trigger "{trigger}" version {version}: {why}', hint=hint
    )
