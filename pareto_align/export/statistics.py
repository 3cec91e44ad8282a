"""Indicators per (method, seed) group, then per method the mean over seeds with a bootstrap interval.

Indicators come from ``pareto_align.front.indicators`` (never re-implemented here) and are computed on the
non-dominated subset of each group with the shared reference point and normalization, as ``front.json``'s own
``metrics`` are. Training compute is the sum of ``compute`` over the group's points (a seed's whole sweep).

Indicators against a *reference set* (IGD, maximum utility loss, hypervolume relative to the reference set's)
use the non-dominated union of every point of every method and seed being compared (:func:`reference_set`): the
best trade-offs anyone found, the usual stand-in when the true front is unknown. They therefore change when
methods are added to or removed from a comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pareto_align.export.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES, Interval, bootstrap_ci
from pareto_align.export.runs import SeedGroup, labels_in_order
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.indicators import (
    cardinality,
    expected_utility,
    hypervolume,
    igd,
    maximum_utility_loss,
    sparsity,
)
from pareto_align.front.schema import Normalization

# metric -> True when larger is better (used to mark the best method in tables).
METRICS: dict[str, bool] = {
    "hypervolume": True,
    "hypervolume_relative": True,
    "expected_utility": True,
    "igd": False,
    "maximum_utility_loss": False,
    "cardinality": True,
    "sparsity": False,
    "wall_seconds": False,
    "policy_updates": False,
    "total_tokens": False,
}


@dataclass(frozen=True)
class SeedIndicators:
    """Indicators of one (method, seed) group."""

    label: str
    method: str
    seed: int
    run: str
    n_points: int
    hypervolume: float
    expected_utility: float
    cardinality: int
    sparsity: float
    wall_seconds: float
    policy_updates: int
    trained_tokens: int
    generated_tokens: int
    # against the reference set (NaN when computed without one)
    hypervolume_relative: float = float("nan")  # hypervolume / hypervolume of the reference set
    igd: float = float("nan")
    maximum_utility_loss: float = float("nan")

    @property
    def total_tokens(self) -> int:
        """Tokens trained on plus tokens generated: the compute measure common to every method."""
        return self.trained_tokens + self.generated_tokens

    def metric(self, name: str) -> float:
        return float(getattr(self, name))

    def record(self) -> dict[str, object]:
        """Every field and ``total_tokens``; a metric that could not be computed (NaN) as None."""
        rec = {**self.__dict__, "total_tokens": self.total_tokens}
        return {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in rec.items()}


@dataclass(frozen=True)
class MethodSummary:
    """Per-method mean and interval of every metric in :data:`METRICS`, over ``seeds``."""

    label: str
    seeds: tuple[int, ...]
    intervals: dict[str, Interval]
    per_seed: tuple[SeedIndicators, ...] = field(repr=False)

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)


def reference_set(groups: Sequence[SeedGroup]) -> np.ndarray:
    """The non-dominated union of the points of ``groups`` (every method, every seed), distinct rows: (r, K)."""
    F = np.vstack([g.F for g in groups])  # (N, K)
    return np.unique(F[non_dominated_mask(F)], axis=0)


def seed_indicators(
    group: SeedGroup,
    reference_point: Sequence[float],
    normalization: Normalization | None,
    eu_weights: np.ndarray,
    reference: np.ndarray | None = None,
) -> SeedIndicators:
    """Indicators of one group; ``eu_weights`` (m, K) is the expected-utility weight grid (also the weights of
    the maximum utility loss). With ``reference`` (r, K), the reference set (:func:`reference_set`), the
    indicators against it too; all use ``normalization`` when the runs declare one."""
    F = group.F  # (n, K)
    cost = group.compute()  # shared work (specialists) included once
    P = F[non_dominated_mask(F)]  # (m, K), the group's front
    ref_point = np.asarray(reference_point, dtype=float)
    hv = hypervolume(P, ref_point, normalization)
    against: dict[str, float] = {}
    if reference is not None:
        hv_reference = hypervolume(reference, ref_point, normalization)
        against = {
            "hypervolume_relative": hv / hv_reference if hv_reference > 0 else float("nan"),
            "igd": igd(P, reference, normalization),
            "maximum_utility_loss": maximum_utility_loss(P, reference, eu_weights, normalization),
        }
    return SeedIndicators(
        label=group.label,
        method=group.method,
        seed=group.seed,
        run=group.run,
        n_points=len(F),
        hypervolume=hv,
        expected_utility=expected_utility(P, eu_weights, normalization),
        cardinality=cardinality(P),
        sparsity=sparsity(P, normalization),
        wall_seconds=cost.wall_seconds,
        policy_updates=cost.policy_updates,
        trained_tokens=cost.trained_tokens,
        generated_tokens=cost.generated_tokens,
        **against,
    )


def summarize(
    rows: Sequence[SeedIndicators],
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[MethodSummary]:
    """One :class:`MethodSummary` per method label (order of first appearance), bootstrapped over seeds."""
    summaries = []
    for label in labels_in_order(rows):  # type: ignore[arg-type]  # duck-typed: anything with .label
        mine = tuple(r for r in rows if r.label == label)
        intervals = {
            name: bootstrap_ci([r.metric(name) for r in mine], confidence, n_resamples, seed)
            for name in METRICS
            if all(np.isfinite(r.metric(name)) for r in mine)  # reference-set metrics need a reference set
        }
        summaries.append(MethodSummary(label, tuple(r.seed for r in mine), intervals, mine))
    return summaries


def best_labels(summaries: Sequence[MethodSummary], metric: str) -> set[str]:
    """Labels whose mean of ``metric`` is best (ties all count); empty with fewer than two methods or when
    every method ties (marking all of them would say nothing)."""
    if len(summaries) < 2:
        return set()
    if any(metric not in s.intervals for s in summaries):
        return set()
    means = np.array([s.intervals[metric].mean for s in summaries])
    best = means.max() if METRICS[metric] else means.min()
    winners = {
        s.label for s, m in zip(summaries, means, strict=True) if np.isclose(m, best, rtol=1e-12, atol=0)
    }
    return set() if len(winners) == len(summaries) else winners
