"""Export statistics: bootstrap intervals, per-seed indicators, grouping by method and seed, attainment surfaces."""

from __future__ import annotations

import math

import moocore
import numpy as np
import pytest
from scipy import stats

from pareto_align.export.attainment import attainment_surfaces, staircase
from pareto_align.export.bootstrap import bootstrap_ci
from pareto_align.export.runs import ExportError, as_runs, seed_groups
from pareto_align.export.statistics import best_labels, seed_indicators, summarize
from pareto_align.front.indicators import compute_metrics, default_eu_weights
from pareto_align.front.schema import Compute, Front, Objective, Point


def pt(pid: str, values, method: str = "modpo", seed: int = 0, wall: float = 0.0, updates: int = 0) -> Point:
    return Point(
        id=pid,
        method=method,
        seed=seed,
        values=list(values),
        stderr=[0.0] * len(values),
        n_samples=1,
        compute=Compute(wall_seconds=wall, policy_updates=updates),
    )


def front(points, ref=(0.0, 0.0), names=("a", "b")) -> Front:
    return Front(
        objectives=[Objective(name=n) for n in names],
        reference_point=list(ref),
        points=list(points),
    )


# --- bootstrap -------------------------------------------------------------------------------------------------


def test_bootstrap_hand_checked_three_values():
    # Resample means of {0, 0, 3}: k threes ~ Binomial(3, 1/3) -> mean k with P = 8/27, 12/27, 6/27, 1/27.
    # P(mean <= 2) = 26/27 = 0.963: the 95% quantile is 2, the 97.5% quantile is 3, the 2.5% quantile is 0.
    iv = bootstrap_ci([0.0, 0.0, 3.0])
    assert iv.mean == pytest.approx(1.0)
    assert (iv.low, iv.high, iv.n) == (0.0, 3.0, 3)
    iv90 = bootstrap_ci([0.0, 0.0, 3.0], confidence=0.90)
    assert (iv90.low, iv90.high) == (0.0, 2.0)


def test_bootstrap_two_values_spans_them():
    # Means of two resampled values: a (1/4), (a+b)/2 (1/2), b (1/4) -> 2.5% and 97.5% quantiles are a and b.
    iv = bootstrap_ci([4.0, 5.0])
    assert (iv.mean, iv.low, iv.high) == (4.5, 4.0, 5.0)


def test_bootstrap_single_seed_has_no_interval():
    iv = bootstrap_ci([0.7])
    assert iv.mean == 0.7 and iv.low is None and iv.high is None and not iv.has_interval


def test_bootstrap_matches_scipy_percentile_method():
    x = np.random.default_rng(1).normal(size=8)
    ours = bootstrap_ci(x, n_resamples=20_000, seed=3)
    ref = stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(4)
    )
    sd = float(ref.standard_error)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.05 * sd)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.05 * sd)


def test_bootstrap_is_deterministic_and_rejects_bad_input():
    x = [1.0, 2.0, 7.0, 3.0]
    assert bootstrap_ci(x) == bootstrap_ci(x)
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, math.nan])


# --- per-seed indicators and summaries --------------------------------------------------------------------------


def test_per_seed_indicators_and_interval_hand_checked():
    # seed 0: {(1,3), (3,1)} plus a dominated (0.5, 0.5): HV wrt (0,0) = 1*3 + 2*1 = 5.
    # seed 1: {(2,2)}: HV = 4. Mean 4.5, 95% interval [4, 5] (two seeds).
    f = front(
        [
            pt("a", (1, 3), seed=0, wall=10, updates=5),
            pt("b", (3, 1), seed=0, wall=20, updates=5),
            pt("c", (0.5, 0.5), seed=0, wall=30, updates=5),
            pt("d", (2, 2), seed=1, wall=7, updates=3),
        ]
    )
    W, _ = default_eu_weights(2)
    rows = [seed_indicators(g, f.reference_point, None, W) for g in seed_groups(as_runs(f))]
    by_seed = {r.seed: r for r in rows}
    assert by_seed[0].hypervolume == pytest.approx(5.0)
    assert by_seed[1].hypervolume == pytest.approx(4.0)
    assert (by_seed[0].cardinality, by_seed[1].cardinality) == (2, 1)
    assert (by_seed[0].wall_seconds, by_seed[0].policy_updates) == (60.0, 15)
    # EU with weights (w, 1-w): seed 1 scores 2 for every w; seed 0 scores max(w + 3(1-w), 3w + (1-w)).
    w = W[:, 0]
    assert by_seed[0].expected_utility == pytest.approx(np.mean(np.maximum(3 - 2 * w, 1 + 2 * w)))
    assert by_seed[1].expected_utility == pytest.approx(2.0)
    (summary,) = summarize(rows)
    hv = summary.intervals["hypervolume"]
    assert (hv.mean, hv.low, hv.high, hv.n) == (4.5, 4.0, 5.0, 2)


def test_single_seed_indicators_match_front_metrics():
    rng = np.random.default_rng(0)
    F = rng.random((12, 3))
    f = front([pt(f"p{i}", v) for i, v in enumerate(F)], ref=(0, 0, 0), names=("a", "b", "c"))
    W, _ = default_eu_weights(3)
    (g,) = seed_groups(as_runs(f))
    row = seed_indicators(g, f.reference_point, None, W)
    m = compute_metrics(f)
    assert row.hypervolume == pytest.approx(m.hypervolume)
    assert row.expected_utility == pytest.approx(m.expected_utility)
    assert row.sparsity == pytest.approx(m.sparsity)
    assert row.cardinality == m.cardinality


