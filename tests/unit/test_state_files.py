"""State cache files (runtime/state_files.py): round trip without copies, and every damage refused."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from motion_pg.runtime.shared_state import parse_bytes
from motion_pg.runtime.state_files import (
    CacheFileError,
    check_dir,
    file_name,
    read_value,
    write_value,
)

DIGEST = hashlib.sha256(b"value").digest()


@pytest.fixture
def cache(tmp_path: Path) -> str:
    directory = str(tmp_path / "cache")
    check_dir(directory, os.getuid(), create=True)
    return directory


def test_round_trip_maps_arrays_without_copies(cache: str) -> None:
    value = {"w": np.arange(100_000, dtype=np.float64), "name": "x", "n": [1, 2]}
    size = write_value(cache, DIGEST, value)
    path = Path(cache) / file_name(DIGEST)
    assert path.stat().st_size == size
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    loaded = read_value(cache, DIGEST, os.getuid())
    assert loaded["name"] == "x" and loaded["n"] == [1, 2]
    np.testing.assert_array_equal(loaded["w"], value["w"])
    assert not loaded["w"].flags.owndata and not loaded["w"].flags.writeable  # a view of the map
    assert loaded["w"].ctypes.data % 64 == 0
    assert not [n for n in os.listdir(cache) if n.endswith(".tmp")]


def _damage(cache: str, at: int, data: bytes) -> None:
    with open(Path(cache) / file_name(DIGEST), "r+b") as f:
        f.seek(at)
        f.write(data)


def _stream(cache: str) -> tuple[int, int]:
    with open(Path(cache) / file_name(DIGEST), "rb") as f:
        head = f.read(4096)
    length = int.from_bytes(head[8:12], "little")
    start, size = json.loads(head[44 : 44 + length])["stream"]
    return start, size


@pytest.mark.parametrize(
    ("where", "reason"),
    [("magic", "bad magic"), ("header", "header checksum"), ("stream", "stream checksum")],
)
def test_flipped_bytes_are_refused(cache: str, where: str, reason: str) -> None:
    write_value(cache, DIGEST, {"w": np.zeros(10), "s": "a" * 100})
    start, size = _stream(cache)
    at = {"magic": 0, "header": 50, "stream": start + size // 2}[where]
    with open(Path(cache) / file_name(DIGEST), "rb") as f:
        f.seek(at)
        byte = f.read(1)
    _damage(cache, at, bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CacheFileError, match=reason):
        read_value(cache, DIGEST, os.getuid())


def test_truncated_file_is_refused(cache: str) -> None:
    write_value(cache, DIGEST, {"w": np.zeros(1000)})
    path = Path(cache) / file_name(DIGEST)
    os.truncate(path, path.stat().st_size - 100)
    with pytest.raises(CacheFileError, match="truncated"):
        read_value(cache, DIGEST, os.getuid())
    os.truncate(path, 10)
    with pytest.raises(CacheFileError, match="truncated"):
        read_value(cache, DIGEST, os.getuid())


def test_a_file_of_another_digest_is_refused(cache: str) -> None:
    write_value(cache, DIGEST, {"w": np.zeros(10)})
    other = hashlib.sha256(b"other").digest()
    os.rename(Path(cache) / file_name(DIGEST), Path(cache) / file_name(other))
    with pytest.raises(CacheFileError, match="another digest"):
        read_value(cache, other, os.getuid())


def test_symlinks_and_open_modes_are_refused(cache: str, tmp_path: Path) -> None:
    write_value(cache, DIGEST, {"w": np.zeros(10)})
    path = Path(cache) / file_name(DIGEST)
    os.chmod(path, 0o644)
    with pytest.raises(CacheFileError, match="private"):
        read_value(cache, DIGEST, os.getuid())
    os.chmod(path, 0o600)
    other = hashlib.sha256(b"other").digest()
    os.symlink(path, Path(cache) / file_name(other))
    with pytest.raises(OSError):
        read_value(cache, other, os.getuid())  # O_NOFOLLOW
    link = tmp_path / "link"
    os.symlink(cache, link)
    with pytest.raises(CacheFileError, match="symlink"):
        check_dir(str(link), os.getuid(), create=False)
    os.chmod(cache, 0o777)
    with pytest.raises(CacheFileError, match="writable by other users"):
        check_dir(cache, os.getuid(), create=False)
    with pytest.raises(CacheFileError, match="owned by uid"):
        check_dir(cache, os.getuid() + 1, create=False)


def test_parse_bytes() -> None:
    assert parse_bytes("1048576") == 1 << 20
    assert parse_bytes("64kB") == 64 << 10
    assert parse_bytes("2 MB") == 2 << 20
    with pytest.raises(ValueError, match="state_cache_min"):
        parse_bytes("lots")
