"""The Python checks of infer outputs (no database): ranges, precision, lengths, dimensions."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from motion_pg.runtime.values import CannotHold, Column, Unchecked, ValueMismatch, converter


def convert(
    type_name: str, value: Any, typmod: int = -1, labels: tuple[str, ...] | None = None
) -> Any:
    column = Column(
        name="c", type_name=type_name, typmod=typmod, type=type_name, check_type=type_name,
        enum_labels=labels,
    )  # fmt: skip
    return converter(column)(value)


def numeric(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0x7FF)) + 4


@pytest.mark.parametrize(
    ("type_name", "ok", "too_big"),
    [("int2", -(2**15), 2**15), ("int4", 2**31 - 1, 2**31), ("int8", -(2**63), 2**63)],
)
def test_integer_ranges(type_name: str, ok: int, too_big: int) -> None:
    assert convert(type_name, ok) == ok
    assert convert(type_name, np.int64(3)) == 3 and convert(type_name, 4.0) == 4
    with pytest.raises(CannotHold):
        convert(type_name, too_big)
    with pytest.raises(ValueMismatch):
        convert(type_name, True)
    with pytest.raises(ValueMismatch):
        convert(type_name, float("nan"))


def test_numeric_precision_and_scale_round_like_postgres() -> None:
    assert convert("numeric", Decimal("999.994"), numeric(5, 2)) == Decimal("999.994")
    for bad in (Decimal("999.995"), 1000, float("inf"), Decimal("-Infinity")):
        with pytest.raises(CannotHold):
            convert("numeric", bad, numeric(5, 2))
    assert convert("numeric", float("nan"), numeric(5, 2)) != 0  # NaN fits any numeric
    assert convert("numeric", float("inf")) == float("inf")  # unconstrained numeric holds it
    assert convert("numeric", Decimal("0.001"), numeric(3, 5)) == Decimal("0.001")
    with pytest.raises(CannotHold):
        convert("numeric", Decimal("0.01"), numeric(3, 5))
    with pytest.raises(CannotHold):
        convert("numeric", Decimal("1e5000"), numeric(5, 2))


def test_real_overflow_and_underflow() -> None:
    assert convert("float4", 1.5) == 1.5 and convert("float4", float("inf")) == float("inf")
    for bad in (1e40, -1e40, 1e-50):
        with pytest.raises(CannotHold):
            convert("float4", bad)
    with pytest.raises(CannotHold):
        convert("float8", 10**400)


def test_lengths_drop_trailing_spaces_like_postgres() -> None:
    assert convert("varchar", "abc  ", 3 + 4) == "abc"
    with pytest.raises(CannotHold):
        convert("bpchar", "abcd", 3 + 4)
    assert convert("text", "x" * 10_000) == "x" * 10_000


def test_values_only_the_input_function_can_check() -> None:
    assert isinstance(convert("date", "2020-01-02"), Unchecked)
    assert convert("date", datetime.date(2020, 1, 2)) == datetime.date(2020, 1, 2)
    assert convert("timestamptz", datetime.date(2020, 1, 2)) == datetime.date(2020, 1, 2)
    with pytest.raises(ValueMismatch):
        convert("date", 20200102)
    assert isinstance(convert("vector", "[1,2]", 3), Unchecked)
    assert isinstance(convert("some_domain", 5), Unchecked)


def test_uuid_enum_and_arrays() -> None:
    assert convert("uuid", uuid.UUID(int=1).hex) == str(uuid.UUID(int=1))
    with pytest.raises(CannotHold):
        convert("uuid", "abc")
    assert convert("mood", "sad", labels=("happy", "sad")) == "sad"
    with pytest.raises(CannotHold):
        convert("mood", "angry", labels=("happy", "sad"))
    assert convert("_int4", [[1, 2], [3, None]]) == [[1, 2], [3, None]]
    with pytest.raises(CannotHold):
        convert("_int2", [1, 2**20])
    with pytest.raises(ValueMismatch):
        convert("vector", [1, 2], 3)
