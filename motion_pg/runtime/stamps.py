"""Lineage stamps: what infer writes into a row's lineage column, and reading them back.

A stamp is a few bytes in the row's own tuple (no other write per row or per statement), so a
rollback leaves nothing and the stamp is exact: it names the route, the state version served, the
deploy of the code in force, the writing transaction and the statement's time, and which columns
infer wrote (a bitmask of the routed relation's attribute numbers)::

    format u8 | flags u8 | route ordinal u16 | version u32 | deploy id u32 | login role oid u32
    | xact i64 | time µs i64 | column mask (bit attnum - 1, trailing zero bytes dropped)

32 bytes plus one byte per 8 columns. Flags say what infer did: :data:`WROTE` its outputs,
returned :data:`NOTHING`, or failed and was :data:`SKIPPED` (``on_error = 'skip'``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FORMAT = 1
WROTE, NOTHING, SKIPPED = 0, 1, 2
FLAG_NAMES = {WROTE: "wrote outputs", NOTHING: "returned nothing", SKIPPED: "failed (skipped)"}
_HEAD = struct.Struct(">BBHIIIqq")
HEAD_SIZE = _HEAD.size
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def head(ordinal: int, version: int, deploy: int, role: int, xact: int, micros: int) -> bytes:
    """The stamp of one statement of one route, before its column mask (flags: :data:`WROTE`)."""
    return _HEAD.pack(FORMAT, WROTE, ordinal, max(version, 0), deploy, role, xact, micros)


def with_flags(stamp: bytes, flags: int) -> bytes:
    """``stamp`` with its flags byte set to ``flags``."""
    return stamp[:1] + bytes((flags,)) + stamp[2:]


def mask(attnums: Iterable[int]) -> bytes:
    """The column mask of the attribute numbers ``attnums``."""
    bits = 0
    for n in attnums:
        bits |= 1 << (n - 1)
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little") if bits else b""


@dataclass(frozen=True)
class Stamp:
    """A decoded stamp."""

    flags: int
    ordinal: int
    version: int
    deploy: int  # motion.deploys.id, 0: not recorded
    role: int  # the session's login role (oid)
    xact: int
    micros: int
    attnums: tuple[int, ...]

    @property
    def at(self) -> datetime:
        """The statement's time (``statement_timestamp()``)."""
        return _EPOCH + timedelta(microseconds=self.micros)

    def columns(self, names: Mapping[int, str]) -> list[str]:
        """The names of the columns infer wrote (attnum → name of the routed relation)."""
        return [names.get(n, f"(dropped column {n})") for n in self.attnums]


def decode(stamp: bytes) -> Stamp:
    """Read a stamp; raises ValueError when ``stamp`` is not one."""
    if len(stamp) < HEAD_SIZE or stamp[0] != FORMAT:
        raise ValueError(f"not a motion lineage stamp ({len(stamp)} bytes)")
    _, flags, ordinal, version, deploy, role, xact, micros = _HEAD.unpack_from(stamp)
    bits = int.from_bytes(stamp[HEAD_SIZE:], "little")
    attnums = tuple(i + 1 for i in range(bits.bit_length()) if bits >> i & 1)
    return Stamp(flags, ordinal, version, deploy, role, xact, micros, attnums)
