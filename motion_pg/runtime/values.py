"""Turning what ``infer`` returns into values of the relation's column types.

PL/Python converts Python values with the column type's input function only after the trigger
returned, so a wrong value would fail with an error that names no trigger. We check and convert
here, per column type, and name the trigger, the column and the value when they do not fit.

Checks that are cheap in Python (integer ranges, numeric precision, lengths, vector dimensions,
enum labels) run here. A value only the type's input function can judge (a str for a date, an
inet, a domain, a composite…) comes back wrapped in :class:`Unchecked`; the caller runs it through
the input function in a subtransaction (:mod:`motion_pg.runtime.outputs`).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import numpy as np

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    """A column of a routed relation, as ``relation_columns`` describes it."""

    name: str
    type_name: str  # pg_type.typname
    typmod: int
    type: str  # format_type, for messages: "integer", "character varying(3)"
    check_type: str  # schema-qualified, with its modifiers: "public.vector(3)"
    not_null: bool = False
    array_type: str | None = None  # the schema-qualified array type, when the type has one
    enum_labels: tuple[str, ...] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Column:
        """A column from a ``relation_columns`` row."""
        labels = row.get("enum_labels")
        return cls(
            name=row["name"], type_name=row["type_name"], typmod=row["typmod"], type=row["type"],
            check_type=row["check_type"], not_null=bool(row["not_null"]),
            array_type=row["array_type"], enum_labels=tuple(labels) if labels else None,
        )  # fmt: skip


class ValueMismatch(Exception):
    """A value of the wrong kind for its column; the message says what was expected."""


class CannotHold(Exception):
    """A value of the right kind the column cannot hold; the message (maybe empty) says why."""


class Unchecked:
    """A value only the column type's input function can check."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


# integer columns: values v with -bound <= v < bound
INT_BOUNDS = {"int2": 1 << 15, "int4": 1 << 31, "int8": 1 << 63}
_WIDE = Context(prec=2000, rounding=ROUND_HALF_UP)  # numeric rounds half away from 0


def _int(bound: int) -> Converter:
    def convert(v: Any) -> Any:
        if type(v) is not int:
            if isinstance(v, bool | np.bool_):
                raise ValueMismatch("an integer")
            integral = isinstance(v, int | np.integer) or (
                isinstance(v, float | np.floating | Decimal) and math.isfinite(v) and v == int(v)
            )
            if not integral:
                raise ValueMismatch("an integer")
            v = int(v)
        if not -bound <= v < bound:
            raise CannotHold()
        return v

    return convert


def _float(single: bool) -> Converter:
    def convert(v: Any) -> Any:
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | Decimal | np.number):
            raise ValueMismatch("a number")
        try:
            f = float(v)
        except OverflowError:
            raise CannotHold() from None
        if single and math.isfinite(f):
            try:
                narrowed = struct.unpack("f", struct.pack("f", f))[0]
            except OverflowError:
                narrowed = math.inf
            if math.isinf(narrowed):
                raise CannotHold("out of range for real")
            if f != 0.0 and narrowed == 0.0:
                raise CannotHold("out of range for real (underflow)")
        return f

    return convert


def _numeric(typmod: int) -> Converter:
    precision = scale = None
    if typmod >= 4:
        precision = ((typmod - 4) >> 16) & 0xFFFF
        scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024

    def convert(v: Any) -> Any:
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | Decimal | np.number):
            raise ValueMismatch("a number")
        if isinstance(v, np.floating):
            v = float(v)
        elif isinstance(v, np.integer):
            v = int(v)
        if precision is None or scale is None:
            return v
        d = v if isinstance(v, Decimal) else Decimal(repr(v) if isinstance(v, float) else v)
        if d.is_nan():
            return v
        if d.is_infinite():
            raise CannotHold("infinity")
        try:
            rounded = _WIDE.quantize(d, Decimal(1).scaleb(-scale))
        except InvalidOperation:
            raise CannotHold(f"more than {precision} digits") from None
        if rounded != 0 and rounded.adjusted() + 1 > precision - scale:
            raise CannotHold(f"at most {precision - scale} digits before the decimal point")
        return v

    return convert


