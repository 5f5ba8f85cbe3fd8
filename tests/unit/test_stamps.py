"""Lineage stamps: format 2 (varints) round-trips, format 1 (0.4) still decodes."""

from __future__ import annotations

import struct

import pytest

from motion_pg.runtime import stamps


def test_format_2_round_trips() -> None:
    head = stamps.head(3, 41, 7, 16_385, 123_456, 1_796_000_000_000_000)
    stamp = head + stamps.mask([2, 3, 9])
    got = stamps.decode(stamp)
    assert (got.flags, got.ordinal, got.version, got.deploy, got.role, got.xact, got.micros) == (
        stamps.WROTE,
        3,
        41,
        7,
        16_385,
        123_456,
        1_796_000_000_000_000,
    )
    assert got.attnums == (2, 3, 9)
    assert stamp[0] == 2


def test_format_2_is_narrow() -> None:
    # a B1 row's stamp: the row stays within 64 bytes (format 1: 33 bytes, an 80-byte row)
    stamp = stamps.head(0, 1, 1, 10, 50_000, 1_796_000_000_000_000) + stamps.mask([3])
    assert len(stamp) <= 23


def test_flags_and_large_values() -> None:
    head = stamps.head(65_535, 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**63 - 1, 2**62)
    got = stamps.decode(stamps.with_flags(head, stamps.SKIPPED))
    assert (got.flags, got.ordinal, got.version, got.xact, got.micros) == (
        stamps.SKIPPED,
        65_535,
        2**32 - 1,
        2**63 - 1,
        2**62,
    )
    assert got.attnums == ()


def test_format_1_still_decodes() -> None:
    old = struct.pack(">BBHIIIqq", 1, 0, 2, 40, 7, 10, 99, 123) + b"\x05"
    got = stamps.decode(old)
    assert (got.ordinal, got.version, got.deploy, got.role, got.xact, got.micros) == (
        2,
        40,
        7,
        10,
        99,
        123,
    )
    assert got.attnums == (1, 3)
    assert stamps.decode(stamps.with_version(old, 12)).version == 12


def test_with_version_keeps_the_rest() -> None:
    stamp = stamps.head(2, 40, 7, 10, 99, 123) + b"\x01"
    assert stamps.with_version(stamp, 300) == stamps.head(2, 300, 7, 10, 99, 123) + b"\x01"


@pytest.mark.parametrize("raw", [b"", b"\x02", b"\x02\x00\x80", b"\x07" * 40, b"\x01" * 10])
def test_not_a_stamp(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a motion lineage stamp"):
        stamps.decode(raw)


@pytest.mark.parametrize(
    ("version", "deploy"), [(0, 0), (1, 7), (255, 1), (256, 0), (70_000, 3), (2**32 - 1, 2**31)]
)
def test_a_stamp_compares_with_serving_like_its_version_and_deploy(
    version: int, deploy: int
) -> None:
    # backfill's STALE filter: substr(stamp, 3) < serving(version, deploy), in SQL
    stamp = stamps.head(4, version, deploy, 16_385, 9, 1_796_000_000_000_000) + b"\x04"
    for other in [(version, deploy), (version + 1, 0), (version, deploy + 1), (version + 300, 9)]:
        assert (stamp[2:] < stamps.serving(*other)) == ((version, deploy) < other)
    for other in [(version - 1, deploy), (version, deploy - 1)]:
        if min(other) >= 0:
            assert not stamp[2:] < stamps.serving(*other)
