"""Dominance and indicators against hand-computed values and independent brute-force implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pareto_align.front import (
    Front,
    Normalization,
    Objective,
    Point,
    attainment,
    cardinality,
    compute_metrics,
    default_eu_weights,
    dominates,
    expected_utility,
    hypervolume,
    igd,
    linear_utility,
    maximum_utility_loss,
    minmax_scale,
    non_dominated,
    non_dominated_mask,
    normalize,
    sparsity,
    tchebycheff_utility,
)

PROPERTY = settings(max_examples=60, deadline=None)


def small_int_fronts(k: int, max_n: int = 8):
    """Integer-valued sets (many ties and duplicates) of shape (n, k), n in [0, max_n]."""
    return st.integers(0, max_n).flatmap(
        lambda n: arrays(np.float64, (n, k), elements=st.integers(0, 4).map(float))
    )


def brute_mask(F: np.ndarray) -> np.ndarray:
    return np.array(
        [not any(dominates(F[j], F[i]) for j in range(len(F)) if j != i) for i in range(len(F))], bool
    )


def inclusion_exclusion_hv(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact HV: sum over non-empty subsets S of (-1)^(|S|+1) * volume of the box [ref, min over S]."""
    total = 0.0
    for r in range(1, len(F) + 1):
        for subset in itertools.combinations(range(len(F)), r):
            corner = F[list(subset)].min(axis=0)
            total += (-1) ** (r + 1) * np.prod(np.clip(corner - ref, 0.0, None))
    return float(total)


# ---------------------------------------------------------------------------------------------------------------
# dominance


def test_dominates_basics() -> None:
    assert dominates([2, 1], [1, 1])
    assert not dominates([1, 1], [1, 1])  # identical points do not dominate each other
    assert not dominates([2, 0], [1, 1])  # incomparable
    assert not dominates([1, 1], [2, 1])
    with pytest.raises(ValueError, match="same length"):
        dominates([1, 2], [1, 2, 3])


def test_identical_non_dominated_copies_are_all_kept() -> None:
    F = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_array_equal(non_dominated_mask(F), [True, True, True, False, False])
    np.testing.assert_array_equal(non_dominated(F), F[:3])
    assert non_dominated_mask(np.zeros((0, 3))).shape == (0,)


@PROPERTY
@given(
    n_front=st.integers(1, 12),
    n_hidden=st.integers(0, 40),
    k=st.integers(2, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_hidden_front_is_recovered(n_front: int, n_hidden: int, k: int, seed: int) -> None:
    """morl-baselines style: points on the positive unit sphere are mutually non-dominated; hide them among
    points that are each strictly worse than some front point and check exactly the front comes back."""
    rng = np.random.default_rng(seed)
    front = np.abs(rng.normal(size=(n_front, k))) + 1e-3
    front /= np.linalg.norm(front, axis=1, keepdims=True)  # (n_front, k) on the sphere
    parents = rng.integers(0, n_front, size=n_hidden)
    hidden = front[parents] - rng.uniform(0.01, 1.0, size=(n_hidden, k))  # strictly dominated
    F = np.concatenate([front, hidden])
    order = rng.permutation(len(F))
    mask = non_dominated_mask(F[order])
    np.testing.assert_array_equal(mask, order < n_front)
    assert cardinality(F) == n_front


@PROPERTY
@given(F=small_int_fronts(3, 10))
def test_mask_matches_brute_force(F: np.ndarray) -> None:
    mask = non_dominated_mask(F)
    np.testing.assert_array_equal(mask, brute_mask(F))
    kept, dropped = F[mask], F[~mask]
    for p in dropped:  # every dropped point is dominated by a kept one
        assert any(dominates(q, p) for q in kept)


@PROPERTY
@given(A=small_int_fronts(2, 6), B=small_int_fronts(2, 6))
def test_attainment_matches_brute_force(A: np.ndarray, B: np.ndarray) -> None:
    expected = [sum(dominates(a, b) for b in B) for a in A]
    np.testing.assert_array_equal(attainment(A, B), expected)


def test_attainment_hand() -> None:
    A = np.array([[3.0, 3.0], [1.0, 0.0]])
    B = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 5.0]])
    np.testing.assert_array_equal(attainment(A, B), [2, 0])


