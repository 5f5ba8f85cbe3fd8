"""Trigger classes returning every kind of bad (and good) infer output, for the infer error tests.

The row's ``kind`` column names what infer returns (a key of :data:`CASES`, or ``'good'``), so one
trigger covers every case and one statement can mix them.
"""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from decimal import Decimal
from typing import Any

import motion_pg
from motion_pg import Context, Event

# the relation the cases write into
TABLE = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE items (
    id int PRIMARY KEY, kind text NOT NULL,
    i2 int2, i4 int4, i8 int8, num numeric(5,2), numx numeric, f4 real, vc varchar(3), ch char(3),
    req text NOT NULL DEFAULT 'unset', emb vector(3), d date, ts timestamptz, u uuid, ip inet,
    m mood, pos posint, extra int
)
"""

# kind -> (what infer returns, or an exception class to raise; a fragment of the expected error)
CASES: dict[str, tuple[Any, str]] = {
    "int2_overflow": ({"i2": 40000}, "column 'i2' (smallint) cannot hold 40000"),
    "int4_overflow": ({"i4": 3000000000}, "column 'i4' (integer) cannot hold 3000000000"),
    "int8_overflow": ({"i8": 2**63}, "column 'i8' (bigint) cannot hold 9223372036854775808"),
    "int4_from_float": ({"i4": 1.5}, "column 'i4' expects an integer; infer returned float 1.5"),
    "numeric_overflow": (
        {"num": Decimal("1000.00")},
        "column 'num' (numeric(5,2)) cannot hold Decimal('1000.00')",
    ),
    "numeric_rounds_over": ({"num": 999.995}, "column 'num' (numeric(5,2)) cannot hold 999.995"),
    "numeric_infinity": ({"num": float("inf")}, "column 'num' (numeric(5,2)) cannot hold inf"),
    "float4_overflow": ({"f4": 1e40}, "column 'f4' (real) cannot hold 1e+40"),
    "varchar_too_long": ({"vc": "abcd"}, "column 'vc' (character varying(3)) cannot hold 'abcd'"),
    "char_too_long": ({"ch": "abcd"}, "column 'ch' (character(3)) cannot hold 'abcd'"),
    "none_not_null": ({"req": None}, "column 'req' (text) is NOT NULL; infer returned None"),
    "vector_dims": ({"emb": [1.0, 2.0]}, "column 'emb' expects 3 dimensions, got 2"),
    "vector_text_dims": ({"emb": "[1,2]"}, "column 'emb' (public.vector(3)) cannot hold '[1,2]'"),
    "bad_date": ({"d": "not a date"}, "column 'd' (date) cannot hold 'not a date'"),
    "bad_timestamp": (
        {"ts": "2020-13-45 10:00"},
        "column 'ts' (timestamp with time zone) cannot hold '2020-13-45 10:00'",
    ),
    "date_from_int": ({"d": 20200102}, "column 'd' expects a datetime.date or str"),
    "bad_uuid": ({"u": "abc"}, "column 'u' (uuid) cannot hold 'abc'"),
    "bad_inet": ({"ip": "999.1.1.1"}, "column 'ip' (inet) cannot hold '999.1.1.1'"),
    "bad_enum": ({"m": "angry"}, "column 'm' (public.mood) cannot hold 'angry'"),
    "domain_check": ({"pos": -1}, "column 'pos' (public.posint) cannot hold -1"),
    "unknown_column": ({"nope": 1}, "infer returned column 'nope', which public.items does not"),
    "not_a_dict": (["x"], "infer must return a dict of column values or None, got list"),
    "keyboard_interrupt": (KeyboardInterrupt, "KeyboardInterrupt"),
    "system_exit": (SystemExit, "SystemExit: 3"),
    "value_error": (ValueError, "ValueError: bad row"),
}

GOOD: dict[str, Any] = {
    "i2": 32767, "i4": -(2**31), "i8": 2**63 - 1, "num": Decimal("999.99"), "numx": float("inf"),
    "f4": 1.5, "vc": "ab", "ch": "abc", "req": "set", "emb": [1, 2, 3],
    "d": datetime.date(2020, 1, 2), "ts": datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "u": uuid.UUID(int=7), "ip": ipaddress.ip_address("10.0.0.1"), "m": "happy", "pos": 5, "extra": 1,
}  # fmt: skip

# the same values as strings where the type has a text form
GOOD_TEXT: dict[str, Any] = {
    "num": Decimal("-999.99"), "emb": "[4,5,6]", "d": "2020-01-02",
    "ts": "2020-01-02 03:04:05+00", "u": "00000000-0000-0000-0000-000000000007",
    "ip": "192.168.0.1/24", "vc": "abc  ",
}  # fmt: skip


def output(kind: str) -> Any:
    """What infer returns for a row of this ``kind`` (raises for the exception kinds)."""
    if kind == "good":
        return dict(GOOD)
    if kind == "good_text":
        return {**GOOD, **GOOD_TEXT}
    if kind == "none":
        return None
    value, _ = CASES[kind]
    if value is SystemExit:
        raise SystemExit(3)
    if isinstance(value, type):
        raise value("bad row") if value is ValueError else value()
    return value


class Emit(motion_pg.Trigger):
    """Row mode: infer returns :func:`output` of the row's kind; fit counts events."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> Any:
        return output(row["kind"])

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class EmitBatch(motion_pg.Trigger):
    """Batch mode: infer_batch returns :func:`output` of each row's kind."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[Any]:
        return [output(r["kind"]) for r in rows]

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class ChangesKey(EmitBatch):
    """infer_batch returns the row's primary key: changed for kind 'move', unchanged otherwise."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[Any]:
        return [
            {"id": r["id"] + 1000 if r["kind"] == "move" else r["id"], "n": r["id"] * 2}
            for r in rows
        ]


class AliasColumns(EmitBatch):
    """Writes columns named like the aliases of motion's generated SQL (t, u, k0, v0, n)."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[Any]:
        return [
            {"t": f"t{r['value']}", "u": r["value"] * 2, "v0": r["value"] * 3, "n": r["value"]}
            for r in rows
        ]


class Lookup(motion_pg.Trigger):
    """infer reads ``lookup`` unqualified through ctx.db: the trigger's recorded search_path."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        found = ctx.db.query("SELECT label FROM lookup WHERE id = $1::int", [row["value"]])
        path = ctx.db.query("SELECT pg_catalog.current_setting('search_path') AS p")[0]["p"]
        return {"label": found[0]["label"] if found else None, "seen_path": path}


class LookupBatch(Lookup):
    """Lookup in batch mode."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[Any]:
        return [self.infer(r, ctx) for r in rows]


class Sleeps(motion_pg.Trigger):
    """infer sleeps in SQL (for statement_timeout: a cancel must never be skipped)."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        ctx.db.query("SELECT pg_catalog.pg_sleep(5)")
        return {"extra": 1}