def _bool(v: Any) -> Any:
    if not isinstance(v, bool | np.bool_):
        raise ValueMismatch("a bool")
    return bool(v)


def _text(limit: int | None) -> Converter:
    def convert(v: Any) -> Any:
        if not isinstance(v, str | np.str_):
            raise ValueMismatch("a str")
        if "\x00" in v:
            raise ValueMismatch("a str without NUL characters")
        v = str(v)
        if limit is not None and len(v) > limit:
            if v[limit:].strip(" ") == "":  # Postgres drops trailing spaces that do not fit
                return v[:limit]
            raise CannotHold(f"{len(v)} characters, at most {limit}")
        return v

    return convert


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
            return Unchecked(v)
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


def _typed(expected: str, *types: type) -> Converter:
    """Values of ``types`` pass as they are (PL/Python writes their str()); a str is checked by
    the type's input function; anything else is refused."""

    def convert(v: Any) -> Any:
        if isinstance(v, types):
            return v
        if isinstance(v, str):
            return Unchecked(v)
        raise ValueMismatch(expected)

    return convert


def _uuid(v: Any) -> Any:
    if isinstance(v, uuid.UUID):
        return str(v)
    if not isinstance(v, str):
        raise ValueMismatch("a uuid.UUID or str")
    try:
        return str(uuid.UUID(v))
    except ValueError:
        raise CannotHold("not a valid uuid") from None


def _enum(labels: tuple[str, ...]) -> Converter:
    allowed = frozenset(labels)

    def convert(v: Any) -> Any:
        if not isinstance(v, str):
            raise ValueMismatch(f"a str, one of {', '.join(labels)}")
        if v not in allowed:
            raise CannotHold(f"not one of its labels ({', '.join(labels)})")
        return v

    return convert


def _array(element: Converter) -> Converter:
    def convert(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, list | tuple):
            raise ValueMismatch("a list")
        return [None if x is None else convert(x) if isinstance(x, list) else element(x) for x in v]

    return convert


def _unchecked(v: Any) -> Any:
    return Unchecked(v)


_date = _typed("a datetime.date or str", datetime.date)
_timestamp = _typed("a datetime.datetime, datetime.date or str", datetime.date)
_time = _typed("a datetime.time or str", datetime.time)
_interval = _typed("a datetime.timedelta or str", datetime.timedelta)
_inet = _typed("an ipaddress value or str", ipaddress.IPv4Address, ipaddress.IPv6Address,
               ipaddress.IPv4Network, ipaddress.IPv6Network, ipaddress.IPv4Interface,
               ipaddress.IPv6Interface)  # fmt: skip
_bytea = _typed("bytes or str", bytes, bytearray, memoryview)


def _by_type(type_name: str, typmod: int) -> Converter | None:
    if type_name in INT_BOUNDS:
        return _int(INT_BOUNDS[type_name])
    if type_name in ("varchar", "bpchar"):
        return _text(typmod - 4 if typmod >= 4 else None)
    simple: dict[str, Converter] = {
        "float4": _float(True), "float8": _float(False), "numeric": _numeric(typmod),
        "bool": _bool, "text": _text(None), "name": _text(None), "citext": _text(None),
        "json": _json, "jsonb": _json, "date": _date, "timestamp": _timestamp,
        "timestamptz": _timestamp, "time": _time, "timetz": _time, "interval": _interval,
        "inet": _inet, "cidr": _inet, "uuid": _uuid, "bytea": _bytea,
    }  # fmt: skip
    return simple.get(type_name)


def converter(column: Column) -> Converter:
    """The converter for ``column``: returns the value to write (maybe :class:`Unchecked`), or
    raises :class:`ValueMismatch` / :class:`CannotHold`."""
    name, typmod = column.type_name, column.typmod
    if name == "vector":
        return _vector(typmod if typmod > 0 else None)
    if column.enum_labels is not None:
        return _enum(column.enum_labels)
    found = _by_type(name, typmod)
    if found is not None:
        return found
    if name.startswith("_"):
        element = _by_type(name[1:], typmod)
        if element is not None:
            return _array(element)
    return _unchecked
