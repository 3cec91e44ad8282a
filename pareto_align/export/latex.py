"""The paper table: one booktabs row per method, each indicator as its mean over seeds with a 95% bootstrap
interval, the number of seeds, the best mean per column in bold, and a caption that states the reference point,
the normalization and how intervals were computed. With one seed the row says so instead of an interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pareto_align.export.bootstrap import Interval
from pareto_align.export.statistics import MethodSummary, best_labels
from pareto_align.export.style import display_name
from pareto_align.front.schema import Front

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}

# column header of each metric (arrow: which way is better)
HEADERS: dict[str, str] = {
    "hypervolume": r"HV $\uparrow$",
    "hypervolume_relative": r"HV/HV$_R$ $\uparrow$",
    "expected_utility": r"EU $\uparrow$",
    "igd": r"IGD $\downarrow$",
    "maximum_utility_loss": r"MUL $\downarrow$",
    "cardinality": r"Card. $\uparrow$",
    "sparsity": r"Sparsity $\downarrow$",
    "wall_seconds": r"Wall time$^{\ast}$ $\downarrow$",
    "policy_updates": r"Updates $\downarrow$",
    "total_tokens": r"Tokens $\downarrow$",
}
# The paper table's columns (every metric is in summary.csv); those a summary lacks (no reference set) are dropped.
TABLE_METRICS: tuple[str, ...] = (
    "hypervolume",
    "hypervolume_relative",
    "expected_utility",
    "igd",
    "maximum_utility_loss",
    "cardinality",
    "wall_seconds",
    "policy_updates",
)


def escape(text: str) -> str:
    """Text safe inside a LaTeX table cell."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def decimals_for(values: Sequence[float], significant: int = 3) -> int:
    """Decimals that show ``significant`` digits of the largest magnitude in a column (at most 4)."""
    big = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    if big == 0:
        return 2
    return int(min(4, max(0, significant - 1 - math.floor(math.log10(big)))))


def wall_time_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """A readable unit for a column of wall-clock seconds: (name, divisor)."""
    big = max(seconds, default=0.0)
    if big >= 2 * 3600:
        return "h", 3600.0
    if big >= 120:
        return "min", 60.0
    return "s", 1.0


def _cell(iv: Interval, decimals: int, divisor: float, bold: bool) -> str:
    mean = f"{iv.mean / divisor:.{decimals}f}"
    if bold:
        mean = rf"\textbf{{{mean}}}"
    if not iv.has_interval:
        return mean
    assert iv.low is not None and iv.high is not None
    lo, hi = f"{iv.low / divisor:.{decimals}f}", f"{iv.high / divisor:.{decimals}f}"
    # mean above its interval: a nested tabular keeps the table narrow without extra packages
    return rf"\begin{{tabular}}[t]{{@{{}}c@{{}}}}{mean}\\[-2pt]{{\scriptsize[{lo}, {hi}]}}\end{{tabular}}"


def _vector(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def caption(
    front: Front,
    summaries: Sequence[MethodSummary],
    eu_description: str,
    n_resamples: int,
    metrics: Sequence[str] = TABLE_METRICS,
) -> str:
    """Caption text: statistics, reference point, normalization, indicator definitions."""
    names = ", ".join(
        escape(o.name) + (" (declared min, negated)" if o.direction == "min" else "")
        for o in front.objectives
    )
    conf = summaries[0].intervals["hypervolume"].confidence if summaries else 0.95
    if front.normalization is None:
        norm = "on raw objective values"
    else:
        norm = (
            "after normalizing each objective to $[0, 1]$ with bounds lower "
            f"${_vector(front.normalization.lower)}$ and upper ${_vector(front.normalization.upper)}$"
        )
    single = any(s.n_seeds == 1 for s in summaries)
    parts = [
        f"Mean over seeds with {conf:.0%} percentile-bootstrap confidence intervals in brackets "
        f"({n_resamples:,} resamples); $n$ = number of seeds.".replace("%", r"\%"),
        r"$^\dagger$\,One seed: no interval." if single else "",
        f"Objectives (all maximized): {names}.",
        f"Hypervolume (HV) with reference point ${_vector(front.reference_point)}$, {norm}.",
        f"Expected utility (EU): mean over {escape(eu_description)} of the best weighted sum.",
        "IGD, maximum utility loss (MUL, over the same weights) and HV/HV$_R$ are measured against the reference "
        "set $R$: the non-dominated union of every method's points over all seeds."
        if "igd" in metrics
        else "",
        "Card.: number of distinct non-dominated points.",
        r"$^{\ast}$Wall-clock time per seed to produce its policies: training, work shared by its points (e.g."
        r" specialists) counted once, and inference-time selection or mixing.",
        "Indicators are computed per seed on that seed's non-dominated points.",
        "Best mean per column in bold." if len(summaries) > 1 else "",
    ]
    return " ".join(p for p in parts if p)


def latex_table(
    front: Front,
    summaries: Sequence[MethodSummary],
    eu_description: str,
    n_resamples: int,
    label: str = "tab:pareto-front",
) -> str:
    """A complete ``table*`` environment (full text width in two-column papers; needs ``booktabs``)."""
    metrics = [m for m in TABLE_METRICS if all(m in s.intervals for s in summaries)]
    unit, divisor = wall_time_unit([s.intervals["wall_seconds"].mean for s in summaries])
    headers = dict(HEADERS, wall_seconds=HEADERS["wall_seconds"].replace("Wall time", f"Wall time ({unit})"))
    decimals = {}
    for metric in metrics:
        values = []
        for s in summaries:
            iv = s.intervals[metric]
            d = divisor if metric == "wall_seconds" else 1.0
            values += [v / d for v in (iv.mean, iv.low, iv.high) if v is not None]
        decimals[metric] = decimals_for(values)
        if metric in ("cardinality", "policy_updates"):  # counts: no decimals unless a mean is fractional
            decimals[metric] = 0 if all(float(v).is_integer() for v in values) else 1
    best = {metric: best_labels(summaries, metric) for metric in metrics}
    lines = [
        r"\begin{table*}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption(front, summaries, eu_description, n_resamples, metrics)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l r " + " ".join("c" for _ in metrics) + "}",
        r"\toprule",
        " & ".join(["Method", "$n$", *(headers[m] for m in metrics)]) + r" \\",
        r"\midrule",
    ]
    for s in summaries:
        method = s.per_seed[0].method
        n = f"{s.n_seeds}" + (r"$^\dagger$" if s.n_seeds == 1 else "")
        cells = [
            _cell(
                s.intervals[m],
                decimals[m],
                divisor if m == "wall_seconds" else 1.0,
                s.label in best[m],
            )
            for m in metrics
        ]
        lines.append(" & ".join([escape(display_name(s.label, method)), n, *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table*}"]
    return "\n".join(lines) + "\n"
