"""Anytime curves: a seed's hypervolume as its points finished, against the compute spent so far.

Computed from the points themselves, not from the run's ``history``: a run's history follows the whole file (every
seed pooled) and its ``step`` counts finished points, whereas the comparison needs one curve per (method, seed),
each at its own cumulative cost. A run's points are stored in the order they finished, so the first i points of a
seed are its front after i points. Cost after i points: their own ``compute`` plus each piece of shared work
(specialists, a conditioned model) the first time one of them uses it. Works for older ``front.json`` files too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pareto_align.export.runs import Run, SeedGroup
from pareto_align.front.indicators import hypervolume
from pareto_align.front.schema import Compute

# x axis -> its label; "points" when no compute was recorded at all.
COMPUTE_AXES: dict[str, str] = {
    "policy_updates": "policy updates (cumulative)",
    "total_tokens": "tokens trained + generated (cumulative)",
    "points": "points evaluated",
}


@dataclass(frozen=True)
class AnytimeCurve:
    """One (method, seed): after each finished point, the cumulative compute and the hypervolume so far."""

    label: str
    method: str
    seed: int
    run: str
    policy_updates: np.ndarray  # (n,)
    total_tokens: np.ndarray  # (n,)
    hypervolume: np.ndarray  # (n,)

    def x(self, axis: str) -> np.ndarray:
        if axis == "points":
            return np.arange(1, len(self.hypervolume) + 1, dtype=float)
        return getattr(self, axis).astype(float)


def anytime_curve(group: SeedGroup, run: Run) -> AnytimeCurve:
    """The anytime curve of ``group`` (one of ``run``'s seed groups), with ``run``'s reference point and
    normalization."""
    front = run.front
    shared = front.compute.shared if front.compute is not None else {}
    total, seen = Compute(), set()
    updates, tokens, hv = [], [], []
    for i, p in enumerate(group.points):
        total = total + p.compute
        for work in p.compute.shared:
            if work not in seen and work in shared:
                total = total + shared[work]
                seen.add(work)
        updates.append(total.policy_updates)
        tokens.append(total.trained_tokens + total.generated_tokens)
        hv.append(hypervolume(group.F[: i + 1], front.reference_point, front.normalization))
    return AnytimeCurve(group.label, group.method, group.seed, group.run, np.array(updates), np.array(tokens),
                        np.array(hv))  # fmt: skip


def anytime_curves(runs: Sequence[Run], groups: Sequence[SeedGroup]) -> list[AnytimeCurve]:
    by_name = {r.name: r for r in runs}
    return [anytime_curve(g, by_name[g.run]) for g in groups]


def compute_axes(curves: Sequence[AnytimeCurve]) -> list[str]:
    """The compute axes some curve spent anything on (policy updates, tokens), else ``["points"]``."""
    axes = [a for a in ("policy_updates", "total_tokens") if any(c.x(a)[-1] > 0 for c in curves)]
    return axes or ["points"]


def step_mean(curves: Sequence[AnytimeCurve], axis: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds of the step functions ``x -> hypervolume of the points finished by x`` (0 before a seed's
    first point), on the union of the seeds' x values: (x (T,), mean (T,))."""
    grid = np.unique(np.concatenate([c.x(axis) for c in curves]))  # (T,)
    values = []
    for c in curves:
        x = c.x(axis)
        idx = np.searchsorted(x, grid, side="right") - 1  # last point finished by each grid value
        values.append(np.where(idx >= 0, c.hypervolume[np.clip(idx, 0, None)], 0.0))
    return grid, np.mean(values, axis=0)
