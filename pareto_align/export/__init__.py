"""Export fronts for papers: tables (CSV, JSON, LaTeX) with multi-seed statistics, figures (PDF, SVG, PNG),
attainment surfaces across seeds, BibTeX, and a manifest that traces every output to its runs.

``export_runs`` is what ``pareto-align export`` calls (one method's runs or several methods', or a comparison folder
of run subfolders); ``front_figure`` and ``write_points_csv`` are reused by the sweep runner and the explorer, and
``style`` is the one plotting style of the explorer and the exporter.
"""

from pareto_align.export.attainment import PERCENTILES, attainment_surfaces, staircase
from pareto_align.export.bibtex import bibtex_entries
from pareto_align.export.bootstrap import Interval, bootstrap_ci
from pareto_align.export.exporter import EXPORT_FORMATS, export_runs
from pareto_align.export.figures import (
    attainment_figure,
    front_figure,
    hypervolume_figure,
    projection_matrix_figure,
)
from pareto_align.export.latex import latex_table
from pareto_align.export.manifest import MANIFEST_NAME
from pareto_align.export.markdown import summary_markdown
from pareto_align.export.pairwise import (
    linear_ratios,
    pairwise_comparisons,
    probability_of_improvement,
)
from pareto_align.export.render import IMAGE_FORMATS, write_figures
from pareto_align.export.runs import ExportError, Run, SeedGroup, expand_run_dirs, load_runs, seed_groups
from pareto_align.export.statistics import (
    METRICS,
    MethodSummary,
    SeedIndicators,
    reference_set,
    seed_indicators,
    summarize,
)
from pareto_align.export.style import method_color, method_styles
from pareto_align.export.tables import write_points_csv, write_points_json

__all__ = [
    "EXPORT_FORMATS",
    "IMAGE_FORMATS",
    "MANIFEST_NAME",
    "METRICS",
    "PERCENTILES",
    "ExportError",
    "Interval",
    "MethodSummary",
    "Run",
    "SeedGroup",
    "SeedIndicators",
    "attainment_figure",
    "attainment_surfaces",
    "bibtex_entries",
    "bootstrap_ci",
    "expand_run_dirs",
    "export_runs",
    "front_figure",
    "hypervolume_figure",
    "latex_table",
    "linear_ratios",
    "load_runs",
    "method_color",
    "method_styles",
    "pairwise_comparisons",
    "probability_of_improvement",
    "projection_matrix_figure",
    "reference_set",
    "seed_groups",
    "seed_indicators",
    "staircase",
    "summarize",
    "summary_markdown",
    "write_figures",
    "write_points_csv",
    "write_points_json",
]
