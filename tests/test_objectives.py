"""objectives.py: the one-sided augmented Tchebycheff scalarization against hand values, never ranking a dominating
reward vector lower (a property test); das-dennis weight grids against their hand-listed vectors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pareto_align.objectives import Scalarization, scalarize, weight_grid

TCHEBYCHEFF = Scalarization(kind="tchebycheff", ideal=[1.0, 1.0])
HALF = np.array([0.5, 0.5])


def test_tchebycheff_hand_values_overshoot_is_no_loss():
    r = np.array([[0.5, 0.5], [1.5, 1.5], [2.5, 0.9], [1.0, 1.0], [0.0, 1.0]])
    # -max_k 0.5 max(0, 1 - r_k) + 0.01 sum_k (r_k - 1)
    expected = [-0.25 - 0.01, 0.0 + 0.01, -0.05 + 0.014, 0.0, -0.5 - 0.01]
    assert scalarize(r, HALF, TCHEBYCHEFF) == pytest.approx(expected)
    # the two cases: (1.5, 1.5) above (0.5, 0.5), and (2.5, 0.9), which dominates it, scores higher
    u = scalarize(r, HALF, TCHEBYCHEFF)
    assert u[1] > u[0] and u[2] > u[0] and u[1] > u[3]
    # weight 0 on an objective: still strictly better with more of it (the augmentation term)
    corner = scalarize(np.array([[0.0, 0.0], [0.0, 3.0]]), np.array([1.0, 0.0]), TCHEBYCHEFF)
    assert corner == pytest.approx([-1.0 - 0.02, -1.0 + 0.01])


def test_linear_is_the_weighted_sum():
    assert scalarize(np.array([[1.0, 3.0], [2.0, -2.0]]), np.array([0.25, 0.75])).tolist() == [2.5, -1.0]


finite = st.floats(-50, 50, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    r=st.lists(finite, min_size=3, max_size=3),
    gain=st.lists(st.floats(0, 10), min_size=3, max_size=3),
    w=st.lists(st.floats(0, 1), min_size=3, max_size=3).filter(lambda w: sum(w) > 1e-3),
    ideal=st.lists(finite, min_size=3, max_size=3),
)
def test_a_dominating_vector_never_scores_lower(r, gain, w, ideal):
    better = np.asarray(r) + np.asarray(gain)  # weakly dominates r
    s = Scalarization(kind="tchebycheff", ideal=ideal)
    weights = np.asarray(w) / sum(w)
    low, high = scalarize(np.array([r, better]), weights, s)
    assert high >= low
    if max(gain) > 1e-6:  # strict dominance: strictly higher
        assert high > low


def test_das_dennis_grids_are_the_hand_listed_vectors():
    # pymoo's order: first objective's weight rising, the simplex lattice of step 1 / n_partitions
    np.testing.assert_allclose(weight_grid("das-dennis", 2, n_partitions=4),
                               [[0, 1], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1, 0]])  # fmt: skip
    grid = weight_grid("das-dennis", 3, n_partitions=2)
    expected = {(0, 0, 1), (0, 0.5, 0.5), (0, 1, 0), (0.5, 0, 0.5), (0.5, 0.5, 0), (1, 0, 0)}
    assert grid.shape == (6, 3) and {tuple(map(float, g)) for g in grid} == expected
    np.testing.assert_allclose(
        weight_grid("explicit", 2, explicit=[[2.0, 2.0], [1.0, 0.0]]), [[0.5, 0.5], [1, 0]]
    )
    with pytest.raises(ValueError, match="unknown weight grid kind"):
        weight_grid("uniform", 2)


def test_energy_grids_are_pymoos_directions_on_the_simplex():
    from pymoo.util.ref_dirs import get_reference_directions

    grid = weight_grid("energy", 3, n_points=6)  # seed 0 by default
    np.testing.assert_allclose(grid, get_reference_directions("energy", 3, 6, seed=0), atol=1e-12)
    assert grid.shape == (6, 3) and (grid >= 0).all() and np.allclose(grid.sum(axis=1), 1)


def test_round_off_below_zero_is_clipped_before_normalizing():
    grid = weight_grid("explicit", 2, explicit=[[-1e-17, 1.0], [0.5, 0.5]])
    assert (grid >= 0).all() and grid[0].tolist() == [0.0, 1.0]
