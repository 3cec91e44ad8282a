"""Front quality indicators (maximization) and the utilities the explorer uses to pick points.

This is the ONE module where the toolkit's maximize convention meets pymoo/moocore's minimize convention: every
call into them passes ``-F`` and ``-reference_point``. Nothing else in the toolkit negates values for pymoo.

All functions take ``F`` of shape (n_points, n_objectives) in the maximize convention; weight vectors have
shape (K,) or (m, K), are non-negative and sum to 1.
"""

from __future__ import annotations

import math

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD
from pymoo.util.ref_dirs import get_reference_directions

from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.schema import Front, Metrics, Normalization

# Target size of the default expected-utility weight grid (das-dennis grows combinatorially with K).
EU_MAX_WEIGHTS = 100


def _as_matrix(F: np.ndarray, k: int | None = None, name: str = "F") -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim == 1 and F.size == 0 and k is not None:
        F = F.reshape(0, k)
    if F.ndim != 2:
        raise ValueError(f"{name} must have shape (n_points, n_objectives), got shape {F.shape}")
    if k is not None and F.shape[1] != k:
        raise ValueError(f"{name} has {F.shape[1]} objectives, expected {k}")
    if not np.all(np.isfinite(F)):
        raise ValueError(f"{name} contains NaN or inf")
    return F