# ---------------------------------------------------------------------------------------------------------------
# hypervolume


def test_hypervolume_2d_by_hand() -> None:
    # Staircase (1,3), (2,2), (3,1) over ref (0,0): columns of width 1 and heights 3, 2, 1 -> 6.
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(F, [0.0, 0.0]) == pytest.approx(6.0)
    # Same with ref (1, 0.5): only (2,2) and (3,1) are strictly better: 1*1.5 + 1*0.5 = 2.
    assert hypervolume(F, [1.0, 0.5]) == pytest.approx(2.0)
    # A point on the reference boundary or beyond in one objective contributes nothing.
    assert hypervolume(np.array([[5.0, 0.0], [10.0, -1.0]]), [0.0, 0.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [0.0, 0.0]) == 0.0


def test_hypervolume_3d_by_hand() -> None:
    ref = [0.0, 0.0, 0.0]
    assert hypervolume(np.array([[1.0, 2.0, 3.0]]), ref) == pytest.approx(6.0)
    # Two boxes 2x1x1 and 1x2x1 overlapping in the unit cube: 2 + 2 - 1 = 3.
    assert hypervolume(np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]]), ref) == pytest.approx(3.0)
    # Three axis-aligned 3x1x1 slabs: 3 + 3 + 3 - 3*1 (pairwise unit cubes) + 1 (triple) = 7.
    F = np.array([[3.0, 1.0, 1.0], [1.0, 3.0, 1.0], [1.0, 1.0, 3.0]])
    assert hypervolume(F, ref) == pytest.approx(7.0)
    # Negative values (e.g. negated lengths) with a negative reference point: box 2 x 1 x 10.
    assert hypervolume(np.array([[1.0, -1.0, -10.0]]), [-1.0, -2.0, -20.0]) == pytest.approx(20.0)


@PROPERTY
@given(F=arrays(np.float64, st.tuples(st.integers(1, 6), st.just(3)), elements=st.floats(-1.0, 3.0)))
def test_hypervolume_matches_inclusion_exclusion(F: np.ndarray) -> None:
    ref = np.array([-0.5, 0.0, -1.0])
    assert hypervolume(F, ref) == pytest.approx(inclusion_exclusion_hv(F, ref), rel=1e-9, abs=1e-12)


@PROPERTY
@given(
    F=arrays(np.float64, st.tuples(st.integers(0, 8), st.just(3)), elements=st.floats(0.0, 2.0)),
    new=arrays(np.float64, 3, elements=st.floats(0.0, 2.0)),
    shrink=arrays(np.float64, 3, elements=st.floats(0.0, 1.0)),
)
def test_hypervolume_monotone_and_ignores_dominated(
    F: np.ndarray, new: np.ndarray, shrink: np.ndarray
) -> None:
    ref = np.zeros(3)
    before = hypervolume(F, ref)
    assert hypervolume(np.vstack([F, new]), ref) >= before - 1e-12
    if len(F):
        dominated = F[0] - shrink  # weakly dominated by F[0]
        assert hypervolume(np.vstack([F, dominated]), ref) == pytest.approx(before, rel=1e-12, abs=1e-12)


def test_normalization_rescales_hypervolume() -> None:
    F = np.array([[2.0, 4.0]])
    norm = Normalization(method="bounds", lower=[0.0, 0.0], upper=[2.0, 4.0])
    assert hypervolume(F, [0.0, 0.0]) == pytest.approx(8.0)
    assert hypervolume(F, [0.0, 0.0], norm) == pytest.approx(1.0)  # the box fills the unit square
    # Shifted bounds: ref (1, 1) -> (0.5, 0.25); point -> (1, 1); area 0.5 * 0.75.
    assert hypervolume(F, [1.0, 1.0], norm) == pytest.approx(0.375)
    # Normalization makes a large-scale objective stop dominating the volume.
    G = np.array([[1.0, 100.0], [2.0, 50.0]])
    scale = Normalization(method="bounds", lower=[0.0, 0.0], upper=[2.0, 100.0])
    assert hypervolume(G, [0, 0]) == pytest.approx(150.0)
    assert hypervolume(G, [0, 0], scale) == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)


