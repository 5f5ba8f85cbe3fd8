"""Turning what ``infer`` returns into values of the relation's column types.

PL/Python converts Python values with the column type's input function only after the trigger
returned, so a wrong value would fail with an error that names no trigger. We check and convert
here, per column type, and name the trigger, the column and the value when they do not fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

Converter = Callable[[Any], Any]


class ValueMismatch(Exception):
    """A value that does not fit its column; the message says what was expected."""


def _int(v: Any) -> Any:
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return int(v)
        raise ValueMismatch("an integer")
    return int(v)


def _float(v: Any) -> Any:
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | Decimal | np.number):
        raise ValueMismatch("a number")
    return float(v)


def _numeric(v: Any) -> Any:
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | Decimal | np.number):
        raise ValueMismatch("a number")
    return v if isinstance(v, Decimal) else float(v) if isinstance(v, np.floating) else v


def _bool(v: Any) -> Any:
    if not isinstance(v, bool | np.bool_):
        raise ValueMismatch("a bool")
    return bool(v)


def _text(v: Any) -> Any:
    if not isinstance(v, str | np.str_):
        raise ValueMismatch("a str")
    if "\x00" in v:
        raise ValueMismatch("a str without NUL characters")
    return str(v)


def _json(v: Any) -> Any:
    try:
        return json.dumps(v, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueMismatch(f"a JSON-serializable value ({e})") from None


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def _vector(dims: int | None) -> Converter:
    def convert(v: Any) -> Any:
        if isinstance(v, str):
            return v
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueMismatch("a list or 1-d array of numbers") from None
        if arr.ndim != 1:
            raise ValueMismatch(f"a 1-d list or array, got {arr.ndim} dimensions")
        if dims is not None and arr.shape[0] != dims:
            raise ValueMismatch(f"{dims} dimensions, got {arr.shape[0]}")
        if not all(math.isfinite(x) for x in arr):
            raise ValueMismatch("finite numbers (no NaN or infinity)")
        return "[" + ",".join(repr(float(x)) for x in arr) + "]"

    return convert


def _array(element: Converter) -> Converter:
    def convert(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, list | tuple):
            raise ValueMismatch("a list")
        return [None if x is None else element(x) for x in v]

    return convert


def _passthrough(v: Any) -> Any:
    return v


_BY_TYPE: dict[str, Converter] = {
    "int2": _int, "int4": _int, "int8": _int,
    "float4": _float, "float8": _float, "numeric": _numeric,
    "bool": _bool,
    "text": _text, "varchar": _text, "bpchar": _text, "name": _text, "citext": _text,
    "json": _json, "jsonb": _json,
}  # fmt: skip


def converter(type_name: str, typmod: int) -> Converter:
    """The converter for a column of type ``type_name`` (pg_type.typname) and ``typmod``."""
    if type_name == "vector":
        return _vector(typmod if typmod > 0 else None)
    if type_name.startswith("_") and type_name[1:] in _BY_TYPE:
        return _array(_BY_TYPE[type_name[1:]])
    return _BY_TYPE.get(type_name, _passthrough)
