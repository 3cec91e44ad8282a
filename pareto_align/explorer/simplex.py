"""Preference sliders that stay on the simplex, and the two ways a preference is written down.

- *weights* ``w`` (K,): non-negative, summing to 1 (what linear and Tchebycheff utilities and soups take);
- *direction* ``v`` (K,): a unit vector in the non-negative orthant (what directional preference alignment,
  DPA, conditions on: ``v = (cos theta, sin theta)`` for two objectives).

Both name the same preference: ``v = w / ||w||_2`` and ``w = v / sum(v)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Tolerance when deciding which convention existing directions follow.
CONVENTION_TOLERANCE = 1e-3


def uniform_weights(K: int) -> np.ndarray:
    """The centre of the simplex: shape (K,)."""
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    return np.full(K, 1.0 / K)


def project_to_simplex(w: Sequence[float]) -> np.ndarray:
    """Clip negatives and renormalize to sum 1; all-zero input -> uniform. Shape (K,)."""
    w = np.clip(np.asarray(w, dtype=float), 0.0, None)
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return uniform_weights(len(w))
    return w / total


def rebalance(w: Sequence[float], index: int, value: float) -> np.ndarray:
    """Set ``w[index] = value`` (clipped to [0, 1]) and rescale the others so the vector stays on the simplex.

    The others keep their proportions and share ``1 - value``; when they are all zero they share it equally.
    This is what happens while one slider is dragged: the rest move together, never off the simplex.
    """
    w = np.asarray(w, dtype=float).copy()
    K = len(w)
    if not 0 <= index < K:
        raise IndexError(f"index {index} out of range for {K} objectives")
    value = float(np.clip(value, 0.0, 1.0))
    if K == 1:
        return np.ones(1)
    others = np.arange(K) != index
    rest = np.clip(w[others], 0.0, None)
    total = rest.sum()
    # Others all zero: nothing to keep proportional, so they share the remainder equally.
    w[others] = rest / total * (1.0 - value) if total > 0 else np.full(K - 1, (1.0 - value) / (K - 1))
    w[index] = value
    return w


def weights_from_angle(theta_deg: float) -> np.ndarray:
    """Two-objective preference from an angle in [0, 90] degrees: ``(cos, sin) / (cos + sin)``, shape (2,).

    0 degrees puts all weight on the first objective, 90 on the second, 45 is (0.5, 0.5).
    """
    if not 0.0 <= theta_deg <= 90.0:
        raise ValueError(f"angle must be in [0, 90] degrees, got {theta_deg}")
    t = math.radians(theta_deg)
    v = np.array([math.cos(t), math.sin(t)])
    v[np.abs(v) < 1e-12] = 0.0  # cos(90 deg) is 6e-17: all weight on one objective must be exactly that
    return v / v.sum()


def angle_from_weights(w: Sequence[float]) -> float:
    """Inverse of :func:`weights_from_angle` for a two-objective weight vector: degrees in [0, 90]."""
    w = project_to_simplex(w)
    if len(w) != 2:
        raise ValueError(f"an angle describes two objectives, got {len(w)} weights")
    return math.degrees(math.atan2(w[1], w[0]))


def unit_direction(w: Sequence[float]) -> np.ndarray:
    """The unit vector ``w / ||w||_2`` (K,) pointing the same way as the weights (DPA's convention)."""
    w = project_to_simplex(w)
    return w / np.linalg.norm(w)


def direction_like(w: Sequence[float], examples: Sequence[Sequence[float]] = ()) -> np.ndarray:
    """The preference ``w`` written the way a run's existing directions are written. Shape (K,).

    If every example sums to 1 (and is not also a unit vector, as one-hot vectors are both) the simplex
    weights are returned; otherwise the unit direction (the DPA paper's convention and the default).
    """
    w = project_to_simplex(w)
    ex = [np.asarray(e, dtype=float) for e in examples]
    simplex = [abs(e.sum() - 1.0) <= CONVENTION_TOLERANCE for e in ex]
    unit = [abs(np.linalg.norm(e) - 1.0) <= CONVENTION_TOLERANCE for e in ex]
    informative = [s for s, u in zip(simplex, unit, strict=True) if s != u]
    if informative and all(informative):
        return w
    return unit_direction(w)
