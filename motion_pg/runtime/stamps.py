"""Lineage stamps: what infer writes into a row's lineage column, and reading them back.

A stamp is a few bytes in the row's own tuple (no other write per row or per statement), so a
rollback leaves nothing and the stamp is exact: it names the route, the state version served, the
deploy of the code in force, the writing transaction and the statement's time, and which columns
infer wrote (a bitmask of the routed relation's attribute numbers). Format 2 (written since 0.5)::

    format u8 = 2 | flags u8 | version | deploy id  (each: length u8, then that many bytes,
    big-endian) | route ordinal | login role oid | xact | time µs  (each an unsigned LEB128
    varint) | column mask (bit attnum - 1, trailing zero bytes dropped)

typically about 20 bytes, where format 1 (0.4) took 32 fixed bytes before the mask::

    format u8 = 1 | flags u8 | route ordinal u16 | version u32 | deploy id u32 | role oid u32
    | xact i64 | time µs i64 | column mask

The stamp is most of the width lineage adds to a row (a B1 row: 80 bytes with a format 1 stamp,
64 with format 2, 40 without lineage): fewer heap pages and less WAL per row. Both formats decode.
Length-prefixed big-endian numbers compare like the numbers, so the bytes of a format 2 stamp
from its third on compare like its (version, deploy) pair with :func:`serving` of a pair
(backfill's STALE filter, in SQL). Flags say what infer did: :data:`WROTE` its outputs, returned
:data:`NOTHING`, or failed and was :data:`SKIPPED` (``on_error = 'skip'``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

FORMAT = 2
WROTE, NOTHING, SKIPPED = 0, 1, 2
FLAG_NAMES = {WROTE: "wrote outputs", NOTHING: "returned nothing", SKIPPED: "failed (skipped)"}
_HEAD_1 = struct.Struct(">BBHIIIqq")  # format 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ordered(n: int) -> bytes:
    """``n`` as its length and big-endian bytes: the encodings of two numbers compare like them."""
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((len(body),)) + body


def serving(version: int, deploy: int) -> bytes:
    """A format 2 stamp's (version, deploy) bytes, from its third byte on."""
    return _ordered(max(version, 0)) + _ordered(deploy)


def head(ordinal: int, version: int, deploy: int, role: int, xact: int, micros: int) -> bytes:
    """The stamp of one statement of one route, before its column mask (flags: :data:`WROTE`)."""
    if xact < 0 or micros < 0:
        raise ValueError(f"a lineage stamp holds no negative numbers: xact {xact}, time {micros}")
    return _prefix(ordinal, version, deploy, role) + _varint_fast(xact) + _varint_fast(micros)


@lru_cache(maxsize=64)
def _prefix(ordinal: int, version: int, deploy: int, role: int) -> bytes:
    """A head's bytes before its transaction and time: the same for every statement of a route
    while version, deploy and login role stay (built once per statement it was not)."""
    if min(ordinal, role, deploy) < 0:
        raise ValueError(
            f"a lineage stamp holds no negative numbers: ordinal {ordinal}, role {role}, "
            f"deploy {deploy}"
        )
    return bytes((FORMAT, WROTE)) + serving(version, deploy) + _varint(ordinal) + _varint(role)


def _varint_fast(n: int) -> bytes:
    """:func:`_varint`, with the encoding of ``n >> 14`` cached: a transaction id or a time in µs
    changes only its low 14 bits between most statements (LEB128: the low two 7-bit groups, then
    the encoding of the rest)."""
    if n < 0x4000:
        return _varint(n)
    return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80)) + _varint_high(n >> 14)


_varint_high = lru_cache(maxsize=256)(_varint)


def _read(stamp: bytes) -> tuple[list[int], int]:
    """The numbers of a format 2 head (ordinal, version, deploy, role, xact, micros) and the
    offset of the mask after them."""
    values: list[int] = []
    at = 2
    for _ in range(2):  # version, deploy
        if at >= len(stamp) or at + 1 + stamp[at] > len(stamp):
            raise ValueError(f"not a motion lineage stamp (cut off at byte {at})")
        end = at + 1 + stamp[at]
        values.append(int.from_bytes(stamp[at + 1 : end], "big"))
        at = end
    for _ in range(4):  # ordinal, role, xact, micros
        n = shift = 0
        while True:
            if at >= len(stamp):
                raise ValueError(f"not a motion lineage stamp (cut off at byte {at})")
            byte = stamp[at]
            at += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        values.append(n)
    version, deploy, ordinal, role, xact, micros = values
    return [ordinal, version, deploy, role, xact, micros], at


@lru_cache(maxsize=4096)  # STATE PER restamps every row: a statement's stamps repeat
def with_version(stamp: bytes, version: int) -> bytes:
    """``stamp`` naming state ``version`` instead of its own (STATE PER: the key's version)."""
    if stamp[0] == 1:
        return stamp[:4] + struct.pack(">I", max(version, 0)) + stamp[8:]
    (ordinal, _, deploy, role, xact, micros), at = _read(stamp)
    return with_flags(head(ordinal, version, deploy, role, xact, micros), stamp[1]) + stamp[at:]


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
    """Read a stamp (format 1 or 2); raises ValueError when ``stamp`` is not one."""
    if len(stamp) >= _HEAD_1.size and stamp[0] == 1:
        _, flags, ordinal, version, deploy, role, xact, micros = _HEAD_1.unpack_from(stamp)
        at = _HEAD_1.size
    elif len(stamp) > 2 and stamp[0] == FORMAT:
        flags = stamp[1]
        (ordinal, version, deploy, role, xact, micros), at = _read(stamp)
    else:
        raise ValueError(f"not a motion lineage stamp ({len(stamp)} bytes)")
    bits = int.from_bytes(stamp[at:], "little")
    attnums = tuple(i + 1 for i in range(bits.bit_length()) if bits >> i & 1)
    return Stamp(flags, ordinal, version, deploy, role, xact, micros, attnums)