def test_best_labels_marks_the_better_direction_and_skips_full_ties():
    f = front([pt("a", (1, 3), method="x", wall=5), pt("b", (2, 2), method="y", wall=9)])
    W, _ = default_eu_weights(2)
    rows = [seed_indicators(g, f.reference_point, None, W) for g in seed_groups(as_runs(f))]
    s = summarize(rows)
    assert best_labels(s, "hypervolume") == {"y"}  # 4 > 3
    assert best_labels(s, "wall_seconds") == {"x"}  # lower is better
    assert best_labels(s, "cardinality") == set()  # both 1: a tie across all methods marks nothing


# --- grouping across runs ----------------------------------------------------------------------------------------


def test_same_method_different_seeds_across_runs_merge():
    runs = as_runs({"r1": front([pt("a", (1, 1), seed=0)]), "r2": front([pt("a", (2, 2), seed=1)])})
    groups = seed_groups(runs)
    assert {(g.label, g.seed) for g in groups} == {("modpo", 0), ("modpo", 1)}


def test_same_method_and_seed_in_two_runs_are_told_apart():
    runs = as_runs({"r1": front([pt("a", (1, 1))]), "r2": front([pt("a", (2, 2))])})
    assert sorted(g.label for g in seed_groups(runs)) == ["modpo (r1)", "modpo (r2)"]


def test_incompatible_runs_are_rejected_with_both_names():
    with pytest.raises(ExportError, match=r"reference_point.*'r1'"):
        as_runs({"r1": front([pt("a", (1, 1))]), "r2": front([pt("a", (1, 1))], ref=(-1, 0))})
    with pytest.raises(ExportError, match="objectives"):
        as_runs({"r1": front([pt("a", (1, 1))]), "r2": front([pt("a", (1, 1))], names=("a", "c"))})


# --- attainment surfaces ----------------------------------------------------------------------------------------


def test_attainment_surfaces_hand_checked():
    # Maximize. Seed A reaches {(1,3), (3,1)}, seed B {(2,2)}. With two seeds, 50% = reached by at least one
    # (union front); 100% = reached by both: below (1,3)or(3,1) AND below (2,2) -> corners (1,2), (2,1).
    A = np.array([[1.0, 3.0], [3.0, 1.0]])
    B = np.array([[2.0, 2.0]])
    s = attainment_surfaces([A, B], percentiles=(50, 100))
    np.testing.assert_allclose(s[50], [[1, 3], [2, 2], [3, 1]])
    np.testing.assert_allclose(s[100], [[1, 2], [2, 1]])


def test_attainment_surfaces_match_moocore_on_its_dataset():
    data = moocore.get_dataset("input1.dat")  # (100, 3): two objectives (minimized) and the set id
    X, sets = data[:, :2], data[:, 2]
    point_sets = [-X[sets == s] for s in np.unique(sets)]  # the same sets in the maximize convention
    ours = attainment_surfaces(point_sets, percentiles=(25, 50, 75))
    ref = moocore.eaf(X, sets, percentiles=[25, 50, 75])
    for p in (25, 50, 75):
        expected = ref[ref[:, -1] == p, :2]
        got = -ours[p]  # back to minimization
        np.testing.assert_allclose(got[np.lexsort(got.T[::-1])], expected[np.lexsort(expected.T[::-1])])


def test_attainment_surfaces_reject_more_than_three_objectives():
    with pytest.raises(ValueError, match="2 or 3"):
        attainment_surfaces([np.zeros((2, 4))])


def test_staircase_hand_checked():
    P = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [1.5, 1.5]])  # (1.5, 1.5) is dominated
    x, y = staircase(P, (0.0, 0.0))
    np.testing.assert_allclose(x, [0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_allclose(y, [3, 3, 2, 2, 1, 1, 0])


def test_shared_work_counts_once_per_seed_in_the_group_compute():
    """Soups: the specialists' training is recorded once in the front and named by every point of the seed."""
    from pareto_align.front.schema import RunCompute

    f = front([])
    f.compute = RunCompute(shared={"spec-s0": Compute(policy_updates=300, wall_seconds=10.0),
                                   "spec-s1": Compute(policy_updates=200, wall_seconds=5.0),
                                   "reference": Compute(generated_tokens=7)})  # fmt: skip
    for i, seed in enumerate([0, 0, 1]):
        p = pt(f"p{i}", (1.0 + i, 1.0), method="soups", seed=seed, wall=1.0, updates=0)
        p.compute.shared = [f"spec-s{seed}", "reference"]
        f.points.append(p)
    groups = {g.seed: g for g in seed_groups(as_runs(f))}
    rows = {
        s: seed_indicators(g, f.reference_point, None, default_eu_weights(2)[0]) for s, g in groups.items()
    }
    assert (rows[0].policy_updates, rows[0].wall_seconds, rows[0].generated_tokens) == (300, 12.0, 7)
    assert (rows[1].policy_updates, rows[1].wall_seconds, rows[1].generated_tokens) == (200, 6.0, 7)
