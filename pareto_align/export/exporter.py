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
from pathlib import Path

from pareto_align.export.atomic import commit, write_text_atomic
from pareto_align.export.attainment import MAX_EAF_OBJECTIVES, PERCENTILES, attainment_surfaces
from pareto_align.export.bibtex import bibtex_entries
from pareto_align.export.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES
from pareto_align.export.figures import front_figure, hypervolume_figure
from pareto_align.export.latex import latex_table
from pareto_align.export.manifest import (
    MANIFEST_NAME,
    build_manifest,
    check_overwrites,
    previous_outputs,
    still_owned,
)
from pareto_align.export.render import IMAGE_FORMATS, render_to_temp
from pareto_align.export.runs import ExportError, load_runs, seed_groups
from pareto_align.export.statistics import seed_indicators, summarize
from pareto_align.export.tables import (
    attainment_records,
    csv_text,
    points_csv_text,
    points_json_text,
    seeds_csv_text,
    summary_csv_text,
    summary_json_text,
)
from pareto_align.front.indicators import default_eu_weights

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "tex", "bib", *IMAGE_FORMATS)


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


def export_runs(
    run_dirs: Sequence[str | os.PathLike[str]],
    to: str | os.PathLike[str],
    formats: Sequence[str] | None = None,
    *,
    force: bool = False,
) -> list[Path]:
    """Export the fronts of ``run_dirs`` (folders holding ``front.json``, or front files) into ``to``.

    ``formats`` among :data:`EXPORT_FORMATS` (None = all). ``force`` allows overwriting files that are not
    unmodified outputs of an earlier export. Returns the paths written, the manifest last. Raises ExportError
    (or FrontFileError for an unreadable front file) with one clear message.
    """
    fmts = _check_formats(formats)
    out = Path(to)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a directory")
    runs = load_runs(run_dirs)
    groups = seed_groups(runs)
    if not groups:
        raise ExportError("no points to export: " + ", ".join(r.source for r in runs) + " hold no points")
    front = runs[0].front
    names = front.objective_names
    k = len(names)
    eu_weights, eu_description = default_eu_weights(k)
    rows = [seed_indicators(g, front.reference_point, front.normalization, eu_weights) for g in groups]
    summaries = summarize(rows)

    by_label = defaultdict(list)
    for g in groups:
        by_label[g.label].append(g.F)
    surfaces = (
        {label: attainment_surfaces(sets, PERCENTILES) for label, sets in by_label.items()}
        if 2 <= k <= MAX_EAF_OBJECTIVES
        else {}
    )
    warnings = [f"{s.label}: one seed, no confidence interval" for s in summaries if s.n_seeds == 1]
    if not surfaces:
        warnings.append(f"{k} objectives: attainment surfaces are computed for 2 or 3 objectives only")
    settings = {
        "objectives": [o.model_dump() for o in front.objectives],
        "reference_point": list(front.reference_point),
        "normalization": front.normalization.model_dump() if front.normalization else None,
        "expected_utility_weights": eu_description,
        "bootstrap": {
            "method": "percentile bootstrap of the mean over seeds (numpy default_rng)",
            "confidence": CONFIDENCE,
            "n_resamples": N_RESAMPLES,
            "seed": BOOTSTRAP_SEED,
        },
        "attainment": {"implementation": "moocore.eaf", "percentiles": list(PERCENTILES)},
        "formats": fmts,
    }

    texts: dict[str, str] = {}
    if "csv" in fmts:
        texts["points.csv"] = points_csv_text(runs, groups)
        texts["seeds.csv"] = seeds_csv_text(rows)
        texts["summary.csv"] = summary_csv_text(summaries)
        if surfaces:
            texts["attainment.csv"] = csv_text(
                attainment_records(surfaces, names), ["label", "percentile", *names]
            )
    if "json" in fmts:
        texts["points.json"] = points_json_text(runs, groups)
        texts["summary.json"] = summary_json_text(runs, summaries, rows, surfaces, settings)
    if "tex" in fmts:
        texts["table.tex"] = latex_table(front, summaries, eu_description, N_RESAMPLES)
    if "bib" in fmts:
        bib, unknown = bibtex_entries(g.method for g in groups)
        texts["references.bib"] = bib
        warnings += [f"{m}: no BibTeX entry known for this method" for m in unknown]

    image_formats = [f for f in fmts if f in IMAGE_FORMATS]
    figures = {}
    if image_formats:
        fronts = {r.name: r.front for r in runs}
        figures["front"] = front_figure(fronts, static=True)
        hv = hypervolume_figure(fronts)
        if hv is not None:
            figures["hypervolume"] = hv
    planned = list(texts) + [f"{stem}.{fmt}" for stem in figures for fmt in image_formats]
    previous = _previous(out, force)
    if not force:
        check_overwrites(out, planned, previous)
    out.mkdir(parents=True, exist_ok=True)

    temps = render_to_temp(figures, out, image_formats) if image_formats else {}
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
