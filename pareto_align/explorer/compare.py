"""Comparing two series (runs or methods): indicators side by side on one footing, and attainment.

Indicators are computed here with one reference point and one normalization for both series (those of the
first shown run), because hypervolumes are only comparable that way; the values recorded in each front file are
shown separately by :func:`recorded_metrics`. Dominance and indicators come from ``pareto_align.front``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pareto_align.explorer.runs import LoadedRun
from pareto_align.explorer.view import FrontView
from pareto_align.front.dominance import attainment, non_dominated_mask
from pareto_align.front.indicators import (
    cardinality,
    default_eu_weights,
    expected_utility,
    hypervolume,
    sparsity,
)
from pareto_align.front.schema import Normalization

INDICATORS = ("hypervolume", "expected_utility", "sparsity", "cardinality", "n_points")


def recorded_metrics(runs: Sequence[LoadedRun]) -> pd.DataFrame:
    """The metrics each front file recorded, one row per run, with the reference point they were computed at."""
    records = []
    for run in runs:
        if run.front is None:
            continue
        m = run.front.metrics
        rec: dict[str, object] = {"run": run.label}
        for name in INDICATORS:
            rec[name] = getattr(m, name) if m is not None else None
        rec["reference_point"] = "(" + ", ".join(f"{v:.3g}" for v in run.front.reference_point) + ")"
        rec["normalized"] = m.normalized if m is not None else run.front.normalization is not None
        rec["eu_weights"] = m.eu_weights if m is not None else None
        records.append(rec)
    return pd.DataFrame.from_records(records)


def footing(view: FrontView) -> tuple[np.ndarray, Normalization | None, list[str]]:
    """The reference point (K,) and normalization used to compare, and warnings when runs disagree on them."""
    first = view.runs[0].front
    assert first is not None
    ref = np.asarray(first.reference_point, dtype=float)
    warnings = []
    for run in view.runs[1:]:
        assert run.front is not None
        if not np.allclose(run.front.reference_point, ref):
            warnings.append(
                f"run {run.label!r} declares reference point {run.front.reference_point}, "
                f"{view.runs[0].label!r} declares {ref.tolist()}; both are compared at the latter"
            )
        if run.front.normalization != first.normalization:
            warnings.append(
                f"run {run.label!r} declares a different normalization from {view.runs[0].label!r}; "
                f"both are compared with that of {view.runs[0].label!r}"
            )
    return ref, first.normalization, warnings


def series_F(view: FrontView, series: str) -> np.ndarray:
    """Values of the evaluated points of one series: (n, K)."""
    return view.F[(view.series == series) & ~view.is_baseline]


def series_indicators(view: FrontView, series: Sequence[str]) -> pd.DataFrame:
    """Indicators of each series (columns) over its non-dominated points, at one reference point (rows)."""
    ref, norm, _ = footing(view)
    W, _ = default_eu_weights(view.K)
    columns = {}
    for s in series:
        F = series_F(view, s)
        P = F[non_dominated_mask(F)] if len(F) else F
        columns[s] = {
            "hypervolume": hypervolume(P, ref, norm),
            "expected_utility": expected_utility(P, W, norm) if len(P) else float("nan"),
            "sparsity": sparsity(P, norm),
            "cardinality": cardinality(P) if len(P) else 0,
            "n_points": len(F),
        }
    return pd.DataFrame(columns, index=list(INDICATORS))


def dominance_matrix(F_a: np.ndarray, F_b: np.ndarray) -> np.ndarray:
    """``D[i, j]`` is True when point i of ``F_a`` (n_a, K) dominates point j of ``F_b`` (n_b, K): (n_a, n_b)."""
    F_a = np.asarray(F_a, dtype=float)
    F_b = np.asarray(F_b, dtype=float)
    D = np.zeros((len(F_a), len(F_b)), dtype=bool)
    for j in range(len(F_b)):
        # attainment counts, per row of F_a, the rows of its second argument that it dominates (0 or 1 here).
        D[:, j] = attainment(F_a, F_b[j : j + 1]) > 0
    return D


def dominated_fraction(F_a: np.ndarray, F_b: np.ndarray) -> float:
    """Share of the points of ``F_b`` dominated by at least one point of ``F_a`` (NaN when ``F_b`` is empty)."""
    if len(F_b) == 0:
        return float("nan")
    return float(dominance_matrix(F_a, F_b).any(axis=0).mean())


def attainment_table(view: FrontView, series_a: str, series_b: str) -> pd.DataFrame:
    """One row per evaluated point of ``series_a``: which points of ``series_b`` it dominates, and vice versa."""
    rows_a = np.flatnonzero((view.series == series_a) & ~view.is_baseline)
    rows_b = np.flatnonzero((view.series == series_b) & ~view.is_baseline)
    D = dominance_matrix(view.F[rows_a], view.F[rows_b])  # (n_a, n_b)
    back = dominance_matrix(view.F[rows_b], view.F[rows_a])  # (n_b, n_a)
    ids_b = [view.rows[j][1].id for j in rows_b]
    records = []
    for i, row in enumerate(rows_a):
        rec: dict[str, object] = {"id": view.rows[row][1].id}
        for k, name in enumerate(view.objective_names):
            rec[name] = float(view.F[row, k])
        rec["dominates"] = int(D[i].sum())
        rec["dominated ids"] = ", ".join(b for b, d in zip(ids_b, D[i], strict=True) if d)
        rec["dominated by"] = int(back[:, i].sum())
        records.append(rec)
    columns = ["id", *view.objective_names, "dominates", "dominated ids", "dominated by"]
    return pd.DataFrame.from_records(records, columns=columns)