def test_hypervolume_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="3 objectives, expected 2"):
        hypervolume(np.ones((2, 3)), [0.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume(np.array([[np.nan, 1.0]]), [0.0, 0.0])


# ---------------------------------------------------------------------------------------------------------------
# expected utility, sparsity, cardinality, IGD, utilities


def test_expected_utility_by_hand() -> None:
    F = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.2]])
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert expected_utility(F, W) == pytest.approx((1.0 + 1.0 + 0.5) / 3)
    norm = Normalization(method="bounds", lower=[0.0, -1.0], upper=[2.0, 1.0])
    # normalized F: (0.5, 0.5), (0, 1), (0.1, 0.6) -> utilities per w: 0.5, 1.0, max(0.5, 0.5, 0.35) = 0.5
    assert expected_utility(F, W, norm) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert expected_utility(F, np.array([0.5, 0.5])) == pytest.approx(0.5)  # single weight vector
    with pytest.raises(ValueError, match="empty"):
        expected_utility(np.zeros((0, 2)), W)


def test_default_eu_weights() -> None:
    W, desc = default_eu_weights(3)
    assert W.shape == (91, 3)
    assert desc == "das-dennis(n_partitions=12), 91 weights"
    for k in (2, 4, 5, 6):
        W, desc = default_eu_weights(k)
        assert 50 <= len(W) <= 100, (k, len(W))
        np.testing.assert_allclose(W.sum(axis=1), 1.0)
        assert (W >= 0).all() and W.shape[1] == k
    assert default_eu_weights(1)[0].tolist() == [[1.0]]


def test_sparsity_by_hand() -> None:
    F = np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]])
    # each objective: sorted 0,1,2 -> gaps 1,1 -> 2; two objectives -> 4; / (3 - 1) = 2
    assert sparsity(F) == pytest.approx(2.0)
    # a dominated point and a duplicate change nothing
    assert sparsity(np.vstack([F, [[0.5, 0.5]], F[:1]])) == pytest.approx(2.0)
    # uneven 3-D front: (0,0,3), (1,2,0), (3,0,0) (mutually non-dominated)
    G = np.array([[0.0, 0.0, 3.0], [1.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    # obj1 0,1,3 -> 1+4; obj2 0,0,2 -> 0+4; obj3 0,0,3 -> 0+9; total 18 / 2 = 9
    assert sparsity(G) == pytest.approx(9.0)
    norm = Normalization(method="bounds", lower=[0, 0, 0], upper=[3, 2, 3])
    # normalized: obj1 0,1/3,1 -> 1/9+4/9; obj2 0,0,1 -> 1; obj3 0,0,1 -> 1; total 2+5/9, /2
    assert sparsity(G, norm) == pytest.approx((2 + 5 / 9) / 2)
    assert sparsity(F[:1]) == 0.0
    assert sparsity(np.vstack([F[:1], F[:1]])) == 0.0


def test_cardinality_counts_distinct_non_dominated() -> None:
    F = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [0.0, 0.0]])
    assert cardinality(F) == 2
    assert cardinality(np.zeros((0, 2))) == 0


def test_igd_by_hand() -> None:
    R = np.array([[0.0, 1.0], [1.0, 0.0]])
    # distances from reference points to the nearest F point: 0 and sqrt(2); mean sqrt(2)/2
    assert igd(np.array([[0.0, 1.0]]), R) == pytest.approx(np.sqrt(2) / 2)
    assert igd(R, R) == pytest.approx(0.0)


def test_linear_and_tchebycheff_utility() -> None:
    F = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]])
    w = np.array([0.5, 0.5])
    np.testing.assert_allclose(linear_utility(F, w), [0.5, 0.5, 0.6])
    # -max_k w_k max(0, ideal_k - F_k) + 0.01 sum_k (F_k - ideal_k) with ideal (1, 1): -0.51, -0.51, -0.208
    np.testing.assert_allclose(tchebycheff_utility(F, w, np.array([1.0, 1.0])), [-0.51, -0.51, -0.208])
    # Tchebycheff reaches a point in a concave dent that no linear weight picks
    G = np.array([[1.0, 0.0], [0.0, 1.0], [0.45, 0.45]])
    assert np.argmax(tchebycheff_utility(G, w, np.array([1.0, 1.0]))) == 2
    assert all(np.argmax(linear_utility(G, np.array([a, 1 - a]))) != 2 for a in np.linspace(0, 1, 21))


