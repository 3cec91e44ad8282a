"""`pareto-align`: sweep, compare, explore, export. User mistakes exit non-zero with one line naming file and field."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

# piped output (CI logs, files) gets a table as wide as a terminal's would be, not rich's 80-column default
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _user_errors() -> tuple[type[BaseException], ...]:
    from pareto_align.config import ConfigError
    from pareto_align.data.formats import DataError
    from pareto_align.export import ExportError
    from pareto_align.front import FrontFileError
    from pareto_align.models.policy import PolicyLoadError

    return ConfigError, DataError, ExportError, FrontFileError, PolicyLoadError


def _log(line: str) -> None:
    """A sweep's progress line, never wrapped: one message is one line (paths stay whole for copying)."""
    console.print(line, soft_wrap=True)


def _print_summary(tracker, run_dir: Path, seconds: float) -> None:
    from pareto_align.export.style import objective_title
    from pareto_align.front import hypervolume

    front = tracker.front()
    table = Table(title=f"Pareto front: {run_dir}")
    titles = [objective_title(o.name, o.direction) for o in front.objectives]  # values are maximized
    for col in ["point", "weights", "trained on", *titles, "non-dominated"]:
        table.add_column(col, justify="right" if col in titles else "left", no_wrap=True)
    for b in front.baselines:
        cells = [f"{v:.2f}±{s:.2f}" for v, s in zip(b.values, b.stderr, strict=True)]
        table.add_row(b.id, "", "", *cells, "(baseline)", style="dim")
    rows = {r["id"]: r for r in tracker.summary_rows()}
    for p in front.points:
        cells = [f"{v:.2f}±{s:.2f}" for v, s in zip(p.values, p.stderr, strict=True)]
        if p.weights is None and p.direction is not None:  # a direction off the simplex (DPA's cone)
            w = "v(" + ", ".join(f"{x:.2g}" for x in p.direction) + ")"
        elif p.weights is None:  # no fixed weights (C-MORL's constrained extensions)
            w = ""
        else:
            w = "(" + ", ".join(f"{x:.2g}" for x in p.weights) + ")"
        nd = "yes" if rows[p.id]["non_dominated"] else ""
        table.add_row(p.id, w, str(p.metadata.get("trained_objective", "")), *cells, nd)
    console.print(table)
    m = front.metrics
    if m is not None:
        base_hv = (
            hypervolume(front.F("baselines"), front.reference_point, front.normalization)
            if front.baselines
            else 0.0
        )
        norm = "normalized" if m.normalized else "raw objectives"
        console.print(
            f"points: {m.n_points}   non-dominated: {len(m.non_dominated_ids)}   "
            f"hypervolume: {m.hypervolume:.4g} (base policy alone: {base_hv:.4g})   "
            f"reference point: {front.reference_point} ({norm})   expected utility: {m.expected_utility:.4g}"
        )
    console.print(f"wrote {run_dir / 'front.json'} in {seconds:.0f}s")


FRONT_IMAGE: str | None = "png"  # the static figure a sweep writes beside front.html (None: none)


def _write_front_outputs(run_dir: Path) -> None:
    """front.csv and the figure of the front (HTML always; PNG when a browser for kaleido is installed)."""
    from rich.markup import escape

    from pareto_align.atomic import write_text_atomic
    from pareto_align.export import ExportError, front_figure, write_figures, write_points_csv
    from pareto_align.front import read_front

    front = read_front(run_dir)
    write_points_csv(front, run_dir / "front.csv")
    figure = front_figure(front)
    write_text_atomic(run_dir / "front.html", figure.to_html(include_plotlyjs="cdn"))
    if FRONT_IMAGE is None:
        return
    static = front_figure(front, static=True)
    try:
        write_figures({"front": static}, run_dir, formats=(FRONT_IMAGE,))
    except Exception as err:  # a convenience: a rendering failure is a warning, never the sweep's failure
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not isinstance(err, ExportError):
            reason = f"{type(err).__name__}: {reason}"
        console.print(f"[yellow]warning: front.png skipped: {escape(reason)}[/yellow]", soft_wrap=True)


def _apply_launcher_options(config, args: argparse.Namespace) -> None:
    """--launcher and --address override the config's `launcher` section."""
    from pareto_align.config import ConfigError

    update = {}
    if args.launcher is not None:
        update["kind"] = args.launcher
    if args.address is not None:
        update["address"] = args.address
    config.launcher = config.launcher.model_copy(update=update)
    if config.launcher.address is not None and config.launcher.kind != "ray":
        raise ConfigError(f"{args.config}: launcher.address: only the ray launcher takes an address "
                          "(add --launcher ray)")  # fmt: skip


