"""How a replay's result compares the stored and rebuilt digests of each key."""

from __future__ import annotations

import hashlib
import pickle

from motion_pg.worker.replay_result import Entry, ReplayResult, same_value


def entry(value: object) -> Entry:
    return Entry.of(pickle.dumps(value, protocol=5))


def result(stored: dict[str, Entry], rebuilt: dict[str, Entry]) -> ReplayResult:
    return ReplayResult("t", 3, "fit", "fit of run 2: 1 event(s) onto version 2", stored, rebuilt)


def test_entry_is_the_digest_the_worker_stores() -> None:
    data = pickle.dumps({"a": 1}, protocol=5)
    assert Entry.of(data) == Entry(hashlib.sha256(data).hexdigest(), len(data))


def test_equal_digests_reproduce() -> None:
    same = {"a": entry(1), "b": entry([1, 2])}
    found = result(same, dict(same))
    assert found.equal and found.differences == []
    assert found.summary() == 'motion trigger "t" version 3 reproduced: 2 keys, digests equal'
    assert found.to_json()["status"] == "equal"


def test_changed_added_and_removed_keys() -> None:
    found = result({"a": entry(1), "b": entry(2), "c": entry(3)},
                   {"a": entry(1), "b": entry(20), "d": entry(4)})  # fmt: skip
    assert not found.equal
    assert [(d.key, d.change) for d in found.differences] == [
        ("b", "changed"), ("c", "removed"), ("d", "added"),
    ]  # fmt: skip
    assert found.summary().endswith("differs from its rebuild: 3 of 4 keys")
    diffs = found.to_json()["differences"]
    assert diffs[1] == {"key": "c", "change": "removed", "stored": entry(3).to_json(),
                        "rebuilt": None}  # fmt: skip


def test_same_value_compares_loaded_values() -> None:
    assert same_value(pickle.dumps({"x", "y"}), pickle.dumps({"y", "x"}))
    assert not same_value(pickle.dumps(1), pickle.dumps(2))
    assert not same_value(b"not a pickle", pickle.dumps(1))
