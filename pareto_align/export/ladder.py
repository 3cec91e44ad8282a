"""The budget ladder of `pareto-align compare` (`budget: {fill: true, policy_updates: [110, 440, 880]}`): each
method's final hypervolume against the policy updates per seed it was given, with its interval over seeds, and the
budgets between which the ranking changes.

Read from the comparison's per-run results (`MethodUse`, compare_summary.json's `methods`): a run labelled
`<label>@<budget>` holds, per seed, the hypervolume of that seed's non-dominated points with the fronts' reference
point. The interval is the percentile bootstrap of the mean over seeds (`bootstrap.py`), none with one seed. The
ranking at a budget orders the methods by mean hypervolume, best first; the sentence names every pair of adjacent
budgets where it differs, and which method passed which (the table's intervals say whether that is beyond the
spread of the seeds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import plotly.graph_objects as go

from pareto_align.atomic import private_files, write_text_atomic
from pareto_align.export.bootstrap import Interval, bootstrap_ci
from pareto_align.export.markdown import number, with_interval
from pareto_align.export.render import IMAGE_FORMATS, write_figures
from pareto_align.export.style import FIGURE_HEIGHT, FIGURE_WIDTH, apply_style, display_name, method_styles
from pareto_align.export.tables import csv_text

__all__ = ["LADDER_COLUMNS", "LadderEntry", "ladder_entries", "ladder_figure", "ladder_markdown", "ladder_records",
           "ranking_sentence", "rankings", "write_ladder"]  # fmt: skip


class RunResult(Protocol):
    """What the ladder reads of a comparison's run (`pareto_align.comparison.MethodUse`)."""

    label: str
    method: str
    hypervolume: list[float]
    policy_updates: list[int]
    budget: dict[str, int | None]
    fill: str | None


@dataclass(frozen=True)
class LadderEntry:
    """One method at one budget: the policy updates each seed used and the mean final hypervolume over seeds."""

    label: str  # the method's label, without `@<budget>`
    method: str
    budget: int  # policy updates per seed it was given
    policy_updates: list[int]  # used, per seed
    hypervolume: Interval
    fill: str | None = None


def ladder_entries(results: Sequence[RunResult]) -> list[LadderEntry]:
    """An entry per run that has a policy-update budget and at least one seed, in the runs' order."""
    entries = []
    for r in results:
        budget = r.budget.get("policy_updates")
        if budget is None or not r.hypervolume:
            continue
        entries.append(LadderEntry(r.label.partition("@")[0], r.method, int(budget), list(r.policy_updates),
                                   bootstrap_ci(r.hypervolume), r.fill))  # fmt: skip
    return entries


def _budgets(entries: Sequence[LadderEntry]) -> list[int]:
    return sorted({e.budget for e in entries})


def _labels(entries: Sequence[LadderEntry]) -> list[str]:
    return list(dict.fromkeys(e.label for e in entries))


def rankings(entries: Sequence[LadderEntry]) -> dict[int, list[str]]:
    """Budget -> method labels by mean final hypervolume, best first (ties keep the config's order)."""
    return {b: [e.label for e in sorted((e for e in entries if e.budget == b), key=lambda e: -e.hypervolume.mean)]
            for b in _budgets(entries)}  # fmt: skip


def _ranked(labels: Sequence[str], names: dict[str, str]) -> str:
    return " > ".join(names[label] for label in labels)


def ranking_sentence(entries: Sequence[LadderEntry]) -> str:
    """Where the ranking by mean final hypervolume changes along the ladder, in one sentence."""
    ranks = rankings(entries)
    names = {e.label: display_name(e.label, e.method) for e in entries}
    budgets = list(ranks)
    if len(budgets) < 2:
        return (
            f"One budget ({', '.join(map(str, budgets))} policy updates per seed): no ladder to rank along."
        )
    changes = []
    for low, high in zip(budgets, budgets[1:], strict=False):
        before, after = ranks[low], ranks[high]
        if before == after:
            continue
        passed = [f"{names[a]} passes {names[b]}" for a in after for b in after
                  if a in before and b in before and after.index(a) < after.index(b)
                  and before.index(a) > before.index(b)]  # fmt: skip
        what = "; ".join(passed) if passed else "methods enter or leave"
        changes.append(f"between {low} and {high} ({what}: {_ranked(before, names)} at {low}, "
                       f"{_ranked(after, names)} at {high})")  # fmt: skip
    if not changes:
        return (f"The ranking by mean final hypervolume is the same at every budget ({', '.join(map(str, budgets))} "
                f"policy updates per seed): {_ranked(ranks[budgets[0]], names)}.")  # fmt: skip
    return (
        "The ranking by mean final hypervolume changes "
        + ", and ".join(changes)
        + " policy updates per seed."
    )


LADDER_COLUMNS = ["label", "method", "budget", "seeds", "policy_updates_max", "hypervolume", "hypervolume_low",
                  "hypervolume_high", "rank", "fill"]  # fmt: skip


