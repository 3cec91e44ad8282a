"""How the ranking of methods changes when their fronts are scored by held-out judges (`evaluation.judges`)
instead of the scorer they were evaluated with: reward over-optimization made visible.

Each run's hypervolume under both scorings is its front file's own (`metrics` and `judged_metrics`: the
non-dominated subset of all its points, with the file's reference point); methods are ranked by each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pareto_align.front.schema import Front


@dataclass(frozen=True)
class RankChange:
    label: str
    evaluation_hv: float
    judged_hv: float
    evaluation_rank: int  # 1 = the largest hypervolume
    judged_rank: int


def _ranks(values: Sequence[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def rank_changes(fronts: dict[str, Front]) -> list[RankChange]:
    """Each run's hypervolume and rank under its evaluation scorer and under the judges, in the runs' order."""
    labels = list(fronts)
    missing = [label for label in labels if fronts[label].judged_metrics is None]
    if missing:
        raise ValueError(f"{missing[0]}: not scored by held-out judges (evaluation.judges)")
    evaluation = [fronts[label].metrics.hypervolume for label in labels]  # type: ignore[union-attr]
    judged = [fronts[label].judged_metrics.hypervolume for label in labels]  # type: ignore[union-attr]
    return [RankChange(label, e, j, re, rj)
            for label, e, j, re, rj in zip(labels, evaluation, judged, _ranks(evaluation), _ranks(judged),
                                           strict=True)]  # fmt: skip


def rank_change_markdown(changes: Sequence[RankChange], judges: dict) -> str:
    """A table of both rankings and one sentence on what changed."""
    who = ", ".join(f"{name}: {spec.get('kind')}" for name, spec in judges.items()) or "the judges"
    lines = ["## Ranking under held-out judges", "",
             f"The same responses scored by the evaluation scorer and by held-out judges ({who}).", "",
             "| method | HV (evaluation) | rank | HV (judges) | rank | change |", "|---|---|---|---|---|---|"]  # fmt: skip
    for c in changes:
        move = c.evaluation_rank - c.judged_rank
        shown = "=" if move == 0 else (f"up {move}" if move > 0 else f"down {-move}")
        lines.append(f"| {c.label} | {c.evaluation_hv:.4g} | {c.evaluation_rank} | {c.judged_hv:.4g} | "
                     f"{c.judged_rank} | {shown} |")  # fmt: skip
    moved = [c for c in changes if c.evaluation_rank != c.judged_rank]
    lines.append("")
    if not moved:
        lines.append("The ranking is the same under both scorings.")
    else:
        lines.append("The ranking changes: " + "; ".join(
            f"{c.label} from {c.evaluation_rank} to {c.judged_rank}" for c in moved) + ".")  # fmt: skip
    return "\n".join(lines) + "\n"
