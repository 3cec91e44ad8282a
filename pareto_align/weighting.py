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
while staying on the simplex.
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


def project_to_bounds(w: np.ndarray, floor: float = 0.0, ceiling: float = 1.0) -> np.ndarray:
    """The weights as clip(c * w, floor, ceiling) with the scale c > 0 that makes them sum to 1: the order of the
    weights is kept and a bound that binds takes its mass from (or gives it to) the others in proportion. Zero
    weights that the floor does not lift stay zero unless the others cannot reach 1 on their own."""
    w = np.asarray(w, dtype=float)
    k = len(w)
    if floor * k > 1 + 1e-12 or ceiling * k < 1 - 1e-12:
        raise ValueError(f"no weight vector of {k} entries sums to 1 within [{floor}, {ceiling}]")

    def total(c: float) -> float:
        return float(np.clip(c * w, floor, ceiling).sum())

    positive = w > 0
    if total(np.inf if positive.all() else 1e300) < 1:  # the positive weights at the ceiling are not enough
        out = np.where(positive, ceiling, 0.0)
        out[~positive] = (1 - out.sum()) / (~positive).sum()
        return out
    lo, hi = 0.0, 1.0 / max(w.max(), 1e-300)
    while total(hi) < 1:
        hi *= 2
    for _ in range(200):  # bisection on the monotone total(c)
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) < 1 else (lo, mid)
    out = np.clip(hi * w, floor, ceiling)
    return out / out.sum() if abs(out.sum() - 1) < 1e-9 else out


def mirror_update(weights: Sequence[float], influences: Sequence[float], eta: float, lam: float,
                  floor: float = 0.0, ceiling: float = 1.0) -> np.ndarray:  # fmt: skip
    """w <- softmax(log w + eta * I / lambda), then within [floor, ceiling] on the simplex. A zero weight stays
    zero (the update is multiplicative) unless the floor lifts it."""
    w = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore"):
        logits = np.log(w) + eta * np.asarray(influences, dtype=float) / lam
    logits -= logits[np.isfinite(logits)].max()
    new = np.exp(logits)
    return project_to_bounds(new / new.sum(), floor, ceiling)
