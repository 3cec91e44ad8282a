"""Indicators per (method, seed) group, then per method the mean over seeds with a bootstrap interval.

Indicators come from ``pareto_align.front.indicators`` (never re-implemented here) and are computed on the
non-dominated subset of each group with the shared reference point and normalization, as ``front.json``'s own
``metrics`` are. Training compute is the sum of ``compute`` over the group's points (a seed's whole sweep).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pareto_align.export.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES, Interval, bootstrap_ci
from pareto_align.export.runs import SeedGroup, labels_in_order
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.indicators import cardinality, expected_utility, hypervolume, sparsity
from pareto_align.front.schema import Normalization

# metric -> True when larger is better (used to mark the best method in tables).
METRICS: dict[str, bool] = {
    "hypervolume": True,
    "expected_utility": True,
    "cardinality": True,
    "sparsity": False,
    "wall_seconds": False,
    "policy_updates": False,
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

    def metric(self, name: str) -> float:
        return float(getattr(self, name))


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


def seed_indicators(
    group: SeedGroup,
    reference_point: Sequence[float],
    normalization: Normalization | None,
    eu_weights: np.ndarray,
) -> SeedIndicators:
    """Indicators of one group; ``eu_weights`` (m, K) is the expected-utility weight grid."""
    F = group.F  # (n, K)
    cost = group.compute()  # shared work (specialists) included once
    P = F[non_dominated_mask(F)]  # (m, K), the group's front
    return SeedIndicators(
        label=group.label,
        method=group.method,
        seed=group.seed,
        run=group.run,
        n_points=len(F),
        hypervolume=hypervolume(P, np.asarray(reference_point, dtype=float), normalization),
        expected_utility=expected_utility(P, eu_weights, normalization),
        cardinality=cardinality(P),
        sparsity=sparsity(P, normalization),
        wall_seconds=cost.wall_seconds,
        policy_updates=cost.policy_updates,
        trained_tokens=cost.trained_tokens,
        generated_tokens=cost.generated_tokens,
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
        }
        summaries.append(MethodSummary(label, tuple(r.seed for r in mine), intervals, mine))
    return summaries


def best_labels(summaries: Sequence[MethodSummary], metric: str) -> set[str]:
    """Labels whose mean of ``metric`` is best (ties all count); empty with fewer than two methods or when
    every method ties (marking all of them would say nothing)."""
    if len(summaries) < 2:
        return set()
    means = np.array([s.intervals[metric].mean for s in summaries])
    best = means.max() if METRICS[metric] else means.min()
    winners = {
        s.label for s, m in zip(summaries, means, strict=True) if np.isclose(m, best, rtol=1e-12, atol=0)
    }
    return set() if len(winners) == len(summaries) else winners