def cmd_sweep(args: argparse.Namespace) -> int:
    from pareto_align.config import load_config
    from pareto_align.sweep import JobsFailed, run_sweep

    config = load_config(args.config)
    _apply_launcher_options(config, args)
    run_dir = Path(args.output_dir or config.output_dir or Path("runs") / config.name)
    start = time.perf_counter()
    try:
        tracker = run_sweep(config, run_dir, config_path=Path(args.config), progress=not args.no_progress,
                            log=_log)  # fmt: skip
    except KeyboardInterrupt:
        console.print(
            f"[yellow]interrupted: finished points are kept in {run_dir}; re-run the same command to resume"
        )
        return 130
    except JobsFailed as err:  # the other jobs' points are in front.json; show them, then the failures
        if err.tracker.points:
            _write_front_outputs(run_dir)
            _print_summary(err.tracker, run_dir, time.perf_counter() - start)
        for job, error in err.failures.items():
            print(f"error: job {job} failed: {error}", file=sys.stderr)
        print(f"error: {err}", file=sys.stderr)
        return 1
    from pareto_align import ranks

    if not ranks.is_main():  # under a launcher: the main process wrote the front and reports it
        return 0
    _write_front_outputs(run_dir)
    _print_summary(tracker, run_dir, time.perf_counter() - start)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pareto_align.comparison import load_comparison, run_comparison
    from pareto_align.sweep import JobsFailed

    comparison = load_comparison(args.config, fill=args.fill)
    for run in comparison.runs:
        _apply_launcher_options(run.config, args)
    # at another budget, a folder of its own by default (the config's would refuse another budget)
    default = (
        comparison.name if args.fill is None else f"{comparison.name}-fill{'-'.join(map(str, args.fill))}"
    )
    out_dir = Path(
        args.output_dir or (comparison.output_dir if args.fill is None else None) or Path("runs") / default
    )
    formats = args.formats.split(",") if args.formats else None
    start = time.perf_counter()
    try:
        uses = run_comparison(comparison, out_dir, progress=not args.no_progress, log=_log,
                              on_method_done=lambda label, run_dir: _write_front_outputs(run_dir),
                              formats=formats)  # fmt: skip
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: finished methods and points are kept in {out_dir}; re-run the same "
                      "command to resume")  # fmt: skip
        return 130
    except JobsFailed as err:  # finished methods and points are kept; the failed method's jobs are listed
        for job, error in err.failures.items():
            print(f"error: job {job} failed: {error}", file=sys.stderr)
        print(f"error: {err}", file=sys.stderr)
        return 1
    _print_comparison(uses, out_dir, time.perf_counter() - start)
    return 0


def _print_comparison(uses, out_dir: Path, seconds: float) -> None:
    """One row per method: points, hypervolume (mean over seeds), compute per seed (largest) against the budget."""
    table = Table(title=f"Comparison: {out_dir}")
    for col in [
        "method",
        "trainer",
        "seeds",
        "points",
        "hypervolume",
        "policy updates / seed",
        "generated tokens / seed",
    ]:
        table.add_column(col, justify="left" if col in ("method", "trainer") else "right", no_wrap=True)

    def used(u, name: str, values: list[int]) -> str:
        limit = u.budget[name]
        text = f"{max(values):,}" + (f" / {limit:,}" if limit is not None else "")
        return f"[red]{text} over[/red]" if name in u.over else text

    for u in uses:
        planned = f" (planned {u.planned_policy_updates:,})" if u.planned_policy_updates is not None else ""
        table.add_row(u.label, u.method, str(len(u.seeds)), str(u.n_points), f"{u.mean_hypervolume:.4g}",
                      used(u, "policy_updates", u.policy_updates) + planned,
                      used(u, "generated_tokens", u.generated_tokens))  # fmt: skip
    console.print(table)
    for u in uses:  # budget.fill: what each method changed to spend the budget
        if u.fill is not None:
            console.print(f"{u.label}: {u.fill}", highlight=False)
    over = [u.label for u in uses if u.over]
    if over:
        console.print(f"[red]over budget: {', '.join(over)} (see {out_dir / 'compare_summary.json'})[/red]")
    console.print(f"report in {out_dir / 'report'}; explore with: pareto-align explore "
                  + " ".join(str(out_dir / u.label) for u in uses))  # fmt: skip
    console.print(f"done in {seconds:.0f}s")


def cmd_explore(args: argparse.Namespace) -> int:
    from pareto_align.explorer.launcher import launch

    return launch([Path(p) for p in args.run_dirs], args.streamlit_args)


