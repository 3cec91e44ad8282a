"""``summary.md``: the comparison as Markdown a user can paste into a README or a paper appendix.

Everything in it is generated from the computed statistics: a table of every method (mean over seeds with its
bootstrap interval), the reference set and, on the built-in benchmark, how close it is to the true front, the
ratios to the linear-scalarization grid, the pairwise probabilities of improvement, and two sentences per method.
No number is written that the data did not produce; a missing statistic is said to be missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pareto_align.export.anytime import COMPUTE_AXES, ReachCost
from pareto_align.export.bootstrap import Interval
from pareto_align.export.pairwise import LinearRatio, PairwiseComparison
from pareto_align.export.statistics import MethodSummary
from pareto_align.export.style import display_name, objective_title
from pareto_align.export.truth import TrueFrontBound
from pareto_align.front.schema import Front

# metric -> column header (arrow: which way is better)
COLUMNS: dict[str, str] = {
    "hypervolume": "HV ↑",
    "hypervolume_relative": "HV / HV(ref. set) ↑",
    "expected_utility": "EU ↑",
    "igd": "IGD ↓",
    "maximum_utility_loss": "MUL ↓",
    "cardinality": "Card. ↑",
    "policy_updates": "Updates",
    "total_tokens": "Tokens",
}


def number(x: float | None) -> str:
    """A number for prose and tables: 4 significant digits, thousands grouped for large values."""
    if x is None:
        return "n/a"
    x = x + 0.0  # -0.0 -> 0.0
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def with_interval(iv: Interval | None) -> str:
    """'mean [low, high]', or 'mean' alone with one seed."""
    if iv is None:
        return "n/a"
    if not iv.has_interval:
        return number(iv.mean)
    return f"{number(iv.mean)} [{number(iv.low)}, {number(iv.high)}]"


def _name(s: MethodSummary) -> str:
    return display_name(s.label, s.per_seed[0].method)


def _vector(values: Sequence[float]) -> str:
    return "(" + ", ".join(number(v) for v in values) + ")"


def _table(summaries: Sequence[MethodSummary]) -> list[str]:
    metrics = [m for m in COLUMNS if any(m in s.intervals for s in summaries)]
    lines = [
        "| Method | seeds | " + " | ".join(COLUMNS[m] for m in metrics) + " |",
        "|---|---:|" + "---:|" * len(metrics),
    ]
    for s in summaries:
        cells = [with_interval(s.intervals.get(m)) for m in metrics]
        lines.append(f"| {_name(s)} | {s.n_seeds} | " + " | ".join(cells) + " |")
    return lines


def _setting(front: Front, n_reference: int, eu_description: str, confidence: float, n_resamples: int) -> str:
    objectives = ", ".join(objective_title(o.name, o.direction) for o in front.objectives)
    norm = (
        "on raw values"
        if front.normalization is None
        else f"after normalizing with bounds {_vector(front.normalization.lower)} to "
        f"{_vector(front.normalization.upper)}"
    )
    return (
        f"Objectives (all maximized; −name: declared min, negated): {objectives}. Mean over seeds with "
        f"{confidence:.0%} percentile-bootstrap intervals ({n_resamples:,} resamples). Indicators per seed on that "
        f"seed's non-dominated points, {norm}; hypervolume (HV) with reference point "
        f"{_vector(front.reference_point)}; expected utility (EU) over {eu_description}. IGD, maximum utility loss "
        f"(MUL, over the same weights) and HV / HV(ref. set) are measured against the reference set: the "
        f"non-dominated union of every method's points over all seeds ({n_reference} points). Compute per seed: "
        "policy updates, and tokens trained on plus tokens generated."
    )


def _truth(bound: TrueFrontBound | None) -> list[str]:
    if bound is None:
        return []
    share = bound.hypervolume_share_lower_bound
    return [
        "",
        "**Reference set against the true front** (built-in benchmark, gold functions known). The exact true front "
        "is not computed; the gold functions' ideal point "
        f"{_vector(bound.ideal_point)} bounds it from above. The reference set's best value per objective is "
        f"{_vector(bound.reference_best)}, at most {_vector(bound.gaps)} below the true front's best; "
        + (
            f"its hypervolume is at least {share:.1%} of the true front's (HV(ref. set) / HV(ideal point))."
            if share is not None
            else "the ideal point does not dominate the reference point, so no hypervolume bound is given."
        ),
    ]


def _linear(ratios: Sequence[LinearRatio], names: dict[str, str]) -> list[str]:
    if not ratios:
        return []
    ref = names[ratios[0].reference]
    lines = [
        "",
        f"**Against the linear-scalarization grid ({ref})**: ratio of means, method / {ref}.",
        "",
        "| Method | HV ratio | policy-update ratio | token ratio |",
        "|---|---:|---:|---:|",
    ]
    for r in ratios:
        lines.append(
            f"| {names[r.label]} | {with_interval(r.hypervolume)} | {with_interval(r.policy_updates)} | "
            f"{with_interval(r.total_tokens)} |"
        )
    return lines


def _reach(reach: Sequence[ReachCost], names: dict[str, str]) -> list[str]:
    if not reach:
        return []
    first = reach[0]
    ref = names[first.reference]
    axes = list(dict.fromkeys(r.axis for r in reach))
    by = {(r.label, r.axis): r for r in reach}
    lines = [
        "",
        f"**Compute to reach {first.fraction:.0%} of {ref}'s hypervolume** (target {first.target:.4g}): the "
        f"cumulative compute at which a seed's front first reaches it, as a fraction of {ref}'s total; the mean over "
        "seeds with its interval when every seed reaches it, else each reaching seed's own (seed: fraction).",
        "",
        "| Method | seeds reaching | "
        + " | ".join(f"{COMPUTE_AXES[a].split(' (')[0]} / {ref}'s" for a in axes)
        + " |",
        "|---|---:|" + "---:|" * len(axes),
    ]
    for label in dict.fromkeys(r.label for r in reach):
        cells = []
        for a in axes:
            r = by[(label, a)]
            cells.append(with_interval(r.interval) if r.interval else _reaching_seeds(r))
        r0 = by[(label, axes[0])]
        lines.append(f"| {names[label]} | {r0.reached} of {len(r0.seeds)} | " + " | ".join(cells) + " |")
    return lines


def _reaching_seeds(r: ReachCost) -> str:
    """'—' when no seed reaches the target, else 'seed: fraction' for each seed that does."""
    reached = [
        f"{seed}: {number(cost)}" for seed, cost in zip(r.seeds, r.costs, strict=True) if cost is not None
    ]
    return ", ".join(reached) if reached else "—"


def _pairwise(comparisons: Sequence[PairwiseComparison], names: dict[str, str]) -> list[str]:
    """The hypervolume's P(row better than column) as a matrix (every metric's differences: pairwise.csv)."""
    hv = {(c.a, c.b): c for c in comparisons if c.metric == "hypervolume"}
    if not hv:
        return []
    labels = list(dict.fromkeys(label for pair in hv for label in pair))
    lines = [
        "",
        "**Pairwise, hypervolume** (Agarwal et al., 2021): P(row better than column) over seeds with its interval; a "
        "difference is supported only when that interval excludes 0.5 (marked ✓). The differences of means, and the "
        "same for expected utility, IGD and maximum utility loss, are in pairwise.csv.",
        "",
        "| P(row > column) | " + " | ".join(names[b] for b in labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for a in labels:
        cells = [_cell(hv[(a, b)]) if (a, b) in hv else _cell(hv[(b, a)], mirrored=True) if (b, a) in hv else "—"
                 for b in labels]  # fmt: skip
        lines.append(f"| {names[a]} | " + " | ".join(cells) + " |")
    return lines


def _cell(c: PairwiseComparison, mirrored: bool = False) -> str:
    """P(a better than b) with its interval and ✓ when supported; `mirrored`: P(b better than a) = 1 - P(a better
    than b) (ties count one half), its interval mirrored (the same bootstrap resamples)."""
    p = c.probability_of_improvement
    if mirrored:
        flip = lambda x: None if x is None else 1 - x  # noqa: E731
        p = dataclasses.replace(p, mean=1 - p.mean, low=flip(p.high), high=flip(p.low))
    return with_interval(p) + (" ✓" if c.decided else "")


def _sentences(
    s: MethodSummary,
    ratios: dict[str, LinearRatio],
    comparisons: Sequence[PairwiseComparison],
    names: dict[str, str],
) -> str:
    iv = s.intervals
    seeds = f"{s.n_seeds} seed" + ("s" if s.n_seeds != 1 else "")
    first = f"**{names[s.label]}** ({seeds}) reaches hypervolume {with_interval(iv['hypervolume'])}"
    if "hypervolume_relative" in iv:
        first += f", {number(iv['hypervolume_relative'].mean)} of the reference set's"
    first += f", with {number(iv['cardinality'].mean)} non-dominated points per seed"
    if "igd" in iv:
        first += f" and IGD {with_interval(iv['igd'])} to the reference set"
    first += "."
    second = (
        f"It used {number(iv['policy_updates'].mean)} policy updates and {number(iv['total_tokens'].mean)} "
        "tokens per seed"
    )
    r = ratios.get(s.label)
    if r is not None and r.label != r.reference:
        second += f", {with_interval(r.hypervolume)} times the hypervolume of the {names[r.reference]} grid"
        if r.total_tokens is not None:
            second += f" at {number(r.total_tokens.mean)} times its tokens"
    mine = [c for c in comparisons if c.metric == "hypervolume" and s.label in (c.a, c.b)]
    supported = [c for c in mine if c.decided]
    if mine:
        if supported:
            parts = []
            for c in supported:
                p = c.probability_of_improvement
                better = (p.mean > 0.5) == (c.a == s.label)
                other = names[c.b if c.a == s.label else c.a]
                parts.append(f"{'above' if better else 'below'} {other}")
            second += (
                "; its hypervolume is "
                + ", ".join(parts)
                + " with an interval of P(improvement) excluding 0.5"
            )
        else:
            second += "; no hypervolume difference to another method is supported by the seeds"
    return first + " " + second + "."


def summary_markdown(
    front: Front,
    summaries: Sequence[MethodSummary],
    comparisons: Sequence[PairwiseComparison],
    ratios: Sequence[LinearRatio],
    bound: TrueFrontBound | None,
    n_reference: int,
    eu_description: str,
    n_resamples: int,
    reach: Sequence[ReachCost] = (),
) -> str:
    """The whole ``summary.md`` text."""
    names = {s.label: _name(s) for s in summaries}
    confidence = summaries[0].intervals["hypervolume"].confidence
    by_label = {r.label: r for r in ratios}
    lines = [
        "## Pareto-front comparison",
        "",
        *_table(summaries),
        "",
        _setting(front, n_reference, eu_description, confidence, n_resamples),
        *_truth(bound),
        *_linear(ratios, names),
        *_reach(reach, names),
        *_pairwise(comparisons, names),
        "",
        *[_sentences(s, by_label, comparisons, names) + "\n" for s in summaries],
    ]
    return "\n".join(lines).rstrip() + "\n"