# ---------------------------------------------------------------------------------------------------------------
# metrics of a front


def _point(pid: str, values: list[float]) -> Point:
    return Point(id=pid, method="m", values=values, stderr=[0.0] * len(values), n_samples=1)


def test_compute_metrics_ignores_baselines_and_dominated_points() -> None:
    front = Front(
        objectives=[Objective(name="a"), Objective(name="b")],
        reference_point=[0.0, 0.0],
        points=[
            _point("x", [1.0, 3.0]),
            _point("y", [2.0, 2.0]),
            _point("z", [3.0, 1.0]),
            _point("d", [1.0, 1.0]),
        ],
        baselines=[_point("base", [10.0, 10.0])],
    )
    m = compute_metrics(front)
    assert m.hypervolume == pytest.approx(6.0)
    assert m.non_dominated_ids == ["x", "y", "z"]
    assert (m.cardinality, m.n_points, m.normalized) == (3, 4, False)
    assert m.sparsity == pytest.approx((1 + 1 + 1 + 1) / 2)
    W, desc = default_eu_weights(2)
    assert m.eu_weights == desc
    assert m.expected_utility == pytest.approx(np.mean(np.max(W @ front.F()[:3].T, axis=1)))

    normalized = front.model_copy(
        update={"normalization": Normalization(method="bounds", lower=[0.0, 0.0], upper=[3.0, 3.0])}
    )
    mn = compute_metrics(normalized)
    assert mn.normalized
    assert mn.hypervolume == pytest.approx(6.0 / 9.0)
    assert mn.sparsity == pytest.approx(m.sparsity / 9.0)
    # expected utility is linear in the values, and the lower bounds are 0
    assert mn.expected_utility == pytest.approx(m.expected_utility / 3.0)

    with pytest.raises(ValueError) as err:
        compute_metrics(front.model_copy(update={"points": []}))
    assert str(err.value) == "cannot compute metrics of a front without points"


# ---------------------------------------------------------------------------------------------------------------
# edges and refusals (what mutation testing found unchecked)


def _message(call) -> str:
    """The message of the ValueError `call()` raises."""
    with pytest.raises(ValueError) as err:
        call()
    return str(err.value)


def test_refusals_name_the_argument_and_read_exactly() -> None:
    F = np.array([[1.0, 3.0], [3.0, 1.0]])
    assert _message(lambda: hypervolume(np.array([1.0, 2.0]), [0.0, 0.0])) == (
        "F must have shape (n_points, n_objectives), got shape (2,)")  # fmt: skip
    assert (
        _message(lambda: hypervolume(F, [[0.0, 0.0]]))
        == "reference_point must have shape (2,), got shape (1, 2)"
    )
    assert _message(lambda: hypervolume(F, [0.0, np.inf])) == "reference_point contains NaN or inf"
    assert _message(lambda: hypervolume(F[:, :1] * np.nan, [0.0])) == "F contains NaN or inf"
    assert _message(lambda: linear_utility(F, [1.0, 0.0, 0.0])) == "w must have shape (2,), got shape (3,)"
    assert _message(lambda: tchebycheff_utility(F, [0.5, np.nan], [1.0, 1.0])) == "w contains NaN or inf"
    assert (
        _message(lambda: tchebycheff_utility(F, [0.5, 0.5], [1.0]))
        == "ideal must have shape (2,), got shape (1,)"
    )
    assert (
        _message(lambda: expected_utility(F, np.ones((2, 3)) / 3)) == "weights has 3 objectives, expected 2"
    )
    assert _message(lambda: expected_utility(F[:0], np.ones((1, 2)) / 2)) == (
        "expected utility of an empty front is undefined")  # fmt: skip
    assert _message(lambda: igd(F, np.ones((1, 3)))) == "reference_front has 3 objectives, expected 2"
    assert _message(lambda: igd(F, F[:0])) == "IGD needs a non-empty front and a non-empty reference front"
    W = np.array([[0.5, 0.5]])
    assert _message(lambda: maximum_utility_loss(F, np.ones((1, 3)), W)) == (
        "reference_front has 3 objectives, expected 2")  # fmt: skip
    assert (
        _message(lambda: maximum_utility_loss(F, F, np.ones((1, 3))))
        == "weights has 3 objectives, expected 2"
    )
    assert _message(lambda: maximum_utility_loss(F, F[:0], W)) == (
        "maximum utility loss needs a non-empty front and a non-empty reference front")  # fmt: skip
    norm = Normalization(method="bounds", lower=[0.0, 0.0], upper=[1.0, 1.0])
    three = "normalization has 2 bounds but F has 3 objectives"
    assert _message(lambda: normalize(np.ones((1, 3)), norm)) == three
    assert _message(lambda: normalize(np.ones(3), norm)) == three  # one vector
    assert _message(lambda: default_eu_weights(0)) == "K must be >= 1, got 0"
    # an empty list of points is an empty front, not a malformed one
    assert hypervolume([], [0.0, 0.0]) == 0.0


