"""Pareto dominance for maximization, as plain numpy functions.

``a`` dominates ``b`` when ``a >= b`` in every objective and ``a > b`` in at least one. Identical points therefore
do not dominate each other: every copy of a non-dominated point is kept by :func:`non_dominated_mask` (two
policies that reach the same values are both on the front, and the explorer must be able to show both).
Indicators that measure the front as a *set* of vectors deduplicate on their own (see ``indicators``).
"""

from __future__ import annotations

import numpy as np


def _as_matrix(F: np.ndarray, name: str = "F") -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"{name} must have shape (n_points, n_objectives), got shape {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError(f"{name} contains NaN or inf")
    return F


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` Pareto-dominates ``b`` (maximization). ``a``, ``b``: shape (K,)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be vectors of the same length, got shapes {a.shape} and {b.shape}")
    return bool(np.all(a >= b) and np.any(a > b))


def non_dominated_mask(F: np.ndarray) -> np.ndarray:
    """Boolean mask (n,) of the rows of ``F`` (n, K) that no other row dominates. Copies are all kept."""
    F = _as_matrix(F)
    n = len(F)
    mask = np.ones(n, dtype=bool)
    # One vectorized pass per row: O(n^2 K) time but O(n K) memory, fine for fronts of thousands of points.
    for i in range(n):
        ge = np.all(F[i] <= F, axis=1)  # (n,)
        gt = np.any(F[i] < F, axis=1)  # (n,)
        mask[i] = not np.any(ge & gt)
    return mask


def non_dominated(F: np.ndarray) -> np.ndarray:
    """The non-dominated rows of ``F`` (n, K), in their original order: shape (m, K), m <= n."""
    F = _as_matrix(F)
    return F[non_dominated_mask(F)]


def attainment(F_a: np.ndarray, F_b: np.ndarray) -> np.ndarray:
    """For each row of ``F_a`` (n_a, K), how many rows of ``F_b`` (n_b, K) it dominates: int array (n_a,)."""
    A = _as_matrix(F_a, "F_a")
    B = _as_matrix(F_b, "F_b")
    if A.shape[1] != B.shape[1] and len(A) and len(B):
        raise ValueError(
            f"F_a and F_b must have the same number of objectives, got {A.shape[1]} and {B.shape[1]}"
        )
    if len(A) == 0 or len(B) == 0:
        return np.zeros(len(A), dtype=int)
    ge = np.all(A[:, None, :] >= B[None, :, :], axis=2)  # (n_a, n_b)
    gt = np.any(A[:, None, :] > B[None, :, :], axis=2)  # (n_a, n_b)
    return (ge & gt).sum(axis=1).astype(int)
