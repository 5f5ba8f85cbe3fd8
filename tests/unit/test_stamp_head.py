"""The stamp head's cached parts (issue 15 goal 4) encode exactly what the plain encoding does."""

from __future__ import annotations

import random

import pytest

from motion_pg.runtime import stamps


def _plain(ordinal: int, version: int, deploy: int, role: int, xact: int, micros: int) -> bytes:
    rest = (ordinal, role, xact, micros)
    return (
        bytes((stamps.FORMAT, stamps.WROTE))
        + stamps.serving(version, deploy)
        + b"".join(map(stamps._varint, rest))
    )


def test_the_fast_varint_is_the_varint() -> None:
    rng = random.Random(15)
    edges = [0, 1, 127, 128, 0x3FFF, 0x4000, 0x4001, 2**21, 2**28 - 1, 2**53, 2**63 - 1]
    for n in edges + [rng.randrange(2 ** rng.randrange(1, 64)) for _ in range(20_000)]:
        assert stamps._varint_fast(n) == stamps._varint(n), n


def test_heads_are_the_plain_encoding_and_decode() -> None:
    rng = random.Random(4)
    for _ in range(5_000):
        args = (
            rng.randrange(8), rng.randrange(-1, 3000), rng.randrange(2**33),
            rng.randrange(2**32), rng.randrange(2**40), rng.randrange(2**53),
        )  # fmt: skip
        head = stamps.head(*args)
        assert head == _plain(*args)
        decoded = stamps.decode(head)
        assert (decoded.xact, decoded.micros) == (args[4], args[5])


@pytest.mark.parametrize("bad", [(0, 1, 1, 1, -1, 1), (0, 1, 1, 1, 1, -1), (0, 1, -1, 1, 1, 1),
                                 (-1, 1, 1, 1, 1, 1), (0, 1, 1, -1, 1, 1)])  # fmt: skip
def test_negative_numbers_are_refused(bad: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="no negative numbers"):
        stamps.head(*bad)
