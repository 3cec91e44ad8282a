"""What each method of a comparison spent per seed, against the comparison's budget, and the hypervolume it got.

Read from the method's front.json through the exporter's readers: a seed's cost is its points' own compute plus
the shared work they name (specialists, a conditioned model, PAR's reference responses), each once, exactly as
the report counts it. Policy updates are also planned before the run (`planned_updates` of the section), and a plan over
budget is refused then; generated tokens are only known afterwards, so they are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pareto_align.comparison.config import Budget, MethodRun
from pareto_align.export.runs import load_runs, seed_groups
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.indicators import hypervolume

__all__ = ["MethodUse", "method_use"]


@dataclass(frozen=True)
class MethodUse:
    """One method's result: per seed (in `seeds` order) its hypervolume and compute; `over` names every budget
    quantity that some seed exceeded."""

    label: str
    method: str
    seeds: list[int]
    n_points: int  # over all seeds
    hypervolume: list[float]  # per seed, of the seed's non-dominated points, the front's reference point
    policy_updates: list[int]  # per seed
    generated_tokens: list[int]  # per seed
    planned_policy_updates: int | None
    budget: dict[str, int | None]  # policy_updates (this run's: its ladder budget) and generated_tokens
    over: list[str] = field(default_factory=list)
    fill: str | None = None  # what budget.fill changed in the method's section to spend the budget

    @property
    def mean_hypervolume(self) -> float:
        return float(np.mean(self.hypervolume)) if self.hypervolume else float("nan")


def method_use(run: MethodRun, run_dir: Path, budget: Budget) -> MethodUse:
    """The method's per-seed hypervolume and compute, read from `run_dir/front.json`."""
    (loaded,) = load_runs([run_dir])
    front = loaded.front
    groups = sorted(seed_groups([loaded]), key=lambda g: g.seed)
    hv, updates, tokens = [], [], []
    for g in groups:
        F = g.F  # (n, K)
        hv.append(
            hypervolume(F[non_dominated_mask(F)], np.asarray(front.reference_point), front.normalization)
        )
        cost = g.compute()  # shared work included once
        updates.append(cost.policy_updates)
        tokens.append(cost.generated_tokens)
    limits = {"policy_updates": run.budget, "generated_tokens": budget.generated_tokens}
    over = [name for name, used in (("policy_updates", updates), ("generated_tokens", tokens))
            if limits[name] is not None and any(u > limits[name] for u in used)]  # fmt: skip
    return MethodUse(run.label, run.config.method.name, [g.seed for g in groups], len(front.points), hv, updates,
                     tokens, run.plan.updates if run.plan else None, limits, over, run.fill)  # fmt: skip
