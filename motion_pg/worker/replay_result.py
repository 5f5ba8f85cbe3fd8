"""What a replay found: each key's digest in the stored version and in its rebuild, and how they
differ. A key's digest is the sha256 of its pickled value, as ``motion.blobs.digest`` stores it."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from typing import Any

from motion_pg.errors import MotionError


class ReplayRefused(MotionError):
    """replay refused"""


@dataclass(frozen=True)
class Entry:
    """One state value: the sha256 (hex) of its pickle and the pickle's size in bytes."""

    digest: str
    size: int

    @classmethod
    def of(cls, data: bytes) -> Entry:
        """The entry of a value pickled as ``data`` (digested as the worker stores it)."""
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    def to_json(self) -> dict[str, Any]:
        """``{"digest": ..., "bytes": ...}``."""
        return {"digest": self.digest, "bytes": self.size}


@dataclass(frozen=True)
class Difference:
    """A key whose value differs: ``changed`` (both have it), ``added`` (only the rebuild has it)
    or ``removed`` (only the stored version has it)."""

    key: str
    change: str
    stored: Entry | None
    rebuilt: Entry | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able rendering."""
        return {
            "key": self.key,
            "change": self.change,
            "stored": self.stored.to_json() if self.stored else None,
            "rebuilt": self.rebuilt.to_json() if self.rebuilt else None,
        }


@dataclass
class ReplayResult:
    """Version ``version`` of ``trigger`` as stored and as rebuilt from ``basis``."""

    trigger: str
    version: int
    source: str
    basis: str  # how it was rebuilt, e.g. "fit of run 12: 3 events onto version 2"
    stored: dict[str, Entry]
    rebuilt: dict[str, Entry]
    events: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[Difference]:
        """The keys whose digests differ, by key."""
        found = []
        for key in sorted(set(self.stored) | set(self.rebuilt)):
            stored, rebuilt = self.stored.get(key), self.rebuilt.get(key)
            if stored == rebuilt:
                continue
            change = "changed" if stored and rebuilt else "added" if rebuilt else "removed"
            found.append(Difference(key, change, stored, rebuilt))
        return found

    @property
    def equal(self) -> bool:
        """Whether every key's digest is equal (the same keys, the same pickled values)."""
        return not self.differences

    def summary(self) -> str:
        """One line: reproduced, or how many keys differ."""
        if self.equal:
            keys = len(self.stored)
            return (
                f'motion trigger "{self.trigger}" version {self.version} reproduced: '
                f"{keys} key{'s' if keys != 1 else ''}, digests equal"
            )
        n, total = len(self.differences), len(set(self.stored) | set(self.rebuilt))
        return (
            f'motion trigger "{self.trigger}" version {self.version} differs from its rebuild: '
            f"{n} of {total} key{'s' if total != 1 else ''}"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able rendering (``motion-pg replay --json``)."""
        return {
            "trigger": self.trigger,
            "version": self.version,
            "source": self.source,
            "basis": self.basis,
            "events": self.events,
            "status": "equal" if self.equal else "differ",
            "keys": {k: e.to_json() for k, e in sorted(self.stored.items())},
            "differences": [d.to_json() for d in self.differences],
            "notes": self.notes,
        }


def same_value(stored: bytes, rebuilt: bytes) -> bool:
    """Whether two pickles load as values that compare equal (False when either fails to load or
    the comparison is not plainly True, as with NumPy arrays)."""
    try:
        return (pickle.loads(stored) == pickle.loads(rebuilt)) is True
    except Exception:
        return False
