"""Machine-readable tables: every point (CSV and JSON), per-seed indicators, per-method summaries, attainment
surfaces. Numbers are written with Python's shortest round-trip ``repr``, so reading a file back gives the
same floats; a missing value is an empty CSV cell and ``null`` in JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pareto_align.atomic import write_text_atomic
from pareto_align.export.bootstrap import Interval
from pareto_align.export.pairwise import LinearRatio, PairwiseComparison
from pareto_align.export.runs import Run, SeedGroup, as_runs, seed_groups
from pareto_align.export.statistics import METRICS, MethodSummary, SeedIndicators
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.schema import Front

POINTS_SCHEMA = "pareto_align.export.points/v1"
SUMMARY_SCHEMA = "pareto_align.export.summary/v1"


def point_records(runs: Sequence[Run], groups: Sequence[SeedGroup] | None = None) -> list[dict[str, Any]]:
    """One record per point and baseline of every run, lists kept as lists (the JSON form).

    ``non_dominated``: not dominated by another point of the same file (what ``front.json``'s metrics use);
    ``non_dominated_in_group``: not dominated within its own method and seed (what the tables use).
    Baselines have neither.
    """
    groups = list(groups) if groups is not None else seed_groups(runs)
    label_of: dict[tuple[str, str], str] = {}
    nd_in_group: dict[tuple[str, str], bool] = {}
    for g in groups:
        for p, keep in zip(g.points, non_dominated_mask(g.F), strict=True):
            label_of[(g.run, p.id)] = g.label
            nd_in_group[(g.run, p.id)] = bool(keep)
    records = []
    for run in runs:
        F = run.front.F("points")
        nd = non_dominated_mask(F) if len(F) else np.zeros(0, dtype=bool)
        for kind, points, flags in (("point", run.front.points, nd), ("baseline", run.front.baselines, None)):
            for i, p in enumerate(points):
                records.append(
                    {
                        "run": run.name,
                        "kind": kind,
                        "id": p.id,
                        "method": p.method,
                        "label": label_of.get((run.name, p.id)) if kind == "point" else None,
                        "seed": p.seed,
                        "step": p.step,
                        "lambda": p.lambda_,
                        "n_samples": p.n_samples,
                        "non_dominated": bool(flags[i]) if flags is not None else None,
                        "non_dominated_in_group": nd_in_group.get((run.name, p.id))
                        if kind == "point"
                        else None,
                        "values": list(p.values),
                        "stderr": list(p.stderr),
                        "weights": list(p.weights) if p.weights is not None else None,
                        "direction": list(p.direction) if p.direction is not None else None,
                        "wall_seconds": p.compute.wall_seconds,
                        "policy_updates": p.compute.policy_updates,
                        "trained_tokens": p.compute.trained_tokens,
                        "generated_tokens": p.compute.generated_tokens,
                        "policy_kind": p.policy.kind if p.policy is not None else None,
                    }
                )
    return records


_LIST_FIELDS = ("values", "stderr", "weights", "direction")


def flatten_record(record: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A record with each per-objective list spread into columns ``values:<objective>`` etc."""
    flat = {k: v for k, v in record.items() if k not in _LIST_FIELDS}
    for field in _LIST_FIELDS:
        seq = record[field]
        for j, name in enumerate(names):
            flat[f"{field}:{name}"] = None if seq is None else seq[j]
    return flat


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV (header + rows) with round-trip floats, empty cells for None and true/false for booleans."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def points_csv_text(runs: Sequence[Run], groups: Sequence[SeedGroup] | None = None) -> str:
    names = runs[0].front.objective_names
    rows = [flatten_record(r, names) for r in point_records(runs, groups)]
    return csv_text(rows, point_columns(names))


def point_columns(names: Sequence[str]) -> list[str]:
    """Columns of the points CSV, per-objective columns in objective order."""
    base = ["run", "kind", "id", "method", "label", "seed", "step", "lambda", "n_samples", "non_dominated"]
    base += ["non_dominated_in_group", "wall_seconds", "policy_updates", "trained_tokens", "generated_tokens",
             "policy_kind"]  # fmt: skip
    return base + [f"{f}:{n}" for f in _LIST_FIELDS for n in names]


def front_header(front: Front) -> dict[str, Any]:
    """What a reader needs to interpret values: objectives, reference point and normalization."""
    return {
        "objectives": [o.model_dump() for o in front.objectives],
        "reference_point": list(front.reference_point),
        "normalization": front.normalization.model_dump() if front.normalization else None,
        "convention": "maximize (objectives declared min were negated at scoring time)",
    }


def points_json_text(runs: Sequence[Run], groups: Sequence[SeedGroup] | None = None) -> str:
    doc = {"schema": POINTS_SCHEMA, **front_header(runs[0].front), "points": point_records(runs, groups)}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def write_points_csv(front: Front | Mapping[str, Front], path: str | Path) -> Path:
    """Write every point and baseline of ``front`` (or run name -> Front) as CSV, atomically."""
    return write_text_atomic(Path(path), points_csv_text(as_runs(front)))


def write_points_json(front: Front | Mapping[str, Front], path: str | Path) -> Path:
    """Write every point and baseline of ``front`` (or run name -> Front) as JSON, atomically."""
    return write_text_atomic(Path(path), points_json_text(as_runs(front)))


SEED_COLUMNS = ["label", "method", "seed", "run", "n_points", *METRICS, "trained_tokens", "generated_tokens"]


def seeds_csv_text(rows: Sequence[SeedIndicators]) -> str:
    return csv_text([r.record() for r in rows], SEED_COLUMNS)


def _interval_fields(prefix: str, iv: Interval | None) -> dict[str, Any]:
    """``prefix``, ``prefix_low``, ``prefix_high`` of an interval (None when missing or NaN)."""

    def clean(v: float | None) -> float | None:
        return None if v is None or not np.isfinite(v) else float(v)

    if iv is None:
        return {prefix: None, f"{prefix}_low": None, f"{prefix}_high": None}
    return {prefix: clean(iv.mean), f"{prefix}_low": clean(iv.low), f"{prefix}_high": clean(iv.high)}


PAIRWISE_COLUMNS = ["a", "b", "metric", "n_seeds_a", "n_seeds_b", "difference", "difference_low",
                    "difference_high", "p_a_better", "p_a_better_low", "p_a_better_high", "supported"]  # fmt: skip


def pairwise_records(
    comparisons: Sequence[PairwiseComparison], summaries: Sequence[MethodSummary]
) -> list[dict[str, Any]]:
    """One record per (A, B, metric): mean difference A - B and P(A better than B), each with its interval;
    ``supported`` when the interval of P excludes 0.5."""
    n = {s.label: s.n_seeds for s in summaries}
    return [
        {
            "a": c.a,
            "b": c.b,
            "metric": c.metric,
            "n_seeds_a": n[c.a],
            "n_seeds_b": n[c.b],
            **_interval_fields("difference", c.difference),
            **_interval_fields("p_a_better", c.probability_of_improvement),
            "supported": c.decided,
        }
        for c in comparisons
    ]


LINEAR_COLUMNS = ["label", "reference", "hypervolume_ratio", "hypervolume_ratio_low", "hypervolume_ratio_high",
                  "policy_updates_ratio", "policy_updates_ratio_low", "policy_updates_ratio_high",
                  "total_tokens_ratio", "total_tokens_ratio_low", "total_tokens_ratio_high"]  # fmt: skip


def linear_ratio_records(ratios: Sequence[LinearRatio]) -> list[dict[str, Any]]:
    """One record per method: ratios of means to the linear-scalarization (morlhf) grid, with intervals."""
    return [
        {
            "label": r.label,
            "reference": r.reference,
            **_interval_fields("hypervolume_ratio", r.hypervolume),
            **_interval_fields("policy_updates_ratio", r.policy_updates),
            **_interval_fields("total_tokens_ratio", r.total_tokens),
        }
        for r in ratios
    ]


def summary_records(summaries: Sequence[MethodSummary]) -> list[dict[str, Any]]:
    """One record per (method, metric): n_seeds, mean, ci_low, ci_high (None with one seed), confidence.
    Metrics against the reference set are absent when there was none."""
    return [
        {
            "label": s.label,
            "metric": metric,
            "n_seeds": s.n_seeds,
            "mean": iv.mean,
            "ci_low": iv.low,
            "ci_high": iv.high,
            "confidence": iv.confidence,
        }
        for s in summaries
        for metric, iv in s.intervals.items()
    ]


def summary_csv_text(summaries: Sequence[MethodSummary]) -> str:
    columns = ["label", "metric", "n_seeds", "mean", "ci_low", "ci_high", "confidence"]
    return csv_text(summary_records(summaries), columns)


def attainment_records(
    surfaces: Mapping[str, Mapping[float, np.ndarray]], names: Sequence[str]
) -> list[dict]:
    """One record per corner point of each method's attainment surfaces (method, percentile, one column each)."""
    return [
        {"label": label, "percentile": float(p), **{n: float(v) for n, v in zip(names, row, strict=True)}}
        for label, per_p in surfaces.items()
        for p, S in per_p.items()
        for row in S
    ]


def summary_json_text(
    runs: Sequence[Run],
    summaries: Sequence[MethodSummary],
    rows: Sequence[SeedIndicators],
    surfaces: Mapping[str, Mapping[float, np.ndarray]],
    settings: Mapping[str, Any],
    comparison: Mapping[str, Any] | None = None,
) -> str:
    """The whole summary as JSON; ``comparison`` adds the reference set, pairwise statistics and ratios to the
    linear-scalarization grid (see the exporter)."""
    names = runs[0].front.objective_names
    doc = {
        "schema": SUMMARY_SCHEMA,
        **front_header(runs[0].front),
        **settings,
        "methods": summary_records(summaries),
        "seeds": [r.record() for r in rows],
        "attainment_surfaces": attainment_records(surfaces, names),
        **(comparison or {}),
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
