"""Dynamic reward weighting (Lu et al., 2025, "Learning to Optimize Multi-Objective Alignment Through Dynamic
Reward Weighting"): the arithmetic, apart from any trainer.

Hypervolume-guided: the policy's objective vector p_t, measured every few steps, earns the meta multiplier
m = a + b * tanh(dHV), where dHV is its hypervolume contribution to a buffer of earlier measurements (seeded with
the base policy's). The reference code measures dHV in raw units, so the objective with the widest range sets its
size and tanh saturates; here it is measured on objectives normalized by stated bounds (raw units as an option),
and both are reported.

Gradient-based: with per-objective policy gradients g_1..g_K (rows of G), the influence of objective i is
I_i = sum_j <g_i, g_j> (how much a step along g_i helps every objective, itself included), and the weights move by
mirror descent on the simplex, w <- softmax(log w + eta * I / lambda), then clipped to optional per-weight bounds
while staying on the simplex. A trust region around the starting weights w0 (`trust_region_bounds`) is such a box:
w0 / f <= w <= f * w0, a box in the log-weights, the coordinates in which the mirror step is taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.indicators import hypervolume


def meta_multiplier(dhv: float, a: float = 0.5, b: float = 1.5) -> float:
    """m = a + b * tanh(dHV): a for a measurement that adds nothing to the front, up to a + b."""
    return float(a + b * np.tanh(dhv))


def hv_contribution(buffer: np.ndarray, point: Sequence[float], reference: Sequence[float],
                    scale: Sequence[float] | None = None) -> float:  # fmt: skip
    """HV(buffer + point) - HV(buffer) (every objective maximized), with `reference` as the hypervolume's
    reference point; with `scale`, each objective is first divided by it (the width of its stated bounds), so the
    contribution is a fraction of the box [reference, reference + scale]."""
    F = np.asarray(buffer, dtype=float).reshape(-1, len(reference))  # (n, K)
    p = np.asarray(point, dtype=float)[None, :]  # (1, K)
    ref = np.asarray(reference, dtype=float)
    if scale is not None:
        s = np.asarray(scale, dtype=float)
        F, p, ref = F / s, p / s, ref / s
    before = hypervolume(F, ref) if len(F) else 0.0
    return max(hypervolume(np.vstack([F, p]), ref) - before, 0.0)  # a dominated point adds exactly 0


class HypervolumeBuffer:
    """The non-dominated measurements so far, in the method's reward units, and dHV of a new one in raw and in
    bounds-normalized units (`lower` is the reference point of both)."""

    def __init__(
        self, lower: Sequence[float], upper: Sequence[float], points: Sequence[Sequence[float]] = ()
    ):
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        if self.lower.shape != self.upper.shape or not np.all(self.upper > self.lower):
            raise ValueError(f"bounds need upper > lower per objective, got lower {lower} and upper {upper}")
        self.points = np.asarray(points, dtype=float).reshape(-1, len(self.lower))

    def contribution(self, point: Sequence[float]) -> dict[str, float]:
        """dHV of `point` to the buffer: {"raw": ..., "normalized": ...} (the buffer is not changed)."""
        return {"raw": hv_contribution(self.points, point, self.lower),
                "normalized": hv_contribution(self.points, point, self.lower, self.upper - self.lower)}  # fmt: skip

    def add(self, point: Sequence[float]) -> None:
        F = np.vstack([self.points, np.asarray(point, dtype=float)[None, :]])
        self.points = F[non_dominated_mask(F)]


def influence(grads: torch.Tensor) -> torch.Tensor:
    """I_i = sum_j <g_i, g_j> for per-objective gradients as rows of `grads` (K, D): the Gram matrix's row sums."""
    g = grads.double()
    return (g @ g.T).sum(dim=1)


def trust_region_bounds(start: Sequence[float], factor: float, floor: float = 0.0,
                        ceiling: float = 1.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-weight bounds (lower (K,), upper (K,)) of the trust region around the starting weights w0: w0 / factor
    <= w <= factor * w0, within [floor, ceiling] (a zero starting weight that the floor lifts is held at it)."""
    w0 = np.asarray(start, dtype=float)
    lower = np.maximum(floor, w0 / factor)
    return lower, np.maximum(lower, np.minimum(ceiling, w0 * factor))


def project_to_bounds(w: np.ndarray, floor: float | np.ndarray = 0.0,
                      ceiling: float | np.ndarray = 1.0) -> np.ndarray:  # fmt: skip
    """The weights as clip(c * w, floor, ceiling) with the scale c > 0 that makes them sum to 1: the order of the
    weights is kept and a bound that binds takes its mass from (or gives it to) the others in proportion. Zero
    weights that the floor does not lift stay zero unless the others cannot reach 1 on their own. `floor` and
    `ceiling` are one bound for every weight or one per weight (K,)."""
    w = np.asarray(w, dtype=float)
    k = len(w)
    lo, hi = np.broadcast_to(floor, w.shape), np.broadcast_to(ceiling, w.shape)  # (K,), (K,)
    if lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12 or np.any(lo > hi):
        raise ValueError(f"no weight vector of {k} entries sums to 1 within [{floor}, {ceiling}]")

    def total(c: float) -> float:
        return float(np.clip(c * w, lo, hi).sum())

    positive = w > 0
    if total(np.inf if positive.all() else 1e300) < 1:  # the positive weights at the ceiling are not enough
        out = np.where(positive, hi, 0.0)
        rest = 1 - out.sum()  # > 0: spread evenly over the zero weights, within their own bounds
        out[~positive] = rest * project_to_bounds(np.ones((~positive).sum()), lo[~positive] / rest, hi[~positive] / rest)  # fmt: skip
        return out
    c_lo, c_hi = 0.0, 1.0 / max(w.max(), 1e-300)
    while total(c_hi) < 1:
        c_hi *= 2
    for _ in range(200):  # bisection on the monotone total(c)
        mid = (c_lo + c_hi) / 2
        c_lo, c_hi = (mid, c_hi) if total(mid) < 1 else (c_lo, mid)
    out = np.clip(c_hi * w, lo, hi)
    return out / out.sum() if abs(out.sum() - 1) < 1e-9 else out


def mirror_update(weights: Sequence[float], influences: Sequence[float], eta: float, lam: float,
                  floor: float | np.ndarray = 0.0, ceiling: float | np.ndarray = 1.0) -> np.ndarray:  # fmt: skip
    """w <- softmax(log w + eta * I / lambda), then within [floor, ceiling] on the simplex (one bound for all
    weights, or per weight: a trust region's). A zero weight stays zero (the update is multiplicative) unless the
    floor lifts it."""
    w = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore"):
        logits = np.log(w) + eta * np.asarray(influences, dtype=float) / lam
    logits -= logits[np.isfinite(logits)].max()
    new = np.exp(logits)
    return project_to_bounds(new / new.sum(), floor, ceiling)
