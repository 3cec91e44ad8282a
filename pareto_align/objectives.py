"""Objective weight grids from pymoo reference directions; scalarizations live with the indicators.

Weights are vectors on the simplex, shape (K,), non-negative and summing to 1, in config order.
"""

from __future__ import annotations

import numpy as np
from pymoo.util.ref_dirs import get_reference_directions

from pareto_align.front.indicators import linear_utility, tchebycheff_utility

__all__ = ["weight_grid", "linear_utility", "tchebycheff_utility"]


def weight_grid(kind: str, n_objectives: int, *, n_partitions: int | None = None, n_points: int | None = None,
                seed: int = 0, explicit: list[list[float]] | None = None) -> np.ndarray:  # fmt: skip
    """Weight vectors, (m, K): an explicit list, or pymoo's das-dennis (n_partitions) / energy (n_points) directions."""
    if kind == "explicit":
        grid = np.asarray(explicit, dtype=np.float64)
    elif kind == "das-dennis":
        grid = get_reference_directions("das-dennis", n_objectives, n_partitions=n_partitions)
    elif kind == "energy":
        grid = get_reference_directions("energy", n_objectives, n_points, seed=seed)
    else:
        raise ValueError(f"unknown weight grid kind {kind!r} (explicit, das-dennis, energy)")
    grid = np.clip(grid, 0.0, None)  # energy directions can carry -1e-17 round-off
    return grid / grid.sum(axis=1, keepdims=True)
