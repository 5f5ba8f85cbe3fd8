"""The distribution map behind code identities: cached on disk, never stale after an install."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from motion_pg.runtime import distributions


def _install(site: Path, name: str, version: str) -> None:
    for old in site.glob(f"{name}-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{name}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "path", [str(root), *sys.path])
    distributions.forget()
    yield root
    distributions.forget()


def test_a_new_process_reads_the_map_from_the_cache(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(site, "motionfakedist", "1.0")
    assert distributions.versions({"motionfakedist"}) == {"motionfakedist": "1.0"}
    distributions.forget()  # as a new process: only the file is left

    def scan() -> None:
        raise AssertionError("scanned the distributions again")

    monkeypatch.setattr(distributions, "_compute", scan)
    assert distributions.versions({"motionfakedist"}) == {"motionfakedist": "1.0"}


def test_an_upgrade_is_seen_at_once(site: Path) -> None:
    _install(site, "motionfakedist", "1.0")
    assert distributions.versions({"motionfakedist"}) == {"motionfakedist": "1.0"}
    _install(site, "motionfakedist", "2.0")
    # the same second on a coarse clock must not hide the change
    st = os.stat(site)
    os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert distributions.versions({"motionfakedist"}) == {"motionfakedist": "2.0"}
    distributions.forget()
    assert distributions.versions({"motionfakedist"}) == {"motionfakedist": "2.0"}


def test_an_unwritable_cache_only_costs_the_scan(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    _install(site, "motionfakedist", "1.0")
    assert distributions.versions({"motionfakedist"}) == {"motionfakedist": "1.0"}
