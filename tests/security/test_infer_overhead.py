"""The cheap pre-checks on ``motion.async_writeback`` and ``motion.backfilling`` (issue 15 goal
4): motion's sync triggers ask the worker's write-back mark, or this backend's batch / backfill
write-back, only when such a setting is 'on', and any client may set them. Setting them must change
nothing for a sync motion trigger: its rows are still inferred, stamped and queued for fit, and a
forged stamp is still refused."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from .conftest import Role, jobs


@pytest.mark.parametrize("setting", ["motion.async_writeback", "motion.backfilling"])
@pytest.mark.parametrize("value", ["on", "off", "ON", ""])
def test_the_write_back_settings_skip_nothing(
    conn: psycopg.Connection[Any], app: Role, setting: str, value: str
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    genuine = conn.execute("SELECT counter_lineage FROM items WHERE value = 1").fetchone()
    assert genuine is not None and genuine[0] is not None
    before = jobs(conn)
    with app.connect() as c:
        c.execute("SELECT set_config(%s, %s, false)", [setting, value])
        c.execute("INSERT INTO items (value) VALUES (2)")
        c.execute("INSERT INTO items (value) SELECT g FROM generate_series(10, 12) g")
        c.execute("UPDATE items SET counter_lineage = '\\x0102' WHERE value = 1")
    rows = conn.execute(
        "SELECT value, doubled, counter_lineage IS NOT NULL FROM items WHERE value <> 1"
        " ORDER BY value"
    ).fetchall()
    assert rows == [(v, 2 * v, True) for v in (2, 10, 11, 12)]  # inferred and stamped
    assert jobs(conn) == before + 5  # 4 inserts and the update: fit events as usual
    stamp = conn.execute("SELECT counter_lineage FROM items WHERE value = 1").fetchone()
    assert stamp is not None and stamp[0] != b"\x01\x02"  # the forged stamp did not stick
