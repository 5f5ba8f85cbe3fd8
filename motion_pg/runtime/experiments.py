"""The infer path of live experiments (``SHADOW OF`` / ``CANARY OF``), inside the database server.

A trigger takes part in an experiment as the experiment (a shadow or a canary of a baseline) or as
the baseline. :mod:`motion_pg.runtime.backend` calls :func:`infer_one` instead of
:func:`motion_pg.runtime.outputs.infer_one` for those triggers only, so every other trigger's
infer path is unchanged. Per row:

- a shadow runs its infer and records the outputs (or the error) in ``motion.shadow_outputs``,
  never in the row; nothing it does fails the writer's statement;
- a canary infers, into the row, only the rows whose key falls in its :func:`bucket` range;
- the baseline of a canary records its outputs for those rows as shadow records instead of writing
  them; the baseline of a shadow records what it wrote (``served``), so both sides can be compared.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from motion_pg.queries import query
from motion_pg.runtime import shadow_batch
from motion_pg.runtime.outputs import convert_into, describe, must_propagate
from motion_pg.runtime.outputs import infer_one as serve
from motion_pg.runtime.routes import InferMethod, LoadedTrigger, Role, Route
from motion_pg.runtime.shadow_batch import dumps, jsonable  # noqa: F401  (jsonable: public here too)
from motion_pg.trigger import Context

BUCKETS = 10_000  # a canary of p % serves the keys whose bucket is below p * BUCKETS / 100
_plan: Any = None  # the plan recording one shadow output
_warned = False
# a row key's canonical JSON (one encoder: json.dumps with options builds one per call)
_canonical = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def load(db: Any, name: str) -> Role | None:
    """The experiment role of trigger ``name`` from the catalog; None when it takes no part."""
    own = db.query(query("experiment_of"), [name])
    against = db.query(query("experiments_against"), [name])
    if not own and not against:
        return None
    canaries = [float(r["percent"]) for r in against if r["kind"] == "canary"]
    salts = db.query(query("experiment_canary_salt"), [name])
    return Role(
        salt=salts[0]["salt"] if salts else None,
        kind=own[0]["kind"] if own else None,
        percent=float(own[0]["percent"]) if own and own[0]["percent"] is not None else None,
        canary=canaries[0] if canaries else None,
        shadowed=any(r["kind"] == "shadow" for r in against),
    )


def bucket(key: Mapping[str, Any], salt: str | None = None) -> int:
    """The row key's bucket in ``[0, BUCKETS)``: an HMAC-SHA-256 of its canonical JSON under the
    experiment's secret ``salt``, the same in every backend and for both sides of an experiment.
    A writer chooses row keys but cannot read the salt, so it cannot choose keys that land in the
    canary. Without a salt (experiments made before 0.5), a plain SHA-256 of the key."""
    text = _canonical.encode(key).encode()
    if salt is None:
        digest = hashlib.sha256(text).digest()
    else:
        digest = hmac.digest(salt.encode(), text, "sha256")
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_canary(key: Mapping[str, Any], percent: float, salt: str | None = None) -> bool:
    """Whether a canary serving ``percent`` % of the keys (split under ``salt``) serves this key."""
    return bucket(key, salt) < percent * BUCKETS / 100


def infer_one(
    plpy: Any, loaded: LoadedTrigger, route: Route, td: dict[str, Any], *, inserting: bool = True
) -> str | None:
    """:func:`motion_pg.runtime.outputs.infer_one` for a trigger that takes part in experiments."""
    role: Role = loaded.experiment  # type: ignore[assignment]
    new = td["new"]
    key = {c: new.get(c) for c in route.key_columns}
    if role.kind == "shadow":
        _shadow(plpy, loaded, route, new, key, td["relid"])
        return None
    if role.kind == "canary":
        if not in_canary(key, role.percent or 0.0, role.salt):
            return None
        return _served(plpy, loaded, route, td, key, inserting, keep=True)
    if role.canary is not None and in_canary(key, role.canary, role.salt):
        _shadow(plpy, loaded, route, new, key, td["relid"])
        return None
    return _served(plpy, loaded, route, td, key, inserting, keep=role.shadowed)


def _shadow(
    plpy: Any, loaded: LoadedTrigger, route: Route, new: dict[str, Any], key: dict[str, Any],
    relid: str,
) -> None:  # fmt: skip
    start = time.perf_counter()
    out: Any = None
    error: str | None = None
    try:
        out = route.method(route.visible(new) if route.hidden else dict(new), route.ctx)  # type: ignore[misc]
        if out:
            error = convert_into(plpy, route, out, {})  # checked like served outputs, kept apart
    except BaseException as e:
        if must_propagate(plpy, e):
            raise
        error = describe(e)
    elapsed = time.perf_counter() - start
    record(plpy, loaded.name, route, key, None if error else out, False, elapsed, error, relid)


class _Capture:
    """The route's infer method, remembering what it returned or raised."""

    def __init__(self, method: InferMethod) -> None:
        self.method = method
        self.out: Any = None
        self.error: BaseException | None = None

    def __call__(self, row: dict[str, Any], ctx: Context) -> Any:
        try:
            self.out = self.method(row, ctx)
        except BaseException as e:
            self.error = e
            raise
        return self.out


def _served(
    plpy: Any,
    loaded: LoadedTrigger,
    route: Route,
    td: dict[str, Any],
    key: dict[str, Any],
    inserting: bool,
    *,
    keep: bool,
) -> str | None:
    if not keep:
        return serve(plpy, loaded, route, td, inserting=inserting)
    # the route's method is wrapped in place for the call (a copy of the route per row cost more
    # than the infer itself); nested calls unwrap in turn
    capture = _Capture(route.method)  # type: ignore[arg-type]
    start = time.perf_counter()
    route.method = capture
    try:
        done = serve(plpy, loaded, route, td, inserting=inserting)
    finally:
        route.method = capture.method
    elapsed = time.perf_counter() - start
    error = describe(capture.error) if capture.error is not None else None
    if error is None and capture.out and done is None:
        error = "outputs rejected (see motion.infer_errors)"
    out = capture.out if error is None else None
    record(plpy, loaded.name, route, key, out, True, elapsed, error, td["relid"])
    return done


def record(
    plpy: Any,
    trigger: str,
    route: Route,
    key: Mapping[str, Any],
    out: Any,
    served: bool,
    seconds: float,
    error: str | None,
    relid: str | None = None,
) -> None:
    """One row of ``motion.shadow_outputs``, kept for the statement's one INSERT
    (:mod:`motion_pg.runtime.shadow_batch`) when the row was written into ``relid``, the route's
    relation, inside a statement that opened the route's buffer; else written at once. A failure
    to record warns once per backend and never fails the writer's statement (PL/Python runs each
    query in its own subtransaction already, so a caught error leaves the transaction usable)."""
    global _plan, _warned
    if isinstance(out, dict):
        out = dict(out)  # as it was returned: written at the statement's end
    if relid is not None and shadow_batch.add(trigger, route, relid,
                                               (key, out, served, seconds, error)):  # fmt: skip
        return
    kept = (dumps(key), None if out is None else dumps(out), served, seconds, error)
    try:
        if _plan is None:
            _plan = plpy.prepare(
                query("record_shadow_output"),
                ["text", "text", "text", "text", "bool", "float8", "text"],
            )
        _plan.execute([trigger, route.info.relation, *kept])
    except plpy.SPIError as e:
        if must_propagate(plpy, e):
            raise
        if not _warned:
            _warned = True
            plpy.warning(f'motion trigger "{trigger}": shadow outputs are not recorded: {e}')
