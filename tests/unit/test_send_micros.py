"""The statement time motion.infer_statement passes as ``timestamptz_send`` bytes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from motion_pg.runtime.stamping import send_micros


def _sent(at: datetime) -> bytes:
    """What timestamptz_send makes of ``at``: big-endian signed µs since 2000-01-01 UTC."""
    delta = at - datetime(2000, 1, 1, tzinfo=UTC)
    return struct.pack(">q", delta // datetime.resolution)


def test_send_micros_is_microseconds_since_the_unix_epoch() -> None:
    for at in (
        datetime(2026, 11, 30, 22, 50, 1, 123456, tzinfo=UTC),
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # a negative count
        datetime(1970, 1, 1, tzinfo=UTC),
    ):
        expected = (at - datetime(1970, 1, 1, tzinfo=UTC)) // datetime.resolution
        assert send_micros(_sent(at)) == expected, at