def _as_vector(v: np.ndarray, k: int, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf")
    return v


def normalize(F: np.ndarray, normalization: Normalization | None) -> np.ndarray:
    """Map ``F`` (n, K) (or a single vector (K,)) to ``(F - lower) / (upper - lower)``; identity when None."""
    F = np.asarray(F, dtype=float)
    if normalization is None:
        return F
    lower = np.asarray(normalization.lower, dtype=float)
    upper = np.asarray(normalization.upper, dtype=float)
    if F.shape[-1] != len(lower):
        raise ValueError(f"normalization has {len(lower)} bounds but F has {F.shape[-1]} objectives")
    return (F - lower) / (upper - lower)


def minmax_scale(
    F: np.ndarray,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    constant: float = 0.0,
) -> np.ndarray:
    """Scale each column of ``F`` (n, K) to ``(F - lower) / (upper - lower)``; an objective with
    ``upper == lower`` becomes ``constant``. The bounds (K,) default to the column minima and maxima of ``F``.

    The one min-max scaling of the toolkit (the explorer's preference scoring, parallel-coordinates axes).
    """
    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return F
    lo = F.min(axis=0) if lower is None else np.asarray(lower, dtype=float)
    hi = F.max(axis=0) if upper is None else np.asarray(upper, dtype=float)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(hi > lo, (F - lo) / span, constant)


def _distinct_non_dominated(F: np.ndarray) -> np.ndarray:
    """The front as a set: distinct non-dominated rows of ``F`` (n, K), shape (m, K)."""
    if len(F) == 0:
        return F
    return np.unique(F[non_dominated_mask(F)], axis=0)


def hypervolume(
    F: np.ndarray, reference_point: np.ndarray, normalization: Normalization | None = None
) -> float:
    """Hypervolume (maximization) of ``F`` (n, K) with respect to ``reference_point`` (K,).

    The volume of the region dominated by the points and dominating the reference point. Only points strictly
    better than the reference point in every objective contribute. With ``normalization``, ``F`` and the
    reference point are both mapped to ``(v - lower) / (upper - lower)`` first. Empty -> 0.0.
    """
    ref = np.asarray(reference_point, dtype=float)
    F = _as_matrix(F, k=ref.shape[0] if ref.ndim == 1 else None)
    ref = _as_vector(ref, F.shape[1], "reference_point")
    F, ref = normalize(F, normalization), normalize(ref, normalization)
    F = F[np.all(ref < F, axis=1)]
    if len(F) == 0:
        return 0.0
    # pymoo/moocore minimize: negate both the points and the reference point.
    return float(HV(ref_point=-ref)(-F))


def linear_utility(F: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted sum ``F @ w`` for each point: shape (n,). ``w`` (K,)."""
    F = _as_matrix(F)
    return F @ _as_vector(w, F.shape[1], "w")


# rho of the augmented Tchebycheff utility: small enough that the max term decides whenever it can, large enough
# that a dominating vector scores strictly higher (Steuer & Choo, 1983; Miettinen, 1999, sec. 3.4.5)
TCHEBYCHEFF_RHO = 0.01


def tchebycheff_utility(
    F: np.ndarray, w: np.ndarray, ideal: np.ndarray, rho: float = TCHEBYCHEFF_RHO
) -> np.ndarray:
    """One-sided augmented Tchebycheff utility, shape (n,), for ``F`` (n, K), ``w`` (K,), ``ideal`` (K,):

        -max_k w_k max(0, ideal_k - F_k) + rho * sum_k (F_k - ideal_k)

    Larger is better; unlike the linear utility it can select points in non-convex parts of a front. The
    shortfall is one-sided, so going past the ideal in an objective is never a loss (the two-sided
    ``|ideal_k - F_k|`` made a vector that dominates another score lower as soon as it overshot; an ideal that
    surely dominates every reachable vector cannot be stated for unbounded rewards). The augmentation term
    (Steuer & Choo, 1983, "An interactive weighted Tchebycheff procedure for multiple objective programming";
    Miettinen, 1999, "Nonlinear Multiobjective Optimization", sec. 3.4.5) makes the utility strictly increasing
    in every objective, also those at weight 0 and those past the ideal: a vector that dominates another always
    scores strictly higher (weak dominance alone scores at least as high), and every maximizer is Pareto optimal.
    With ``ideal`` at the front's best values (the explorer's default) the one-sided and two-sided forms agree.
    """
    F = _as_matrix(F)
    w = _as_vector(w, F.shape[1], "w")
    ideal = _as_vector(ideal, F.shape[1], "ideal")
    shortfall = np.maximum(ideal - F, 0.0)  # (n, K)
    return -np.max(w * shortfall, axis=1) + rho * np.sum(F - ideal, axis=1)


def expected_utility(F: np.ndarray, weights: np.ndarray, normalization: Normalization | None = None) -> float:
    """Expected linear utility: mean over weight vectors ``w`` (rows of ``weights`` (m, K)) of ``max_i w . F_i``.

    Zintgraf et al. (2015), as in morl-baselines. ``F`` (n, K) must be non-empty.
    """
    F = _as_matrix(F)
    if len(F) == 0:
        raise ValueError("expected utility of an empty front is undefined")
    W = np.atleast_2d(np.asarray(weights, dtype=float))  # (m, K)
    W = _as_matrix(W, k=F.shape[1], name="weights")
    F = normalize(F, normalization)
    return float(np.mean(np.max(W @ F.T, axis=1)))  # (m, n) -> (m,) -> scalar


def sparsity(F: np.ndarray, normalization: Normalization | None = None) -> float:
    """PGMORL sparsity (Xu et al. 2020) of the non-dominated front of ``F`` (n, K).

    For each objective, sort the front's values and sum the squared gaps between neighbours; sum over
    objectives and divide by ``|front| - 1``. Lower means a denser front. The front is taken as a set (distinct
    vectors), so duplicated policies do not make it look denser. 0.0 for fewer than two distinct points.
    """
    P = _distinct_non_dominated(_as_matrix(F))
    P = normalize(P, normalization)
    if len(P) < 2:
        return 0.0
    gaps = np.diff(np.sort(P, axis=0), axis=0)  # (m-1, K)
    return float(np.sum(gaps**2) / (len(P) - 1))


def cardinality(F: np.ndarray) -> int:
    """Number of distinct non-dominated objective vectors in ``F`` (n, K)."""
    return len(_distinct_non_dominated(_as_matrix(F)))


def igd(F: np.ndarray, reference_front: np.ndarray, normalization: Normalization | None = None) -> float:
    """Inverted generational distance of ``F`` (n, K) to ``reference_front`` (r, K) (lower is better)."""
    F = _as_matrix(F)
    R = _as_matrix(reference_front, k=F.shape[1], name="reference_front")
    if len(F) == 0 or len(R) == 0:
        raise ValueError("IGD needs a non-empty front and a non-empty reference front")
    F, R = normalize(F, normalization), normalize(R, normalization)
    # Distances do not change under negation; the flip keeps pymoo's minimize convention consistent anyway.
    return float(IGD(-R)(-F))


def maximum_utility_loss(
    F: np.ndarray,
    reference_front: np.ndarray,
    weights: np.ndarray,
    normalization: Normalization | None = None,
) -> float:
    """Maximum utility loss (Zintgraf et al. 2015; morl-baselines' ``maximum_utility_loss``) of ``F`` (n, K).

    ``max_w [max_{r in R} w . r - max_{f in F} w . f]`` over the rows ``w`` of ``weights`` (m, K), with ``R`` the
    ``reference_front`` (r, K): the most a user with a linear utility loses by picking from ``F`` instead of from
    the reference set. Lower is better; 0 when ``F`` contains the reference set's best point for every weight.
    """
    F = _as_matrix(F)
    R = _as_matrix(reference_front, k=F.shape[1], name="reference_front")
    if len(F) == 0 or len(R) == 0:
        raise ValueError("maximum utility loss needs a non-empty front and a non-empty reference front")
    W = _as_matrix(np.atleast_2d(np.asarray(weights, dtype=float)), k=F.shape[1], name="weights")  # (m, K)
    F, R = normalize(F, normalization), normalize(R, normalization)
    best_reference = np.max(W @ R.T, axis=1)  # (m,)
    best_own = np.max(W @ F.T, axis=1)  # (m,)
    return float(np.max(best_reference - best_own))


def default_eu_weights(K: int) -> tuple[np.ndarray, str]:
    """Das-Dennis weight grid for expected utility: (weights (m, K), description).

    Uses the largest ``n_partitions`` that keeps m <= 100 (e.g. K=3 -> 12 partitions, 91 weights).
    """
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    if K == 1:
        return np.ones((1, 1)), "single objective, 1 weight"
    n_partitions = 1
    while math.comb(n_partitions + 1 + K - 1, K - 1) <= EU_MAX_WEIGHTS:
        n_partitions += 1
    W = get_reference_directions("das-dennis", K, n_partitions=n_partitions)  # (m, K)
    return W, f"das-dennis(n_partitions={n_partitions}), {len(W)} weights"


def compute_metrics(front: Front) -> Metrics:
    """Indicators over the non-dominated subset of ``front.points`` (baselines never count).

    Hypervolume uses the file's reference point; hypervolume, expected utility and sparsity use the file's
    normalization when it declares one. Raises ValueError when the front has no points.
    """
    F = front.F("points")  # (n, K)
    if len(F) == 0:
        raise ValueError("cannot compute metrics of a front without points")
    mask = non_dominated_mask(F)
    P = F[mask]
    weights, description = default_eu_weights(F.shape[1])
    return Metrics(
        hypervolume=hypervolume(P, front.reference_point, front.normalization),
        expected_utility=expected_utility(P, weights, front.normalization),
        sparsity=sparsity(P, front.normalization),
        cardinality=cardinality(P),
        n_points=len(F),
        non_dominated_ids=[p.id for p, keep in zip(front.points, mask, strict=True) if keep],
        normalized=front.normalization is not None,
        eu_weights=description,
    )
