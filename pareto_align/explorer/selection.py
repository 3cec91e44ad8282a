"""Which policy best serves a preference: argmax of a utility over the shown points.

Utilities (linear, Tchebycheff) come from ``pareto_align.front.indicators``. Objectives on different scales are
first brought to [0, 1], so that a weight means the same thing for every objective: with the runs' declared
normalization when they share one, else min-max over the candidate points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pareto_align.explorer.view import FrontView
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.indicators import linear_utility, minmax_scale, normalize, tchebycheff_utility

Utility = Literal["linear", "tchebycheff"]
UTILITIES: tuple[Utility, ...] = ("linear", "tchebycheff")
__all__ = ["UTILITIES", "Choice", "best_point", "minmax_scale", "scoring_matrix", "utilities"]


def utilities(
    F: np.ndarray, w: Sequence[float], utility: Utility, ideal: np.ndarray | None = None
) -> np.ndarray:
    """Utility of each row of ``F`` (n, K) for weights ``w`` (K,): shape (n,). Larger is better.

    Tchebycheff measures the weighted distance to ``ideal`` (K,), by default the best value per objective.
    """
    F = np.asarray(F, dtype=float)
    w = np.asarray(w, dtype=float)
    if utility == "linear":
        return linear_utility(F, w)
    if utility == "tchebycheff":
        if ideal is None:
            ideal = F.max(axis=0)
        return tchebycheff_utility(F, w, ideal)
    raise ValueError(f"unknown utility {utility!r}; choose one of {', '.join(UTILITIES)}")


@dataclass
class Choice:
    """The row that best serves the preference, and the utilities every candidate got."""

    row: int
    candidates: np.ndarray  # (m,) row indices that were scored
    scores: np.ndarray  # (m,) utility of each candidate, aligned with ``candidates``


def scoring_matrix(view: FrontView, candidates: np.ndarray, normalize_objectives: bool) -> np.ndarray:
    """Values of ``candidates`` on the scale the utility sees: (m, K)."""
    F = view.F[candidates]
    if not normalize_objectives:
        return F
    declared = view.shared_normalization()
    return normalize(F, declared) if declared is not None else minmax_scale(F)


def best_point(
    view: FrontView,
    w: Sequence[float],
    utility: Utility = "linear",
    normalize_objectives: bool = True,
    series: str | None = None,
) -> Choice | None:
    """The evaluated point (never a baseline) that maximizes ``utility`` for weights ``w`` (K,).

    Candidates are the points non-dominated among the shown points (or within ``series`` when given): both
    utilities are monotone, so an optimum always lies there, and ties never pick a dominated point. Remaining
    ties go to the first row. None when there is no candidate.
    """
    pool = ~view.is_baseline
    if series is not None:
        pool &= view.series == series
    rows = np.flatnonzero(pool)
    if len(rows) == 0:
        return None
    rows = rows[non_dominated_mask(view.F[rows])]
    scores = utilities(scoring_matrix(view, rows, normalize_objectives), w, utility)
    return Choice(row=int(rows[int(np.argmax(scores))]), candidates=rows, scores=scores)
