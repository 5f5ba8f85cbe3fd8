"""``motion.state(trigger, version)``: a trigger's state version rendered as jsonb, in the server.

Values JSON can hold (numbers, strings, booleans, None, and lists/dicts of those; NumPy scalars and
small arrays as their lists) render as themselves; anything else renders as a description:
``{"type": "module.Class", "summary": short repr, "bytes": pickled size}``. A value that cannot be
unpickled in the server is described with its error instead of failing the whole call.
"""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

from motion_pg.errors import DefinitionError, raise_in_server, unknown_trigger
from motion_pg.queries import query
from motion_pg.runtime import retention
from motion_pg.runtime.plpy_db import PlpyDatabase

# a value with more scalars than this is described, not rendered (a big array is no JSON to read)
MAX_ELEMENTS = 1000
SUMMARY_CHARS = 200


class _TooLarge(Exception):
    pass


def type_name(value: Any) -> str:
    """``module.Class`` of ``value`` (``builtins`` left out)."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def summary(value: Any) -> str:
    """A short one-line repr of ``value``."""
    try:
        text = repr(value)
    except Exception as e:  # a user __repr__ that raises still gets a summary
        text = f"<repr failed: {type(e).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 3] + "..."


def _numpy_plain(value: Any) -> Any:
    """A NumPy scalar or array as plain Python (scalars via ``item``, arrays via ``tolist``)."""
    if type(value).__module__ != "numpy":
        return value
    if getattr(value, "dtype", None) is not None and value.dtype.kind not in "biuf":
        return value  # strings, objects, datetimes, complex: described
    size = getattr(value, "size", 1)
    if size > MAX_ELEMENTS:
        raise _TooLarge
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        return value.tolist()
    return value.item() if hasattr(value, "item") else value


def _jsonable(value: Any, budget: list[int]) -> Any:
    """``value`` as JSON-able plain data; raises ``_TooLarge`` or ``TypeError`` when it is not."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    value = _numpy_plain(value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError("non-finite float")
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v, budget) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v, budget) for k, v in value.items()}
    raise TypeError(type_name(value))


def render(value: Any, pickled_size: int) -> Any:
    """The rendering of one state value (see the module docstring)."""
    try:
        return _jsonable(value, [MAX_ELEMENTS])
    except (_TooLarge, TypeError):
        return {"type": type_name(value), "summary": summary(value), "bytes": pickled_size}


def render_blob(data: bytes) -> Any:
    """The rendering of one pickled state value."""
    try:
        value = pickle.loads(data)
    except Exception as e:
        return {
            "type": "unloadable",
            "summary": f"cannot be unpickled here: {type(e).__name__}: {e}"[:SUMMARY_CHARS],
            "bytes": len(data),
        }
    return render(value, len(data))


def state_json(plpy: Any, trigger: str, version: int | None) -> str:
    """``motion.state``: the jsonb text of ``trigger``'s state at ``version`` (default: serving)."""
    db = PlpyDatabase(plpy)
    found = db.query(query("trigger_serving"), [trigger])
    if not found:
        raise_in_server(plpy, unknown_trigger(trigger))
    if version is None:
        version = found[0]["serving_version"]
        if version is None:
            plpy.error(
                f'motion trigger "{trigger}" has no state version yet',
                sqlstate=DefinitionError.sqlstate,
                hint="its setup has not written version 1",
            )
    elif not db.query(query("version_exists"), [trigger, version]):
        plpy.error(
            f'motion trigger "{trigger}" has no version {version}',
            sqlstate=DefinitionError.sqlstate,
            hint="see its versions in motion.version_history",
        )
    pruned = retention.pruned_message(db, trigger, version)
    if pruned is not None:
        plpy.error(pruned, sqlstate=DefinitionError.sqlstate, hint=retention.pruned_hint(trigger))
    keys = {
        r["key"]: render_blob(r["data"]) for r in db.query(query("state_blobs"), [trigger, version])
    }
    return json.dumps({"trigger": trigger, "version": version, "keys": keys})
