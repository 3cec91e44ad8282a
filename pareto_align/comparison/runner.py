"""Run a comparison: each method as its own sweep in DIR/<label>/, the shared products built once, then the report.

    DIR/compare.yaml       the comparison config as last run (another budget, or a method folder of another config, is
                           refused; methods may be added, and changed until their sweep starts)
    DIR/.lock              held while the comparison runs
    DIR/shared/<key>/      reward model and reward differences, built once per setting key (see MethodRun)
    DIR/<label>/           a normal sweep run directory (config.yaml, front.json, ...): explore and export read it;
                           on a budget ladder one per budget, DIR/<label>@<budget>/
    DIR/report/            `export_runs` over the method folders; on a ladder one export per budget in
                           report/budget-<n>/, and report/ladder.{csv,json,md,<image>}: final hypervolume against
                           budget per method, and where the ranking changes (export/ladder.py)
    DIR/compare_summary.json   per method and seed: hypervolume and compute used against the budget, and what
                           budget.fill changed in the method

Methods run one after another, each resumed by its sweep's own resume, so re-running the command skips finished
methods and points.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from pareto_align.atomic import private_files, write_text_atomic
from pareto_align.comparison.budget import MethodUse, method_use
from pareto_align.comparison.config import Comparison, ComparisonConfigError
from pareto_align.config import HASH_VERSION
from pareto_align.errors import ConfigError
from pareto_align.export.runs import COMPARISON_RECORD
from pareto_align.sweep import check_resumable, run_lock, run_sweep

__all__ = ["COMPARISON_FILE", "REPORT_DIR", "SHARED_DIR", "SUMMARY_FILE", "run_comparison"]

COMPARISON_FILE = COMPARISON_RECORD  # the exporter reads its method order
SHARED_DIR = "shared"
REPORT_DIR = "report"
SUMMARY_FILE = "compare_summary.json"


def run_comparison(comparison: Comparison, out_dir: Path, progress: bool = True, log=print,
                   on_method_done: Callable[[str, Path], None] | None = None,
                   formats: Sequence[str] | None = None) -> list[MethodUse]:  # fmt: skip
    """Run (or resume) every method of `comparison` into `out_dir`, export the report (`formats`: those of
    `export_runs`, None = all) and return each method's use of the budget. `on_method_done(label, run_dir)` is
    called after each method's sweep (the CLI writes the front's csv and figures there)."""
    out_dir = Path(out_dir)
    with private_files():
        _check_directory(comparison, out_dir, log)
        out_dir.mkdir(parents=True, exist_ok=True)
        with run_lock(out_dir, Path(comparison.source)):
            _record(comparison, out_dir)
            n = len(comparison.runs)
            for i, run in enumerate(comparison.runs, start=1):
                run_dir = out_dir / run.label
                log(f"[{i}/{n}] {run.label} (method {run.config.method.name}) -> {run_dir}")
                start = time.perf_counter()
                run_sweep(run.config, run_dir, config_path=Path(comparison.source), progress=progress, log=log,
                          shared_dir=out_dir / SHARED_DIR / run.products_key())  # fmt: skip
                log(f"[{i}/{n}] {run.label}: done in {time.perf_counter() - start:.0f}s")
                if on_method_done is not None:
                    on_method_done(run.label, run_dir)
            uses = [method_use(r, out_dir / r.label, comparison.budget) for r in comparison.runs]
            summary = {"comparison_hash": comparison.comparison_hash(), "budget": comparison.budget.record(),
                       "methods": [dataclasses.asdict(u) for u in uses]}  # fmt: skip
            write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
            _report(comparison, uses, out_dir / REPORT_DIR, formats, log)
    return uses


def _report(comparison: Comparison, uses: list[MethodUse], report: Path, formats: Sequence[str] | None,
            log) -> None:  # fmt: skip
    """The export of the method folders; on a ladder one per budget, and the ladder's table and figure."""
    from pareto_align.export import ExportError, export_runs
    from pareto_align.export.ladder import write_ladder

    budget = comparison.budget
    try:
        for rung in budget.rungs():
            runs = [r for r in comparison.runs if r.budget == rung]
            to = report / f"budget-{rung}" if budget.ladder else report
            export_runs([report.parent / r.label for r in runs], to, formats,
                        policy_budget=rung if budget.fill else None)  # fmt: skip
        if budget.ladder:
            write_ladder(uses, report, formats)
        _judged_report(comparison, report, formats)
    except ExportError as err:
        # the fronts and the summary stand; `pareto-align export` can redo the report
        log(f"report not written: {err}")


def _judged_report(comparison: Comparison, report: Path, formats: Sequence[str] | None) -> None:
    """With held-out judges: the report again as they score the fronts (report/judges/), and how the methods'
    ranking changes between the evaluation scorer and the judges (report/judges/ranking.md)."""
    from pareto_align.export import export_runs
    from pareto_align.export.judged import rank_change_markdown, rank_changes
    from pareto_align.front.schema import read_front

    fronts = {r.label: read_front(report.parent / r.label) for r in comparison.runs}
    if not all(front.judged for front in fronts.values()):
        return
    export_runs([report.parent / label for label in fronts], report / "judges", formats, scoring="judges")
    judges = next(iter(fronts.values())).provenance.get("scorers", {}).get("judges", {})
    write_text_atomic(report / "judges" / "ranking.md", rank_change_markdown(rank_changes(fronts), judges))


def _check_directory(comparison: Comparison, out_dir: Path, log) -> None:
    """Refuse a folder that holds something other than this comparison (a sweep, other files), a comparison under
    another budget or hash version, or a method folder whose sweep was run with a different config. A method not yet
    started may be added or changed; one dropped from the config keeps its folder but leaves the report."""
    record = out_dir / COMPARISON_FILE
    where = f"{comparison.source}: {out_dir}"
    if not record.exists():
        if out_dir.exists() and any(p.name != ".lock" for p in out_dir.iterdir()):
            raise ConfigError(f"{where} exists and is not a comparison directory (no {COMPARISON_FILE}); "
                              "choose another --output-dir")  # fmt: skip
        return
    previous = yaml.safe_load(record.read_text()) or {}
    if previous.get("hash_version") != HASH_VERSION:
        raise ConfigError(f"{where} was made by an earlier pareto_align (config hash version "
                          f"{previous.get('hash_version')}); choose another --output-dir")  # fmt: skip
    budget = comparison.budget.record()
    if previous.get("budget") != budget:
        raise ConfigError(f"{where}: budget: {budget} is not the budget this comparison ran under "
                          f"({previous.get('budget')}); choose another --output-dir")  # fmt: skip
    errors = []
    for i, run in enumerate(comparison.runs):
        try:
            check_resumable(run.config, out_dir / run.label, Path(comparison.source))
        except ConfigError as err:
            errors.append(f"{err}, restore methods[{i}] ({run.label}) or give it another `label`")
    if errors:
        raise ComparisonConfigError(errors)
    labels = {r.label for r in comparison.runs}
    dropped = [m["label"] for m in previous.get("methods", []) if m["label"] not in labels]
    if dropped:
        log(f"not in this comparison any more (folders kept, left out of the report): {', '.join(dropped)}")


def _record(comparison: Comparison, out_dir: Path) -> None:
    """Record the comparison as it now runs (methods added or changed since are accepted by `_check_directory`)."""
    write_text_atomic(out_dir / COMPARISON_FILE, yaml.safe_dump(comparison.record(), sort_keys=False))
