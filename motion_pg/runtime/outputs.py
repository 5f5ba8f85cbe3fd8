"""Checking what ``infer`` returns, and failing or skipping a row with an error that names the
trigger, the relation, the row key and the cause.

Every failure of an inferred row comes through :func:`infer_failed`: under ``on_error = 'raise'``
the statement fails with SQLSTATE MP300 (:class:`motion_pg.errors.InferError`) and the user code's
traceback in DETAIL; under ``on_error = 'skip'`` the row is stored without outputs and the error is
recorded in ``motion.infer_errors``.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from motion_pg.errors import InferError
from motion_pg.queries import query
from motion_pg.runtime import stamps
from motion_pg.runtime.keyed import restamp
from motion_pg.runtime.routes import LoadedTrigger, Route
from motion_pg.runtime.values import CannotHold, Column, Unchecked, ValueMismatch

# SQLSTATE classes that are not the row's fault and must reach the client as they are: transaction
# rollback (serialization failure, deadlock), insufficient resources, operator intervention
# (query_canceled, admin_shutdown), system and internal errors
_PROPAGATE = frozenset({"40", "53", "57", "58", "XX"})
_checks: dict[str, Any] = {}  # check_type -> plan running a value through the type's input function
_record: Any = None  # the plan recording an infer error
_HERE = os.path.dirname(os.path.abspath(__file__))


def must_propagate(plpy: Any, e: BaseException) -> bool:
    """Whether ``e`` (raised while inferring) must propagate untouched, never be skipped."""
    if isinstance(e, plpy.Fatal):
        return True
    if isinstance(e, plpy.SPIError):
        return (getattr(e, "sqlstate", None) or "")[:2] in _PROPAGATE
    return False


def describe(e: BaseException) -> str:
    """``ValueError: bad value``; ``KeyboardInterrupt`` when the exception has no message."""
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def infer_one(
    plpy: Any, loaded: LoadedTrigger, route: Route, td: dict[str, Any], *, inserting: bool = True
) -> str | None:
    """Run the route's infer on ``TD["new"]`` and write its outputs, and the statement's lineage
    stamp, into the row.

    Returns "MODIFY" when the row was changed, None to leave the row as it is. An UPDATE whose
    infer wrote nothing keeps its earlier stamp (motion.lineage_guard records the change).
    On "MODIFY", ``TD["new"]`` is replaced by a dict of the changed columns only: PL/Python
    converts and replaces just the columns that dict names (``heap_modify_tuple``), so the
    columns infer did not write are not converted back, and infer may be handed ``TD["new"]``
    itself rather than a copy (PL/Python made it for this call and reads it only on "MODIFY").
    """
    new = td["new"]
    column = route.stamp_column
    keyed = loaded.keyed
    hidden = route.hide
    if hidden is not None:  # the relation's one lineage column: infer never sees it
        del new[hidden]
    elif route.hidden:  # several motion triggers' lineage columns
        for hidden in route.hidden:
            del new[hidden]
    try:
        # STATE PER: the row's key's state (runtime.keyed); its loading fails as infer would
        ctx = (
            route.ctx
            if keyed is None
            else keyed.context(loaded.instance, route.ctx, loaded.version, new)
        )
        out = route.method(new, ctx)  # type: ignore[misc]
    except BaseException as e:
        if must_propagate(plpy, e):
            raise
        infer_failed(plpy, loaded, route, new, describe(e), e)
        return _unstamped(route, td, stamps.SKIPPED) if inserting and column else None
    if not out:
        return _unstamped(route, td, stamps.NOTHING) if inserting and column else None
    changed: dict[str, Any] = {}
    exact, bounds = route.exact, route.bounds
    ready = type(out) is dict
    if ready:  # convert_into's hot path inline: values of exactly their column's type, in range
        for key, value in out.items():
            if type(value) is exact.get(key):
                bound = bounds.get(key)
                if bound is None or -bound <= value < bound:  # type: ignore[operator]
                    changed[key] = value
                    continue
            ready = False
            break
    if not ready:
        problem = convert_into(plpy, route, out, changed)
        if problem is not None:
            infer_failed(plpy, loaded, route, new, problem, None)
            return None
    if column is not None:
        one = route.one_key  # most rows write the same one column: no tuple of out's keys
        if one is not None and len(out) == 1 and one in out:
            stamp = route.one_stamp
        else:
            stamp = route.stamp_for(out)
        changed[column] = stamp if keyed is None else restamp(stamp, ctx.version)
    td["new"] = changed
    return "MODIFY"


def _unstamped(route: Route, td: dict[str, Any], flags: int) -> str:
    td["new"] = {route.stamp_column: stamps.with_flags(route.stamp, flags)}
    return "MODIFY"


def convert_into(
    plpy: Any,
    route: Route,
    out: Any,
    target: dict[str, Any],
    *,
    row: Mapping[str, Any] | None = None,
    keys: Collection[str] = (),
) -> str | None:
    """Check ``out`` (what infer returned) and write its converted values into ``target``.

    ``keys`` are columns ``out`` may not change (batch mode matches rows on them; ``row`` holds
    their values). Returns what is wrong with ``out``, or None when every value was written.
    """
    if type(out) is not dict and not isinstance(out, Mapping):
        return f"infer must return a dict of column values or None, got {type(out).__name__}"
    exact, bounds, converters = route.exact, route.bounds, route.converters
    value: Any
    for column, value in out.items():
        if keys and column in keys and row is not None:
            if value == row.get(column):
                continue
            return (
                f"infer_batch changed key column {column!r} from {_short(row.get(column))} to "
                f"{_short(value)}; batch mode writes outputs back by the primary key, which "
                "infer_batch may not change (use WITH (infer_mode = 'row') to infer key columns)"
            )
        if type(value) is exact.get(column):
            bound = bounds.get(column)
            if bound is None or -bound <= value < bound:  # type: ignore[operator]
                target[column] = value
                continue
        convert = converters.get(column)
        if convert is None:
            return (
                f"infer returned column {column!r}, which {route.info.relation} does not have "
                f"(columns: {', '.join(converters)})"
            )
        described = route.columns[column]
        if value is None:
            if described.not_null:
                return f"column {column!r} ({described.type}) is NOT NULL; infer returned None"
            target[column] = None
            continue
        try:
            converted = convert(value)
        except ValueMismatch as e:
            return (
                f"column {column!r} expects {e}; infer returned {type(value).__name__} "
                f"{_short(value)}"
            )
        except CannotHold as e:
            return _cannot_hold(described, value, str(e))
        if type(converted) is Unchecked:
            converted = converted.value
            problem = check_input(plpy, described, converted)
            if problem is not None:
                return problem
        target[column] = converted
    return None


def _cannot_hold(column: Column, value: Any, why: str) -> str:
    text = f"column {column.name!r} ({column.type}) cannot hold {_short(value)}"
    return f"{text}: {why}" if why else text


def check_input(plpy: Any, column: Column, value: Any) -> str | None:
    """Run ``value`` through the input function of ``column``'s type (with its modifiers) in a
    subtransaction, exactly as PL/Python will when it writes the row; what is wrong, or None."""
    plan = _checks.get(column.check_type)
    if plan is None:
        try:
            plan = plpy.prepare("SELECT $1 IS NULL AS missing", [column.check_type])
        except plpy.SPIError:  # a type PL/Python cannot name: it converts the row by itself
            return None
        _checks[column.check_type] = plan
    try:
        plan.execute([value])
    except plpy.SPIError as e:
        if must_propagate(plpy, e):
            raise
        return _cannot_hold(column, value, str(e))
    return None


def infer_failed(
    plpy: Any,
    loaded: LoadedTrigger,
    route: Route,
    new: Mapping[str, Any],
    what: str,
    exc: BaseException | None,
) -> None:
    """Fail the statement naming trigger, relation, row key and error (SQLSTATE MP300); under
    on_error = 'skip' record the error and return None (the row is stored without outputs)."""
    key = {c: new.get(c) for c in route.key_columns}
    message = (
        f'motion trigger "{loaded.name}" infer failed on {route.info.relation} row '
        f"{key_text(key)}: {what}"
    )
    if loaded.settings.on_error == "skip":
        record_infer_error(plpy, loaded.name, route.info.relation, key, message)
        plpy.warning(message)
        return None
    extra = {"detail": user_traceback(exc)} if exc is not None else {}
    plpy.error(message, sqlstate=InferError.sqlstate, **extra)
    return None


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` from the user's code on (motion's own calling frames left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and _is_motion(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _is_motion(filename: str) -> bool:
    return os.path.dirname(os.path.abspath(filename)) == _HERE


def record_infer_error(
    plpy: Any, trigger: str, relation: str, key: Mapping[str, Any], message: str
) -> None:
    """One row of ``motion.infer_errors``."""
    global _record
    plan = _record
    if plan is None:
        plan = _record = plpy.prepare(query("record_infer_error"), ["text", "text", "text", "text"])
    plan.execute([trigger, relation, json.dumps(key, default=str), message])


def key_text(key: Mapping[str, Any]) -> str:
    """``(id)=(7)``: a row key the way Postgres' own errors show it."""
    if not key:
        return "(no primary key)"
    return "(" + ", ".join(key) + ")=(" + ", ".join(_short(v) for v in key.values()) + ")"


def span_text(route: Route, rows: Sequence[Mapping[str, Any]]) -> str:
    """The keys of ``rows``: one key, or the first … last and the count."""
    first = key_text({c: rows[0].get(c) for c in route.key_columns})
    if len(rows) == 1:
        return first
    last = key_text({c: rows[-1].get(c) for c in route.key_columns})
    return f"{first} … {last} ({len(rows)} rows)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
