"""State cache files written streaming (runtime/state_files.py): the pickle goes straight to the
file, so a writer never holds it beside the value; a header too big for its room still works."""

from __future__ import annotations

import hashlib
import os
import pickle
import tracemalloc
from pathlib import Path

import numpy as np

from motion_pg.runtime.state_files import read_value, write_value


def _dir(tmp_path: Path) -> str:
    os.chmod(tmp_path, 0o700)
    return str(tmp_path)


def test_a_python_value_is_written_without_its_pickle_in_memory(tmp_path: Path) -> None:
    value = list(range(2_000_000))
    stream = len(pickle.dumps(value, protocol=5))
    digest = hashlib.sha256(b"list").digest()
    tracemalloc.start()
    try:
        write_value(_dir(tmp_path), digest, value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < stream / 10, (peak, stream)
    assert read_value(str(tmp_path), digest, os.getuid()) == value


def test_arrays_and_objects_round_trip_with_arrays_mapped(tmp_path: Path) -> None:
    value = {"w": np.arange(1000.0), "names": ["a", "b"], "same": [np.ones(3)] * 3}
    digest = hashlib.sha256(b"mixed").digest()
    write_value(_dir(tmp_path), digest, value)
    back = read_value(str(tmp_path), digest, os.getuid())
    assert (back["w"] == value["w"]).all() and not back["w"].flags.writeable
    assert back["names"] == ["a", "b"] and float(back["same"][2][0]) == 1.0


def test_thousands_of_buffers_outgrow_the_header_room_and_still_work(tmp_path: Path) -> None:
    value = [np.full(2, float(i)) for i in range(5000)]
    digest = hashlib.sha256(b"many").digest()
    size = write_value(_dir(tmp_path), digest, value)
    assert size == (tmp_path / f"{digest.hex()}.mps").stat().st_size
    back = read_value(str(tmp_path), digest, os.getuid())
    assert len(back) == 5000 and float(back[4999][1]) == 4999.0
