"""``export_runs``: the whole paper export of one or more run dirs, as ``pareto-align export`` runs it.

Order of work: read and check the runs; compute per-seed indicators, bootstrap summaries and attainment
surfaces; build every text output in memory and render every figure to temp files; check that nothing but
earlier, unmodified export outputs would be overwritten; then move everything into place and write the manifest
last. A failure before the move leaves the output folder as it was.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from pareto_align.atomic import commit, private_files, write_text_atomic
from pareto_align.export.anytime import REACH_COLUMNS, ReachCost, anytime_curves, reach_costs, reach_records
from pareto_align.export.attainment import MAX_EAF_OBJECTIVES, PERCENTILES, attainment_surfaces
from pareto_align.export.bibtex import bibtex_entries
from pareto_align.export.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES
from pareto_align.export.figures import (
    attainment_figure,
    front_figure,
    hypervolume_figure,
    projection_matrix_figure,
    trajectory_figure,
)
from pareto_align.export.latex import latex_table
from pareto_align.export.manifest import (
    MANIFEST_NAME,
    build_manifest,
    check_overwrites,
    previous_outputs,
    still_owned,
)
from pareto_align.export.markdown import summary_markdown
from pareto_align.export.pairwise import LinearRatio, PairwiseComparison, linear_ratios, pairwise_comparisons
from pareto_align.export.render import IMAGE_FORMATS, render_to_temp
from pareto_align.export.runs import ExportError, Run, SeedGroup, load_runs, seed_groups
from pareto_align.export.statistics import (
    MethodSummary,
    SeedIndicators,
    reference_set,
    seed_indicators,
    summarize,
)
from pareto_align.export.tables import (
    LINEAR_COLUMNS,
    PAIRWISE_COLUMNS,
    attainment_records,
    csv_text,
    linear_ratio_records,
    pairwise_records,
    points_csv_text,
    points_json_text,
    seeds_csv_text,
    summary_csv_text,
    summary_json_text,
)
from pareto_align.export.truth import TrueFrontBound, true_front_bound
from pareto_align.front.indicators import default_eu_weights
from pareto_align.front.schema import Front

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "tex", "md", "bib", *IMAGE_FORMATS)


def _check_formats(formats: Sequence[str] | None) -> list[str]:
    if formats is None:
        return list(EXPORT_FORMATS)
    wanted = [f.lower().lstrip(".") for f in formats]
    bad = [f for f in wanted if f not in EXPORT_FORMATS]
    if bad or not wanted:
        raise ExportError(f"unknown export formats {bad or wanted}; allowed: {', '.join(EXPORT_FORMATS)}")
    return list(dict.fromkeys(wanted))


def _previous(out: Path, force: bool) -> dict[str, str]:
    """Earlier export outputs in ``out``; with ``force`` a foreign manifest is simply replaced."""
    if not out.exists():
        return {}
    try:
        return previous_outputs(out)
    except ExportError:
        if force:
            return {}
        raise


@dataclass(frozen=True)
class Analysis:
    """Everything computed from the runs before any file is written."""

    groups: list[SeedGroup]
    rows: list[SeedIndicators]
    summaries: list[MethodSummary]
    surfaces: dict[str, dict[float, np.ndarray]]  # label -> percentile -> (m, K); {} for K > 3
    eu_description: str
    reference: np.ndarray  # (r, K) the reference set: non-dominated union of every group's points
    comparisons: list[PairwiseComparison]
    ratios: list[LinearRatio]  # to the morlhf grid; [] without one
    bound: TrueFrontBound | None  # the reference set against the true front (built-in benchmark only)
    reach: list[ReachCost]  # compute to reach 95% of the morlhf grid's hypervolume; [] without one


def analyse(runs: Sequence[Run]) -> Analysis:
    """Per-seed indicators (also against the reference set), per-method bootstrap summaries, pairwise
    statistics, ratios to the linear-scalarization grid and attainment surfaces of compatible runs."""
    groups = seed_groups(runs)
    if not groups:
        raise ExportError("no points to export: " + ", ".join(r.source for r in runs) + " hold no points")
    front = runs[0].front
    k = len(front.objectives)
    eu_weights, eu_description = default_eu_weights(k)
    reference = reference_set(groups)
    rows = [
        seed_indicators(g, front.reference_point, front.normalization, eu_weights, reference) for g in groups
    ]
    sets: dict[str, list[np.ndarray]] = defaultdict(list)
    for g in groups:
        sets[g.label].append(g.F)
    surfaces = (
        {label: attainment_surfaces(F_list, PERCENTILES) for label, F_list in sets.items()}
        if 2 <= k <= MAX_EAF_OBJECTIVES
        else {}
    )
    summaries = summarize(rows)
    ratios = linear_ratios(summaries)
    reach = reach_costs(anytime_curves(runs, groups), ratios[0].reference) if ratios else []
    return Analysis(groups, rows, summaries, surfaces, eu_description, reference,
                    pairwise_comparisons(summaries), ratios, true_front_bound(front, reference), reach)  # fmt: skip


def _comparison(front: Front, a: Analysis) -> dict[str, Any]:
    """The summary.json keys of the comparison: reference set, true-front bound, ratios, pairwise statistics."""
    names = front.objective_names
    return {
        "reference_set": {
            "definition": "non-dominated union of every method's points over all seeds",
            "points": [dict(zip(names, map(float, row), strict=True)) for row in a.reference],
        },
        "true_front_bound": a.bound.record() if a.bound is not None else None,
        "linear_scalarization_ratios": linear_ratio_records(a.ratios),
        "compute_to_reach": reach_records(a.reach),
        "pairwise": pairwise_records(a.comparisons, a.summaries),
    }


def _settings(front: Front, analysis: Analysis, fmts: Sequence[str]) -> dict[str, Any]:
    """How the numbers were made, for the manifest and summary.json."""
    return {
        "objectives": [o.model_dump() for o in front.objectives],
        "reference_point": list(front.reference_point),
        "normalization": front.normalization.model_dump() if front.normalization else None,
        "expected_utility_weights": analysis.eu_description,
        "bootstrap": {
            "method": "percentile bootstrap of the mean over seeds (numpy default_rng)",
            "confidence": CONFIDENCE,
            "n_resamples": N_RESAMPLES,
            "seed": BOOTSTRAP_SEED,
        },
        "attainment": {"implementation": "moocore.eaf", "percentiles": list(PERCENTILES)},
        "reference_set": "non-dominated union of every method's points over all seeds "
        f"({len(analysis.reference)} points); igd, maximum_utility_loss (over the expected-utility weights) and "
        "hypervolume_relative (hypervolume / hypervolume of the reference set) are measured against it",
        "pairwise": "difference of means and P(A better than B) (Agarwal et al. 2021), percentile bootstrap "
        "resampling the seeds of each method independently",
        "formats": list(fmts),
    }


def _text_outputs(
    runs: Sequence[Run], a: Analysis, fmts: Sequence[str], settings: dict[str, Any], warnings: list[str]
) -> dict[str, str]:
    """File name -> content of every table and the BibTeX file requested by ``fmts``."""
    front = runs[0].front
    texts: dict[str, str] = {}
    if "csv" in fmts:
        texts["points.csv"] = points_csv_text(runs, a.groups)
        texts["seeds.csv"] = seeds_csv_text(a.rows)
        texts["summary.csv"] = summary_csv_text(a.summaries)
        texts["reference_set.csv"] = csv_text(
            [dict(zip(front.objective_names, map(float, row), strict=True)) for row in a.reference],
            front.objective_names,
        )
        if a.comparisons:
            texts["pairwise.csv"] = csv_text(pairwise_records(a.comparisons, a.summaries), PAIRWISE_COLUMNS)
        if a.ratios:
            texts["linear_ratios.csv"] = csv_text(linear_ratio_records(a.ratios), LINEAR_COLUMNS)
        if a.reach:
            texts["reach.csv"] = csv_text(reach_records(a.reach), REACH_COLUMNS)
        if a.surfaces:
            names = front.objective_names
            texts["attainment.csv"] = csv_text(
                attainment_records(a.surfaces, names), ["label", "percentile", *names]
            )
    if "json" in fmts:
        texts["points.json"] = points_json_text(runs, a.groups)
        texts["summary.json"] = summary_json_text(
            runs, a.summaries, a.rows, a.surfaces, settings, _comparison(front, a)
        )
    if "tex" in fmts:
        texts["table.tex"] = latex_table(front, a.summaries, a.eu_description, N_RESAMPLES)
    if "md" in fmts:
        texts["summary.md"] = summary_markdown(
            front,
            a.summaries,
            a.comparisons,
            a.ratios,
            a.bound,
            len(a.reference),
            a.eu_description,
            N_RESAMPLES,
            a.reach,
        )
    if "bib" in fmts:
        bib, unknown = bibtex_entries(g.method for g in a.groups)
        texts["references.bib"] = bib
        warnings += [f"{m}: no BibTeX entry known for this method" for m in unknown]
    return texts


def _figures(
    runs: Sequence[Run], reach: Sequence[ReachCost] = (), budget: int | None = None
) -> dict[str, go.Figure]:
    """File stem -> figure: the fronts, hypervolume against cumulative compute (every method on one plot, with the
    compute-to-reach target when the comparison has a linear-scalarization grid), the
    attainment surfaces per method (K = 2) or the matrix of pairwise projections (K >= 3), and the objective
    vectors of online points over their training, when the runs logged them. `budget`: see `hypervolume_figure`."""
    fronts = {r.name: r.front for r in runs}
    k = len(runs[0].front.objectives)
    figures = {
        "front": front_figure(fronts, static=True),
        "hypervolume": hypervolume_figure(fronts, reach[0] if reach else None, budget),
    }
    for stem, figure in (
        ("attainment", attainment_figure(fronts) if k == 2 else None),
        ("projections", projection_matrix_figure(fronts) if k >= 3 else None),
        ("training", trajectory_figure(fronts)),
    ):
        if figure is not None:
            figures[stem] = figure
    return figures


def export_runs(
    run_dirs: Sequence[str | os.PathLike[str]],
    to: str | os.PathLike[str],
    formats: Sequence[str] | None = None,
    *,
    force: bool = False,
    policy_budget: int | None = None,
    scoring: str = "evaluation",
) -> list[Path]:
    """Export the fronts of ``run_dirs`` (folders holding ``front.json``, or front files) into ``to``.

    ``formats`` among :data:`EXPORT_FORMATS` (None = all). ``force`` allows overwriting files that are not
    unmodified outputs of an earlier export. ``policy_budget``: the policy updates per seed every run was given
    (`pareto-align compare` with `budget.fill`), marked on the anytime figure. ``scoring``: ``judges`` exports
    the fronts as the held-out judges scored them (``evaluation.judges``). Returns the paths written, the
    manifest last. Raises ExportError (or FrontFileError for an unreadable front file) with one clear message.
    """
    fmts = _check_formats(formats)
    out = Path(to)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a directory")
    runs = load_runs(run_dirs, scoring)
    analysis = analyse(runs)
    settings = _settings(runs[0].front, analysis, fmts)
    warnings = [f"{s.label}: one seed, no confidence interval" for s in analysis.summaries if s.n_seeds == 1]
    if not analysis.surfaces:
        k = len(runs[0].front.objectives)
        warnings.append(f"{k} objectives: attainment surfaces are computed for 2 or 3 objectives only")
    texts = _text_outputs(runs, analysis, fmts, settings, warnings)
    image_formats = [f for f in fmts if f in IMAGE_FORMATS]
    figures = _figures(runs, analysis.reach, policy_budget) if image_formats else {}

    planned = list(texts) + [f"{stem}.{fmt}" for stem in figures for fmt in image_formats]
    previous = _previous(out, force)
    if not force:
        check_overwrites(out, planned, previous)
    with private_files():  # the folder 0700; every file in it is written through a 0600 temp file
        out.mkdir(parents=True, exist_ok=True)
    temps = render_to_temp(figures, out, image_formats) if figures else {}
    written: list[Path] = []
    try:
        for name, text in texts.items():
            written.append(write_text_atomic(out / name, text))
        for final, tmp in temps.items():
            written.append(commit(tmp, final))
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    earlier = still_owned(out, previous, planned)
    manifest = build_manifest(runs, out, written, settings, warnings, earlier)
    written.append(write_text_atomic(out / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n"))
    return written