def ladder_records(entries: Sequence[LadderEntry]) -> list[dict[str, Any]]:
    """Rows of ladder.csv / ladder.json: one per (method, budget), by method then budget; rank 1 is the best mean
    at that budget."""
    ranks = rankings(entries)
    order = {label: i for i, label in enumerate(_labels(entries))}
    rows = []
    for e in sorted(entries, key=lambda e: (order[e.label], e.budget)):
        iv = e.hypervolume
        rows.append({"label": e.label, "method": e.method, "budget": e.budget, "seeds": iv.n,
                     "policy_updates_max": max(e.policy_updates) if e.policy_updates else None,
                     "hypervolume": iv.mean, "hypervolume_low": iv.low, "hypervolume_high": iv.high,
                     "rank": ranks[e.budget].index(e.label) + 1, "fill": e.fill})  # fmt: skip
    return rows


def ladder_markdown(entries: Sequence[LadderEntry]) -> str:
    """ladder.md: the table of final hypervolume (mean [interval]) per method and budget, the ranking sentence, and
    what budget.fill changed in each method at each budget."""
    budgets, labels = _budgets(entries), _labels(entries)
    cell = {(e.label, e.budget): e for e in entries}
    names = {e.label: display_name(e.label, e.method) for e in entries}
    confidence = next((e.hypervolume.confidence for e in entries), 0.95)
    lines = ["# Final hypervolume against budget", "",
             f"Per method, the mean over seeds of each seed's final hypervolume, with its {confidence:.0%} percentile "
             "bootstrap interval over seeds (none with one seed), at each budget of policy updates per seed "
             "(`budget.fill`: every method scaled to spend it).", "",
             "| Method | " + " | ".join(f"{b} updates" for b in budgets) + " |",
             "|---|" + "---:|" * len(budgets)]  # fmt: skip
    for label in labels:
        cells = [
            with_interval(cell[(label, b)].hypervolume) if (label, b) in cell else "n/a" for b in budgets
        ]
        lines.append(f"| {names[label]} | " + " | ".join(cells) + " |")
    lines += ["", ranking_sentence(entries), "", "## What each method was given", ""]
    for e in sorted(entries, key=lambda e: (labels.index(e.label), e.budget)):
        used = f"; used {number(max(e.policy_updates))} per seed at most" if e.policy_updates else ""
        lines.append(f"- {names[e.label]} at {e.budget}: {e.fill or 'not scaled'}{used}")
    return "\n".join(lines) + "\n"


def ladder_figure(entries: Sequence[LadderEntry]) -> go.Figure:
    """Final hypervolume (mean over seeds, bootstrap interval as error bars) against the budget of policy updates
    per seed, one line per method, on a log axis (ladders double or quadruple)."""
    labels = _labels(entries)
    methods = {e.label: e.method for e in entries}
    styles = method_styles(labels, methods)
    fig = go.Figure()
    for label in labels:
        mine = sorted((e for e in entries if e.label == label), key=lambda e: e.budget)
        color, symbol = styles[label]
        mean = [e.hypervolume.mean for e in mine]
        up = [e.hypervolume.high - e.hypervolume.mean if e.hypervolume.has_interval else 0.0 for e in mine]  # type: ignore[operator]
        down = [e.hypervolume.mean - e.hypervolume.low if e.hypervolume.has_interval else 0.0 for e in mine]  # type: ignore[operator]
        fig.add_trace(go.Scatter(x=[e.budget for e in mine], y=mean, mode="lines+markers", name=display_name(label, methods[label]),
                                 line=dict(color=color, width=1.6), marker=dict(symbol=symbol, size=7, color=color),
                                 error_y=dict(type="data", symmetric=False, array=up, arrayminus=down, color=color,
                                              thickness=1, width=3)))  # fmt: skip
    apply_style(fig, width=FIGURE_WIDTH + 80, height=FIGURE_HEIGHT)
    budgets = _budgets(entries)
    fig.update_xaxes(type="log", tickvals=budgets, ticktext=[str(b) for b in budgets],
                     title_text="policy updates per seed (budget)")  # fmt: skip
    fig.update_yaxes(title_text="final hypervolume")
    return fig


LADDER_SCHEMA = "pareto_align.export.ladder/v1"


def write_ladder(results: Sequence[RunResult], to: Path, formats: Sequence[str] | None = None) -> list[Path]:
    """ladder.csv, ladder.json, ladder.md and the figure (ladder.<image format>) into `to`, each as `formats`
    (those of `export_runs`, None = all) asks; atomic writes. Returns the paths written."""
    from pareto_align.export.exporter import _check_formats

    fmts = _check_formats(formats)
    entries = ladder_entries(results)
    texts: dict[str, str] = {}
    if "csv" in fmts:
        texts["ladder.csv"] = csv_text(ladder_records(entries), LADDER_COLUMNS)
    if "json" in fmts:
        payload = {"schema": LADDER_SCHEMA, "ranking": ranking_sentence(entries),
                   "rankings": {str(b): r for b, r in rankings(entries).items()}, "rows": ladder_records(entries)}  # fmt: skip
        texts["ladder.json"] = json.dumps(payload, indent=2) + "\n"
    if "md" in fmts:
        texts["ladder.md"] = ladder_markdown(entries)
    with private_files():
        to.mkdir(parents=True, exist_ok=True)
    written = [write_text_atomic(to / name, text) for name, text in texts.items()]
    images = [f for f in fmts if f in IMAGE_FORMATS]
    if images and entries:
        written += write_figures({"ladder": ladder_figure(entries)}, to, images)
    return written