def test_default_eu_weight_grid_sizes_by_hand() -> None:
    # the largest n with C(n + K - 1, K - 1) <= 100: K=2 -> n=99 (100 weights); K=4 -> C(9,3) = 84 at n=6, as
    # C(10,3) = 120; K=14 -> n=1 already, the 14 unit vectors (C(15,13) = 105 at n=2)
    for k, n, m in ((2, 99, 100), (4, 6, 84), (14, 1, 14)):
        W, desc = default_eu_weights(k)
        assert (desc, W.shape) == (f"das-dennis(n_partitions={n}), {m} weights", (m, k))
    W, _ = default_eu_weights(14)
    np.testing.assert_array_equal(W[np.lexsort(W.T)], np.eye(14)[np.lexsort(np.eye(14).T)])
    assert default_eu_weights(1)[1] == "single objective, 1 weight"


def test_sparsity_of_two_points_and_scaling_by_hand() -> None:
    assert sparsity(np.array([[0.0, 2.0], [1.0, 0.0]])) == pytest.approx(1.0 + 4.0)  # gaps 1 and 2, / (2 - 1)
    # minmax_scale: each column to [0, 1] by its own range or given bounds; a constant column to `constant`
    F = np.array([[0.0, 5.0], [2.0, 5.0], [1.0, 5.0]])
    np.testing.assert_allclose(minmax_scale(F, constant=0.5), [[0.0, 0.5], [1.0, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(minmax_scale(F[:1], lower=[-2.0, 0.0], upper=[2.0, 10.0]), [[0.5, 0.5]])
    assert minmax_scale(np.zeros((0, 2))).shape == (0, 2)
    assert minmax_scale(F)[:, 1].tolist() == [0.0, 0.0, 0.0]  # the default constant


def test_igd_and_maximum_utility_loss_under_normalization() -> None:
    F = np.array([[1.0, 3.0], [3.0, 1.0]])
    R = np.array([[1.0, 3.0], [2.0, 2.5], [3.0, 1.0]])
    W = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    # by hand (tests/test_export_report.py): IGD sqrt(1.25) / 3, MUL 0.25 (w = (.5, .5): 2.25 against 2)
    assert maximum_utility_loss(F, R, W) == pytest.approx(0.25)
    assert maximum_utility_loss(F, R, W[1:]) == 0.0
    assert maximum_utility_loss(F[:1], R, W) == pytest.approx(2.0)  # w = (1, 0): 3 against 1
    assert _message(lambda: maximum_utility_loss(F[:0], R, W)) == (
        "maximum utility loss needs a non-empty front and a non-empty reference front")  # fmt: skip
    # bounds [-1, 3] x [1, 5] map v to ((v1 + 1) / 4, (v2 - 1) / 4): distances and utilities shrink by 4, minus
    # the shift of w . lower, the same on both sides
    norm = Normalization(method="bounds", lower=[-1.0, 1.0], upper=[3.0, 5.0])
    assert igd(F, R, norm) == pytest.approx(np.sqrt(1.25) / 3 / 4)
    assert maximum_utility_loss(F, R, W, norm) == pytest.approx(0.25 / 4)
