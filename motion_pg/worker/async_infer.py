"""Async infer in the worker (``WITH (infer_mode = 'async')``): one batch of one trigger per step.

A step is one transaction: claim the oldest recorded rows of one trigger (``motion.async_rows``,
``FOR UPDATE SKIP LOCKED``: workers share the work), read each distinct row by its primary key with
the row version it had (``xmin``), call ``infer_batch`` (or ``infer`` per row, on a thread pool:
slow infer is usually waiting on a model server) with the serving state, and write the outputs and
their lineage stamp back by primary key **only where the row still has the version that was
inferred**. A row written again meanwhile keeps its entry and is inferred again with its latest
content, so it never ends up with outputs of stale content. The write-back runs marked
(``motion.async_writebacks``), so motion's own triggers neither record it again nor enqueue fit
events for it. Rows written, gone or failed lose their entries; freshness (recorded → written) is
added to ``motion.async_stats``.

Failures never block the queue: a row whose infer raises (or returns values its columns cannot
hold) is recorded in ``motion.infer_errors`` and dropped, whatever ``on_error`` says, since the
writer's transaction is long committed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import MotionError
from motion_pg.metrics.async_infer import BOUNDS
from motion_pg.pg import MOTION_OPTIONS, PgDatabase, connect
from motion_pg.queries import query
from motion_pg.runtime import stamps
from motion_pg.trigger import Context
from motion_pg.worker.async_serving import AsyncRoute, Served, ServedTriggers
from motion_pg.worker.async_write import encode_outputs, read_rows, write_rows
from motion_pg.worker.paths import prepend_paths, recorded_paths
from motion_pg.worker.pgtypes import TypedDatabase, use_plpython_types

log = logging.getLogger("motion_pg.worker")
REFUSE_FOR = 30.0  # seconds a trigger whose code cannot be served here is left to other workers
RETRY_AFTER = 5.0  # seconds before a trigger whose batch failed unexpectedly is tried again
# freshness histogram bounds, seconds (motion_async_freshness_seconds)
FRESHNESS_BOUNDS = BOUNDS


class Failed:
    """A row whose infer failed: why."""

    def __init__(self, why: str) -> None:
        self.why = why


CHANNEL = "motion_async"  # the NOTIFY channel of rows recorded for async infer


class AsyncInferer:
    """Infers recorded rows on one connection (autocommit; each step is its own transaction)."""

    def __init__(
        self, conn: psycopg.Connection[Any], *, batch: int = 100, threads: int = 8,
        excluded: Callable[[], list[str]] = list,
    ) -> None:  # fmt: skip
        use_plpython_types(conn)
        self.conn = conn
        self.db = PgDatabase(conn)
        self.user_db = TypedDatabase(conn)
        self.batch = batch
        self.excluded = excluded
        self.served = ServedTriggers()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="motion-infer")
        self.written = 0
        self.refused: dict[str, float] = {}  # trigger -> until when this worker leaves it alone
        self.watch: Callable[[str, list[int], float | None], None] | None = None

    def close(self) -> None:
        """Stop the infer threads."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def drain(self) -> int:
        """Step until no recorded row is left that this worker may take; returns rows handled."""
        total = 0
        while (n := self.step()) > 0:
            total += n
        return total

    def step(self, only: str | None = None, batch: int | None = None) -> int:
        """Infer one batch of one trigger (``only``: of that trigger, ``batch`` rows at most);
        returns the number of recorded rows handled (0: none ready). Rows kept for another round
        (written again meanwhile) count as handled. :attr:`watch`, when set, hears of the claim
        (trigger, entry ids, None) and then of its ``infer_timeout`` once the trigger is loaded."""
        with self.conn.transaction():
            now = time.monotonic()
            if only is not None:
                claimed = self.db.query(query("async_claim_of"), [batch or self.batch, only])
            else:
                refused = [name for name, until in self.refused.items() if until > now]
                claimed = self.db.query(
                    query("async_claim"), [batch or self.batch, [*self.excluded(), *refused]]
                )
            if not claimed:
                return 0
            trigger = claimed[0]["trigger_name"]
            ids = [int(c["id"]) for c in claimed]
            if self.watch is not None:
                self.watch(trigger, ids, None)
            try:
                with self.conn.transaction():
                    served = self.served.get(self.db, trigger)
            except MotionError as e:  # e.g. this host's code differs: other workers infer it
                log.warning("async infer of %s skipped for %.0f s: %s", trigger, REFUSE_FOR, e)
                self.refused[trigger] = now + REFUSE_FOR
                return len(claimed)
            if self.watch is not None and served is not None:
                self.watch(trigger, ids, served.settings.infer_timeout)
            try:
                with self.conn.transaction():
                    self._batch(trigger, served, claimed)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except Exception as e:  # one trigger's failure never stops the others
                log.warning("async infer of %s failed (%s: %s); retrying in %.0f s", trigger,
                            type(e).__name__, str(e).strip(), RETRY_AFTER)  # fmt: skip
                self.refused[trigger] = now + RETRY_AFTER
            return len(claimed)

    def _batch(self, trigger: str, served: Served | None, claimed: list[dict[str, Any]]) -> None:
        done: list[int] = []
        fresh: list[float] = []
        failed = 0
        by_route: dict[int, list[dict[str, Any]]] = {}
        for c in claimed:
            by_route.setdefault(int(c["route"]), []).append(c)
        for ordinal, entries in by_route.items():
            route = served.routes.get(ordinal) if served is not None else None
            if served is None or route is None:  # dropped or replaced meanwhile
                done += [int(e["id"]) for e in entries]
                continue
            d, f, n = self._route(served, route, entries)
            done += d
            fresh += f
            failed += n
        self.db.query(query("async_done"), [done])
        if served is not None and (fresh or failed):
            self._stats(trigger, fresh, failed)
        self.written += len(fresh)

    def _route(
        self, served: Served, route: AsyncRoute, entries: list[dict[str, Any]]
    ) -> tuple[list[int], list[float], int]:
        """Infer and write one route's entries; returns (entry ids done, freshness seconds of the
        written ones, rows failed)."""
        keys: dict[str, dict[str, Any]] = {}  # one infer per row, however often it was recorded
        members: dict[str, list[dict[str, Any]]] = {}
        for e in sorted(entries, key=lambda e: int(e["id"])):
            raw = e["row_key"]
            key = json.loads(raw) if isinstance(raw, str) else raw
            text = json.dumps(key, sort_keys=True)
            keys[text] = key
            members.setdefault(text, []).append(e)
        texts = list(keys)
        found = read_rows(self.user_db, route, [keys[t] for t in texts])
        done = [int(e["id"]) for i, t in enumerate(texts) if i not in found for e in members[t]]
        order = sorted(found)
        rows = [found[i][1] for i in order]
        outputs = self._infer(served, route, rows) if rows else []
        failures = 0
        writes: list[tuple[int, str, dict[str, Any] | None, bytes | None]] = []
        for i, out in zip(order, outputs, strict=True):
            problem = out.why if isinstance(out, Failed) else None
            encoded: dict[str, Any] | None = None
            if problem is None and out is not None:
                encoded, problem = encode_outputs(route, out)
            if problem is not None:
                self._failed(served, route, keys[texts[i]], problem)
                failures += 1
                done += [int(e["id"]) for e in members[texts[i]]]
                continue
            writes.append(
                (
                    i,
                    found[i][0],
                    encoded,
                    self._stamp(served, route, members[texts[i]][-1], encoded),
                )
            )
        written, refused = write_rows(
            self.db, route, [(i, keys[texts[i]], x, v, s) for i, x, v, s in writes], served.name
        )
        for i in refused:
            self._failed(served, route, keys[texts[i]], refused[i])
            failures += 1
        now = float(
            self.db.query("SELECT extract(epoch FROM clock_timestamp())::float8 AS t")[0]["t"]
        )
        fresh: list[float] = []
        for i, *_ in writes:
            if i in written or i in refused:
                done += [int(e["id"]) for e in members[texts[i]]]
            if i in written:
                fresh += [max(0.0, now - float(e["recorded_at"])) for e in members[texts[i]]]
        return done, fresh, failures

    def _stamp(
        self, served: Served, route: AsyncRoute, entry: dict[str, Any], out: dict[str, Any] | None
    ) -> bytes | None:
        if route.lineage_column is None or not served.settings.lineage:
            return None
        head = stamps.head(
            route.info.ordinal, served.version, served.deploy_id, int(entry["role"]),
            int(entry["xact"]), int(float(entry["recorded_at"]) * 1_000_000),
        )  # fmt: skip
        if out is None:
            return stamps.with_flags(head, stamps.NOTHING)
        return head + stamps.mask(route.attnums[c] for c in out if c in route.attnums)

    def _infer(self, served: Served, route: AsyncRoute, rows: list[dict[str, Any]]) -> list[Any]:
        """What infer returned for each row (a :class:`Failed` where it raised)."""
        ctx = Context(
            trigger=served.name, version=served.version, state=served.state,
            params=served.params, db=self.user_db, route=route.info,
        )  # fmt: skip
        path = ", ".join(served.search_path) if served.search_path else '"$user", public'
        self.db.query("SELECT pg_catalog.set_config('search_path', $1, true)", [path])
        try:
            return _call(served, route, rows, ctx, self.pool)
        finally:
            self.db.query(
                "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)"
            )

    def _failed(self, served: Served, route: AsyncRoute, key: dict[str, Any], why: str) -> None:
        error = f'motion trigger "{served.name}" async infer failed on {route.info.relation} row {json.dumps(key)}: {why}'
        self.db.query(query("record_infer_error"), [served.name, route.info.relation, key, error])

    def _stats(self, trigger: str, fresh: list[float], failed: int) -> None:
        buckets = [0] * (len(FRESHNESS_BOUNDS) + 1)
        for f in fresh:
            buckets[
                next((i for i, b in enumerate(FRESHNESS_BOUNDS) if f <= b), len(FRESHNESS_BOUNDS))
            ] += 1
        self.db.query(
            query("async_stats_add"),
            [trigger, len(fresh), failed, buckets, sum(fresh), fresh[-1] if fresh else None],
        )


