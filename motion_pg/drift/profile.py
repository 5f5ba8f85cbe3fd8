"""A column's profile: a JSON-able summary of its values, from which :mod:`.stats` tests drift.

- numeric: count, nulls, mean, std, quantiles, a 10-bin histogram and a sample of the values;
- categorical: count, nulls and the top-k value frequencies (the rest counted as ``other``);
- text: count, nulls, length summary and a vocabulary sketch (top-k word frequencies);
- vector: count, nulls, mean norm, the centroid, and the mean distance to it.

Values come from JSON rows (``to_jsonb`` of the row), so a vector may arrive as pgvector's text
``'[1,2,3]'`` or as a list.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

SAMPLE = 2000  # values a numeric profile keeps for the tests
TOP_K = 50  # categories a categorical profile keeps
VOCABULARY = 200  # words a text profile keeps
_NUMERIC = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric", "oid"})
_STRINGS = frozenset({"text", "varchar", "bpchar", "name", "citext"})
_VECTORS = frozenset({"vector", "halfvec", "_float4", "_float8", "_numeric", "_int4", "_int8"})
_WORD = re.compile(r"\w+")
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def column_kind(type_name: str, is_enum: bool, values: Sequence[Any]) -> str | None:
    """The profile kind of a column of Postgres type ``type_name`` holding ``values`` (the
    reference's), or None for a type no profile describes (timestamps, bytea, json, ...)."""
    if type_name in _NUMERIC:
        return "numeric"
    if type_name == "bool" or is_enum:
        return "categorical"
    if type_name in _VECTORS:
        return "vector"
    if type_name in _STRINGS:
        return "text" if _looks_like_text(values) else "categorical"
    return None


def _looks_like_text(values: Sequence[Any]) -> bool:
    strings = [v for v in values if isinstance(v, str)]
    if not strings:
        return False
    words = sum(len(_WORD.findall(s)) for s in strings) / len(strings)
    distinct = len(set(strings)) / len(strings)
    return words > 3 or (len(strings) >= 20 and distinct > 0.5)


def build_profile(kind: str, values: Sequence[Any]) -> dict[str, Any]:
    """The ``kind`` profile of ``values`` (None counts as a null)."""
    present = [v for v in values if v is not None]
    base = {"count": len(values), "nulls": len(values) - len(present)}
    if kind == "numeric":
        return base | numeric_summary(_numbers(present))
    if kind == "categorical":
        return base | _frequencies([_category(v) for v in present], TOP_K)
    if kind == "text":
        texts = [str(v) for v in present]
        words = [w.lower() for t in texts for w in _WORD.findall(t)]
        lengths = numeric_summary([float(len(t)) for t in texts])
        lengths.pop("sample", None)
        return base | {"length": lengths} | _frequencies(words, VOCABULARY)
    if kind == "vector":
        return base | _vectors([_vector(v) for v in present])
    raise ValueError(f"unknown profile kind {kind!r}")


def numeric_summary(numbers: list[float]) -> dict[str, Any]:
    """Mean, std, quantiles, histogram and a seeded sample of ``numbers``."""
    if not numbers:
        return {"values": 0, "mean": None, "std": None, "quantiles": {}, "histogram": None,
                "sample": []}  # fmt: skip
    array = np.asarray(numbers, dtype=float)
    counts, edges = np.histogram(array, bins=10)
    sample = numbers if len(numbers) <= SAMPLE else random.Random(0).sample(numbers, SAMPLE)
    return {
        "values": len(numbers),
        "mean": float(array.mean()),
        "std": float(array.std()),
        "quantiles": {f"p{round(q * 100)}": float(np.quantile(array, q)) for q in _QUANTILES},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        "sample": [float(x) for x in sample],
    }


def _numbers(values: list[Any]) -> list[float]:
    result = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            result.append(number)
    return result


def _category(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _frequencies(items: list[str], k: int) -> dict[str, Any]:
    counts = Counter(items)
    top = dict(counts.most_common(k))
    return {"total": len(items), "top": top, "other": len(items) - sum(top.values())}


def _vector(value: Any) -> list[float] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value.replace("{", "[").replace("}", "]"))
        except ValueError:
            return None
    if isinstance(value, list) and value and all(isinstance(x, int | float) for x in value):
        return [float(x) for x in value]
    return None


def _vectors(vectors: list[list[float] | None]) -> dict[str, Any]:
    usable = [v for v in vectors if v is not None]
    if usable:
        width = max(set(map(len, usable)), key=[len(v) for v in usable].count)
        usable = [v for v in usable if len(v) == width]
    if not usable:
        return {"values": 0, "mean_norm": None, "centroid": None, "spread": None}
    array = np.asarray(usable, dtype=float)
    centroid = array.mean(axis=0)
    return {
        "values": len(usable),
        "mean_norm": float(np.linalg.norm(array, axis=1).mean()),
        "centroid": [float(x) for x in centroid],
        "spread": float(np.linalg.norm(array - centroid, axis=1).mean()),
    }