def cmd_export(args: argparse.Namespace) -> int:
    from pareto_align.export import export_runs

    formats = args.formats.split(",") if args.formats else None
    written = export_runs(args.run_dirs, args.to, formats, force=args.force, scoring=args.scoring)
    for path in written:
        console.print(str(path))
    return 0


def _budgets(text: str) -> list[int]:
    """--fill's value: '880' or an increasing ladder '110,440,880'."""
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of policy updates (e.g. 880 or 110,440,880)"
        ) from None
    if values[0] < 1 or any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise argparse.ArgumentTypeError(f"{text!r}: budgets are >= 1 and increasing (e.g. 110,440,880)")
    return values


def _launcher_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--launcher", choices=["local", "ray"],
                   help="where jobs run (default: the config's launcher.kind, else local)")  # fmt: skip
    p.add_argument(
        "--address", help="Ray cluster address for --launcher ray (default: $RAY_ADDRESS or a local one)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pareto-align", description="Multi-objective Pareto alignment of LMs."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sweep", help="train and evaluate one policy per weight vector; re-running resumes")
    p.add_argument("config", help="sweep YAML, e.g. experiments/quickstart.yaml")
    p.add_argument("--output-dir", help="run directory (default: the config's output_dir or runs/<name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _launcher_arguments(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "compare", help="run several methods on one shared setting, each a sweep; re-running resumes"
    )
    p.add_argument("config", help="comparison YAML, e.g. experiments/compare.yaml")
    p.add_argument(
        "--output-dir", help="comparison directory (default: the config's output_dir or runs/<name>)"
    )
    p.add_argument(
        "--formats", help="report formats: comma-separated subset of csv,json,tex,md,bib,pdf,svg,png"
    )
    p.add_argument("--fill", type=_budgets, metavar="N[,N...]",
                   help="equal compute: scale every method to N policy updates per seed (budget.fill; several, "
                        "increasing: a ladder), in place of the config's budget.policy_updates; default folder "
                        "runs/<name>-fill<N>")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _launcher_arguments(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("explore", help="open the Streamlit Pareto explorer on run directories")
    p.add_argument("run_dirs", nargs="+", help="run directories (each holds a front.json)")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER,
                   help="after --: options for `streamlit run`, e.g. -- --server.port 8600")  # fmt: skip
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("export", help="tables, figures, BibTeX and a manifest for papers")
    p.add_argument("run_dirs", nargs="+",
                   help="run directories to compare, or a comparison folder whose subfolders are run directories")  # fmt: skip
    p.add_argument("--to", required=True, help="output folder")
    p.add_argument("--formats", help="comma-separated subset of csv,json,tex,bib,pdf,svg,png (default: all)")
    p.add_argument(
        "--force", action="store_true", help="overwrite files that are not this exporter's own outputs"
    )
    p.add_argument("--scoring", choices=("evaluation", "judges"), default="evaluation",
                   help="the fronts as their evaluation scorer scored them, or as the held-out judges did")  # fmt: skip
    p.set_defaults(func=cmd_export)
    return parser


# Library warnings that say nothing to a user of this toolkit, each named by message and module. Everything else
# shows: a TRL or transformers deprecation that concerns this code must be seen (and fixed), not hidden.
KNOWN_HARMLESS_WARNINGS: list[tuple[str, type[Warning], str]] = [
    # TRL's configs default `gradient_checkpointing=True` (the name transformers 5 deprecates) and its trainers call
    # `is_gradient_checkpointing`: TRL's to rename, and said at every config a sweep builds.
    ("`gradient_checkpointing` is deprecated", FutureWarning, "transformers.training_args"),
    ("`is_gradient_checkpointing` is deprecated", FutureWarning, "transformers.modeling_utils"),
    # TRL's GRPO/RLOO generation switches checkpointing off and on around each generation with the old names
    ("`gradient_checkpointing_(enable|disable)` is deprecated", FutureWarning, "transformers.modeling_utils"),
]


def _silence_known_harmless_warnings() -> None:
    for message, category, module in KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `explore RUN... -- --server.port 8600`: everything after -- goes to streamlit
    streamlit_args: list[str] = []
    if argv[:1] == ["explore"] and "--" in argv:
        cut = argv.index("--")
        argv, streamlit_args = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    if args.command == "explore":
        args.streamlit_args = [*args.streamlit_args, *streamlit_args]
    if getattr(args, "no_progress", False):
        os.environ["TQDM_DISABLE"] = "1"
    _silence_known_harmless_warnings()
    from pareto_align.atomic import private_files

    try:
        with private_files():  # runs and exports: files 0600, folders 0700
            return args.func(args)
    except _user_errors() as err:
        for line in str(err).splitlines() or [""]:  # a comparison config reports every mistake, one line each
            print(f"error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
