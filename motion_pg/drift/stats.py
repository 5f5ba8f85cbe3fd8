"""Drift tests between a reference and a current profile, with the field's defaults (Evidently's):

- numeric: two-sample Kolmogorov-Smirnov, drifted at p < 0.05, while the reference holds at most
  1000 values; beyond, the Wasserstein distance normed by the reference's std, drifted at >= 0.1;
- categorical, and a text column's vocabulary: chi-squared goodness of fit of the current
  frequencies against the reference's, drifted at p < 0.05, up to 1000 reference values; beyond,
  the Jensen-Shannon distance, drifted at >= 0.1;
- vector: the Euclidean distance between the centroids, relative to the reference's mean norm,
  drifted at >= 0.2 (Evidently's distance method).

A current profile of fewer than :data:`MIN_VALUES` values is not judged (value None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import distance

SMALL = 1000  # reference values up to which the hypothesis tests apply
P_VALUE = 0.05
DISTANCE = 0.1
VECTOR_DISTANCE = 0.2
MIN_VALUES = 20
_EPSILON = 1e-4  # share given to a category the reference never saw (as Evidently does)


@dataclass(frozen=True)
class Figure:
    """One column's test: the statistic's name and value, its threshold, and the verdict."""

    statistic: str
    value: float | None
    threshold: float
    drifted: bool


def compare(kind: str, reference: dict[str, Any], current: dict[str, Any]) -> Figure:
    """The drift test of ``kind`` between two profiles built by :mod:`.profile`."""
    if kind == "numeric":
        return numeric(reference.get("sample") or [], current.get("sample") or [],
                       int(reference.get("values") or 0))  # fmt: skip
    if kind in ("categorical", "text"):
        return categorical(_counts(reference), _counts(current))
    if kind == "vector":
        return vector(reference, current)
    raise ValueError(f"unknown profile kind {kind!r}")


def numeric(reference: list[float], current: list[float], reference_size: int) -> Figure:
    """KS (small reference) or normed Wasserstein (large reference)."""
    small = reference_size <= SMALL
    name, threshold = ("ks_p_value", P_VALUE) if small else ("wasserstein_normed", DISTANCE)
    if len(current) < MIN_VALUES or len(reference) < MIN_VALUES:
        return Figure(name, None, threshold, False)
    if small:
        p = float(stats.ks_2samp(reference, current).pvalue)
        return Figure(name, p, threshold, p < threshold)
    spread = float(np.std(reference)) or 1e-9
    value = float(stats.wasserstein_distance(reference, current)) / spread
    return Figure(name, value, threshold, value >= threshold)


def categorical(reference: dict[str, int], current: dict[str, int]) -> Figure:
    """Chi-squared (small reference) or Jensen-Shannon distance (large reference)."""
    ref_total, cur_total = sum(reference.values()), sum(current.values())
    small = ref_total <= SMALL
    name, threshold = ("chi2_p_value", P_VALUE) if small else ("jensen_shannon", DISTANCE)
    if cur_total < MIN_VALUES or ref_total < MIN_VALUES:
        return Figure(name, None, threshold, False)
    keys = sorted(set(reference) | set(current))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=float) / ref_total
    cur = np.array([current.get(k, 0) for k in keys], dtype=float)
    if small:
        expected = np.where(ref > 0, ref, _EPSILON)
        expected = expected / expected.sum() * cur_total
        p = float(stats.chisquare(cur, expected).pvalue)
        return Figure(name, p, threshold, p < threshold)
    value = float(distance.jensenshannon(ref, cur / cur_total, base=2))
    return Figure(name, value, threshold, value >= threshold)


def vector(reference: dict[str, Any], current: dict[str, Any]) -> Figure:
    """Centroid distance relative to the reference's mean norm."""
    name = "centroid_distance"
    ref_c, cur_c = reference.get("centroid"), current.get("centroid")
    if (
        not ref_c
        or not cur_c
        or len(ref_c) != len(cur_c)
        or int(current.get("values") or 0) < MIN_VALUES
    ):
        return Figure(name, None, VECTOR_DISTANCE, False)
    scale = float(reference.get("mean_norm") or 0) or 1e-9
    value = float(distance.euclidean(ref_c, cur_c)) / scale
    return Figure(name, value, VECTOR_DISTANCE, value >= VECTOR_DISTANCE)


def _counts(profile: dict[str, Any]) -> dict[str, int]:
    counts = {str(k): int(v) for k, v in (profile.get("top") or {}).items()}
    if profile.get("other"):
        counts["\x00other"] = int(profile["other"])
    return counts