def _call(
    served: Served, route: AsyncRoute, rows: list[dict[str, Any]], ctx: Context,
    pool: ThreadPoolExecutor,
) -> list[Any]:  # fmt: skip
    instance = served.instance
    batch = getattr(instance, "infer_batch", None) if route.info.infer == "infer" else None
    if callable(batch):
        try:
            out = batch(rows, ctx)
            if isinstance(out, list | tuple) and len(out) == len(rows):
                return list(out)
            got = f"{len(out)} items" if isinstance(out, list | tuple) else type(out).__name__
            return [Failed(f"infer_batch must return a list with one dict per row "
                           f"({len(rows)} rows, got {got})")] * len(rows)  # fmt: skip
        except Exception:  # find the failing rows, one at a time
            pass
    method = getattr(instance, route.info.infer or "infer", None)
    if not callable(method) and callable(batch):
        method = lambda row, c: batch([row], c)[0]  # noqa: E731
    if not callable(method):
        return [Failed(f"class {served.class_ref!r} has no method {route.info.infer!r}")] * len(
            rows
        )

    def one(row: dict[str, Any]) -> Any:
        try:
            return method(row, ctx)
        except Exception as e:
            return Failed(f"{type(e).__name__}: {e}")

    return list(pool.map(one, rows))


def open_inferer(
    dsn: str, *, batch: int, threads: int, excluded: Callable[[], list[str]],
    paths: list[str] | None = None, listen: bool = True,
) -> AsyncInferer:  # fmt: skip
    """An :class:`AsyncInferer` in this process on a new connection to ``dsn`` (listening on
    ``motion_async`` with ``listen``); trigger code is imported from ``paths`` (None: the paths
    `install` recorded). The worker runs it in its infer process (:mod:`.async_isolation`)."""
    conn = connect(dsn, autocommit=True, application_name="motion-pg async infer",
                   options=f"-c jit=off {MOTION_OPTIONS}")  # fmt: skip
    prepend_paths(paths if paths is not None else recorded_paths(conn))
    if listen:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
    return AsyncInferer(conn, batch=batch, threads=threads, excluded=excluded)
