"""Anytime curves: a seed's hypervolume as its points finished, against the compute spent so far.

Computed from the points themselves, not from the run's ``history``: a run's history follows the whole file (every
seed pooled) and its ``step`` counts finished points, whereas the comparison needs one curve per (method, seed),
each at its own cumulative cost. A run's points are stored in the order they finished, so the first i points of a
seed are its front after i points. Cost after i points: their own ``compute`` plus each piece of shared work
(specialists, a conditioned model) the first time one of them uses it. Works for older ``front.json`` files too.

A conditioned model's points all come when its one run ends; a run that also evaluated its whole front while it
trained (Panacea's ``front_every``: history entries of kind ``front``, each with the run's ``compute`` so far) starts
its curve with those fronts, at that compute plus the shared work they name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pareto_align.export.bootstrap import Interval, bootstrap_ci
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
    updates, tokens, hv = [], [], []
    for entry in training_fronts(run, group.seed):
        spent = Compute.model_validate(entry.model_extra["compute"])
        total = sum((shared[w] for w in spent.shared if w in shared), spent.model_copy(update={"shared": []}))
        updates.append(total.policy_updates)
        tokens.append(total.trained_tokens + total.generated_tokens)
        hv.append(entry.hypervolume)
    total, seen = Compute(), set()
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


def training_fronts(run: Run, seed: int) -> list:
    """The history's whole-front evaluations of ``seed`` made while its run trained (kind ``front``), by step."""
    entries = [e for e in run.front.history
               if (e.model_extra or {}).get("kind") == "front" and (e.model_extra or {}).get("seed") == seed]  # fmt: skip
    return sorted(entries, key=lambda e: e.step)


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


REACH_FRACTION = 0.95  # "reaches 95% of the linear-scalarization grid's hypervolume"


@dataclass(frozen=True)
class ReachCost:
    """How much compute a method's seeds spend before their front first reaches ``fraction`` of the reference grid's
    hypervolume (``target``: that fraction of the mean over the grid's seeds of its final hypervolume), each as a
    fraction of the grid's mean total compute on ``axis``; None for a seed that never reaches it."""

    label: str
    reference: str
    axis: str
    fraction: float
    target: float
    seeds: list[int]
    costs: list[float | None]
    interval: Interval | None  # mean over seeds and its bootstrap interval; None unless every seed reaches

    @property
    def reached(self) -> int:
        return sum(c is not None for c in self.costs)


def reach_costs(
    curves: Sequence[AnytimeCurve], reference: str, fraction: float = REACH_FRACTION
) -> list[ReachCost]:
    """For every label and compute axis: the cost of reaching ``fraction`` of the ``reference`` label's hypervolume
    (see :class:`ReachCost`); [] when ``reference`` has no curve."""
    grid = [c for c in curves if c.label == reference]
    if not grid:
        return []
    target = fraction * float(np.mean([c.hypervolume[-1] for c in grid]))
    labels = list(dict.fromkeys(c.label for c in curves))
    out = []
    for axis in compute_axes(curves):
        total = float(np.mean([c.x(axis)[-1] for c in grid]))
        if total <= 0:  # the grid spent nothing on this axis: no fraction of it
            continue
        for label in labels:
            mine = sorted((c for c in curves if c.label == label), key=lambda c: c.seed)
            costs: list[float | None] = []
            for c in mine:
                hit = np.flatnonzero(c.hypervolume >= target)
                costs.append(float(c.x(axis)[hit[0]]) / total if hit.size else None)
            interval = bootstrap_ci(costs) if all(x is not None for x in costs) else None  # type: ignore[arg-type]
            out.append(
                ReachCost(label, reference, axis, fraction, target, [c.seed for c in mine], costs, interval)
            )
    return out


REACH_COLUMNS = ["label", "reference", "axis", "fraction", "target", "seeds_reaching", "seeds", "mean", "low", "high",
                 "per_seed"]  # fmt: skip


def reach_records(reach: Sequence[ReachCost]) -> list[dict]:
    """Rows of ``reach.csv`` and summary.json: one per (label, axis)."""
    return [{"label": r.label, "reference": r.reference, "axis": r.axis, "fraction": r.fraction, "target": r.target,
             "seeds_reaching": r.reached, "seeds": len(r.seeds),
             "mean": r.interval.mean if r.interval else None,
             "low": r.interval.low if r.interval else None, "high": r.interval.high if r.interval else None,
             "per_seed": r.costs} for r in reach]  # fmt: skip
