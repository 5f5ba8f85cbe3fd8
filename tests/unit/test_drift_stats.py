"""The drift statistics wrappers: profiles of each kind and the tests with Evidently's defaults
(KS / chi-squared at p < 0.05 up to 1000 reference values, Wasserstein / Jensen-Shannon >= 0.1
beyond, centroid distance >= 0.2 for vectors), checked against scipy directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from motion_pg.drift.profile import build_profile, column_kind
from motion_pg.drift.stats import MIN_VALUES, categorical, compare, numeric

RNG = np.random.default_rng(7)


def test_kinds() -> None:
    assert column_kind("float8", False, []) == "numeric"
    assert column_kind("int4", False, []) == "numeric"
    assert column_kind("bool", False, []) == "categorical"
    assert column_kind("mood", True, []) == "categorical"
    assert column_kind("vector", False, []) == "vector"
    assert column_kind("text", False, ["a", "b"] * 20) == "categorical"
    assert column_kind("text", False, ["the printer on floor two is jammed again"] * 5) == "text"
    assert column_kind("timestamptz", False, []) is None


def test_numeric_profile() -> None:
    values = [1.0, 2.0, 3.0, None, 4.0]
    p = build_profile("numeric", values)
    assert (p["count"], p["nulls"], p["values"]) == (5, 1, 4)
    assert p["mean"] == 2.5 and p["std"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert p["quantiles"]["p50"] == 2.5 and sum(p["histogram"]["counts"]) == 4
    assert p["sample"] == [1.0, 2.0, 3.0, 4.0]


def test_small_numeric_uses_ks_like_scipy() -> None:
    ref = list(RNG.normal(0, 1, 300))
    same = list(RNG.normal(0, 1, 200))
    moved = list(RNG.normal(1, 1, 200))
    f = compare("numeric", build_profile("numeric", ref), build_profile("numeric", same))
    assert f.statistic == "ks_p_value" and f.threshold == 0.05 and not f.drifted
    assert f.value == pytest.approx(stats.ks_2samp(ref, same).pvalue)
    g = compare("numeric", build_profile("numeric", ref), build_profile("numeric", moved))
    assert g.drifted and g.value is not None and g.value < 0.05


def test_large_numeric_uses_normed_wasserstein() -> None:
    ref = list(RNG.normal(0, 2, 1500))
    cur = list(RNG.normal(0.5, 2, 500))
    f = numeric(ref, cur, len(ref))
    assert f.statistic == "wasserstein_normed" and f.threshold == 0.1
    assert f.value == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref))
    assert f.drifted  # a quarter of a std moved
    assert not numeric(ref, list(RNG.normal(0, 2, 500)), len(ref)).drifted


def test_categorical_chi2_and_jensen_shannon() -> None:
    ref = build_profile("categorical", ["a"] * 60 + ["b"] * 40)
    same = build_profile("categorical", ["a"] * 30 + ["b"] * 20)
    new = build_profile("categorical", ["a"] * 10 + ["c"] * 40)
    f = compare("categorical", ref, same)
    assert f.statistic == "chi2_p_value" and not f.drifted and f.value == pytest.approx(1.0)
    assert compare("categorical", ref, new).drifted
    big = {"a": 900, "b": 600}
    g = categorical(big, {"a": 100, "b": 100})
    assert g.statistic == "jensen_shannon" and g.threshold == 0.1
    assert g.value == pytest.approx(distance.jensenshannon([0.6, 0.4], [0.5, 0.5], base=2))
    assert not g.drifted
    assert categorical(big, {"c": 100, "a": 10}).drifted


def test_text_profile_tests_the_vocabulary() -> None:
    ref = build_profile("text", ["printer jammed on floor two"] * 40)
    assert ref["length"]["mean"] == len("printer jammed on floor two")
    assert ref["top"]["printer"] == 40
    cur = build_profile("text", ["refund my invoice please now"] * 40)
    assert compare("text", ref, cur).drifted
    assert not compare(
        "text", ref, build_profile("text", ["printer jammed on floor two"] * 30)
    ).drifted


def test_vectors_centroid_distance() -> None:
    ref = build_profile("vector", ["[1,0,0]", "[0.9,0.1,0]"] * 20)
    assert ref["mean_norm"] == pytest.approx(np.mean([1, np.hypot(0.9, 0.1)]))
    near = build_profile("vector", [[1, 0.05, 0]] * 30)
    far = build_profile("vector", [[0, 1, 0]] * 30)
    assert compare("vector", ref, near).statistic == "centroid_distance"
    assert not compare("vector", ref, near).drifted
    assert compare("vector", ref, far).drifted


def test_too_few_values_are_not_judged() -> None:
    ref = build_profile("numeric", list(RNG.normal(0, 1, 100)))
    few = build_profile("numeric", [50.0] * (MIN_VALUES - 1))
    f = compare("numeric", ref, few)
    assert f.value is None and not f.drifted
