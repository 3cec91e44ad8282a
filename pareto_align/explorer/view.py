"""The points the explorer shows, pooled from several runs into one table with aligned arrays.

A *series* is what the figures colour and what the comparison compares: a whole run when it holds one method,
otherwise one method inside a run (``"run · method"``). Dominance is decided within each series, so every
run's (or method's) own front stands out; baselines are shown but never on a front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pareto_align.explorer.runs import LoadedRun
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.schema import Front, Normalization, Objective, Point

SERIES_SEPARATOR = " · "


@dataclass
class FrontView:
    """Rows = every point and baseline of the shown runs. Arrays are aligned with ``rows``.

    - ``F``: values (n, K), maximize convention; ``stderr``: (n, K)
    - ``series``: series label per row (n,); ``is_baseline``: (n,) bool
    - ``non_dominated``: (n,) bool, within the row's series, False for baselines
    """

    objectives: list[Objective]
    runs: list[LoadedRun]
    rows: list[tuple[LoadedRun, Point]]
    F: np.ndarray
    stderr: np.ndarray
    series: np.ndarray
    is_baseline: np.ndarray
    non_dominated: np.ndarray

    @property
    def K(self) -> int:
        return len(self.objectives)

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def series_names(self) -> list[str]:
        """Distinct series labels in first-seen order (baselines have their run's label)."""
        return list(dict.fromkeys(self.series[~self.is_baseline].tolist()))

    def __len__(self) -> int:
        return len(self.rows)

    def row_key(self, i: int) -> str:
        """A stable name for row ``i``: ``"run/point_id"``."""
        run, point = self.rows[i]
        return f"{run.label}/{point.id}"

    def index_of(self, key: str) -> int | None:
        """Row index of a :meth:`row_key`, or None when it is not shown."""
        for i in range(len(self.rows)):
            if self.row_key(i) == key:
                return i
        return None

    def shared_normalization(self) -> Normalization | None:
        """The runs' normalization when all shown runs declare the same one, else None."""
        norms = [r.front.normalization for r in self.runs if r.front is not None]
        if not norms or norms[0] is None or any(n != norms[0] for n in norms):
            return None
        return norms[0]

    def table(self, rows: Sequence[int] | None = None) -> pd.DataFrame:
        """A flat table of the (selected) rows for display and export: one column per objective and stderr."""
        idx = range(len(self.rows)) if rows is None else rows
        records = []
        for i in idx:
            run, p = self.rows[i]
            rec: dict[str, Any] = {
                "run": run.label,
                "series": self.series[i],
                "id": p.id,
                "method": p.method,
                "baseline": bool(self.is_baseline[i]),
                "non_dominated": bool(self.non_dominated[i]),
                "seed": p.seed,
                "step": p.step,
                "weights": _fmt_vec(p.weights),
                "direction": _fmt_vec(p.direction),
                "lambda": p.lambda_,
                "n_samples": p.n_samples,
                "policy": p.policy.kind if p.policy is not None else None,
            }
            for k, name in enumerate(self.objective_names):
                rec[name] = float(self.F[i, k])
                rec[f"{name} stderr"] = float(self.stderr[i, k])
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def lineage(self) -> pd.DataFrame:
        """C-MORL's lineage: one row per shown point with `cmorl` metadata (its stage, the round that made it, the
        point and snapshot step it extends, towards which objective, whether its constraints held on the held-out
        prompts, how often the barrier's clamp bound). Empty when no shown point has any."""
        records = []
        for i, (run, p) in enumerate(self.rows):
            meta = p.metadata.get("cmorl")
            if not isinstance(meta, dict):
                continue
            held = meta.get("constraints_held")
            records.append({
                "run": run.label, "id": p.id, "stage": meta.get("stage"), "round": meta.get("round"),
                "extends": meta.get("extends_point"),
                "from step": meta.get("extends_step"),
                "objective": meta.get("objective_name"),
                "constraints held": None if held is None else f"{sum(held)} of {len(held)}",
                "clamp binding": _fmt_vec(meta.get("clamp_binding")),
                "snapshots": len(meta.get("snapshots", [])), "non_dominated": bool(self.non_dominated[i]),
            })  # fmt: skip
        return pd.DataFrame(records)


def _fmt_vec(v: Sequence[float] | None) -> str | None:
    return None if v is None else "(" + ", ".join(f"{x:.3g}" for x in v) + ")"


def _series_labels(run: LoadedRun, front: Front) -> list[str]:
    methods = list(dict.fromkeys(p.method for p in front.points))
    if len(methods) <= 1:
        return [run.label] * len(front.points)
    return [f"{run.label}{SERIES_SEPARATOR}{p.method}" for p in front.points]


def build_view(runs: Sequence[LoadedRun]) -> FrontView:
    """Pool the points and baselines of ``runs`` (which must share objective names, in order)."""
    shown = [r for r in runs if r.front is not None]
    if not shown:
        raise ValueError("no run with a front to show")
    objectives = shown[0].front.objectives  # type: ignore[union-attr]
    names = [o.name for o in objectives]
    rows: list[tuple[LoadedRun, Point]] = []
    series: list[str] = []
    baseline: list[bool] = []
    for run in shown:
        front = run.front
        assert front is not None
        if front.objective_names != names:
            raise ValueError(
                f"run {run.label!r} has objectives {front.objective_names}, expected {names}; "
                "runs shown together must share objectives"
            )
        rows.extend((run, p) for p in front.points)
        series.extend(_series_labels(run, front))
        baseline.extend([False] * len(front.points))
        rows.extend((run, b) for b in front.baselines)
        series.extend([run.label] * len(front.baselines))
        baseline.extend([True] * len(front.baselines))
    K = len(objectives)
    F = np.array([p.values for _, p in rows], dtype=float).reshape(-1, K)  # (n, K)
    stderr = np.array([p.stderr for _, p in rows], dtype=float).reshape(-1, K)  # (n, K)
    series_arr = np.array(series, dtype=object)
    is_baseline = np.array(baseline, dtype=bool)
    nd = np.zeros(len(rows), dtype=bool)
    for s in dict.fromkeys(series_arr[~is_baseline].tolist()):
        members = np.flatnonzero((series_arr == s) & ~is_baseline)
        nd[members] = non_dominated_mask(F[members])
    return FrontView(
        objectives=list(objectives),
        runs=list(shown),
        rows=rows,
        F=F,
        stderr=stderr,
        series=series_arr,
        is_baseline=is_baseline,
        non_dominated=nd,
    )


def restrict(view: FrontView, series: Sequence[str]) -> FrontView:
    """The rows of ``view`` whose series is in ``series``, plus the baselines of the runs those rows belong to.

    Dominance flags are kept: they are decided within each series, so dropping other series cannot change them.
    """
    wanted = set(series)
    in_series = np.array([s in wanted for s in view.series], dtype=bool) & ~view.is_baseline
    run_ids = {id(view.rows[i][0]) for i in np.flatnonzero(in_series)}
    own_baseline = np.array([id(run) in run_ids for run, _ in view.rows], dtype=bool) & view.is_baseline
    idx = np.flatnonzero(in_series | own_baseline)
    return FrontView(
        objectives=view.objectives,
        runs=[r for r in view.runs if id(r) in run_ids],
        rows=[view.rows[i] for i in idx],
        F=view.F[idx],
        stderr=view.stderr[idx],
        series=view.series[idx],
        is_baseline=view.is_baseline[idx],
        non_dominated=view.non_dominated[idx],
    )


def linear_connectivity(point: Point, names: Sequence[str]) -> list[dict[str, Any]] | None:
    """For a point that mixes specialists (soups, MOD): its values, the straight line between the specialists'
    values at its weights (recorded by the method), and the gain over that line, one row each; None otherwise.
    A soup above the line in every objective shows linear mode connectivity (Rame et al., 2023)."""
    line = point.metadata.get("linear_interpolation")
    if not isinstance(line, list) or len(line) != len(names):
        return None
    gain = [v - x for v, x in zip(point.values, line, strict=True)]
    return [
        {"": "point", **dict(zip(names, point.values, strict=True))},
        {"": "line between the specialists", **dict(zip(names, line, strict=True))},
        {"": "gain over the line", **dict(zip(names, gain, strict=True))},
    ]
