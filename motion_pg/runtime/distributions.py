"""Which installed distributions provide a top-level import name, and their versions.

A code identity covers the versions of the distributions a trigger's modules import, so every new
backend works them out on its first infer. ``importlib.metadata.packages_distributions()`` reads
every distribution's ``top_level.txt`` or ``RECORD`` for that: about 0.3 s with a data-science
stack installed, far more than loading a state. The answer is therefore kept in a file per
interpreter and ``sys.path`` (under the OS user's cache directory, written atomically), keyed by
the modification times of the ``sys.path`` directories: installing, upgrading or removing a
distribution adds, renames or removes a ``*.dist-info`` entry, which changes its directory's
modification time, so a stale answer is never used. Without a writable cache directory the map is
computed once per process, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_FORMAT = 1
# (key, top-level name -> {distribution: version}) of this process, once read or computed
_memo: tuple[list[Any], dict[str, dict[str, str]]] | None = None


def versions(top_levels: Iterable[str]) -> dict[str, str]:
    """Distribution -> version for the top-level import names (the standard library has none)."""
    tops = _map()
    found: dict[str, str] = {}
    for top in sorted(top_levels):
        found.update(tops.get(top, {}))
    return dict(sorted(found.items()))


def forget() -> None:
    """Work the map out again at the next call (a deploy: distributions installed since count)."""
    global _memo
    _memo = None


def _map() -> dict[str, dict[str, str]]:
    global _memo
    key = _key()
    if _memo is not None and _memo[0] == key:
        return _memo[1]
    path = _cache_file()
    tops = _read(path, key) if path is not None else None
    if tops is None:
        tops = _compute()
        if path is not None:
            _write(path, key, tops)
    _memo = (key, tops)
    return tops


def _key() -> list[Any]:
    """The ``sys.path`` directories with their modification times (ns)."""
    key: list[Any] = [_FORMAT, sys.executable]
    for entry in sys.path:
        with contextlib.suppress(OSError):
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
    return key


def _compute() -> dict[str, dict[str, str]]:
    tops: dict[str, dict[str, str]] = {}
    for top, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                tops.setdefault(top, {})[dist] = importlib.metadata.version(dist)
    return tops


def _cache_file() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except (KeyError, RuntimeError):  # no home directory for this OS user
        return None
    name = hashlib.sha256(json.dumps([sys.executable, sys.path]).encode()).hexdigest()[:24]
    return root / "motion_pg" / f"distributions-{name}.json"


def _read(path: Path, key: list[Any]) -> dict[str, dict[str, str]] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("key") != key
        or not isinstance(data.get("tops"), dict)
    ):
        return None
    return data["tops"]  # type: ignore[no-any-return]


def _write(path: Path, key: list[Any], tops: dict[str, dict[str, str]]) -> None:
    """Best effort: a directory that cannot be written only costs the next process the scan."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".distributions-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"key": key, "tops": tops}, f)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
