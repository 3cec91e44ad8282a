"""Loading the run directories the explorer was given, with every failure captured as a message.

A run that cannot be read (missing, truncated or unknown-version front file, a path that is not a directory)
becomes a :class:`LoadedRun` with ``error`` set instead of an exception, so the page can say what is wrong with
that run and keep showing the others. Only ``run_dir/front.json`` is read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pareto_align.export.style import run_labels
from pareto_align.front.schema import FRONT_FILENAME, Front, FrontFileError, read_front


@dataclass
class LoadedRun:
    """One run directory: its front, or the reason it has none. ``notices`` are non-fatal remarks."""

    run_dir: Path
    label: str
    front: Front | None = None
    error: str | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the front was read and has at least one point or baseline to show."""
        return self.front is not None and bool(self.front.points or self.front.baselines)

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(self.front.objective_names) if self.front is not None else ()


def load_run(run_dir: Path, label: str | None = None) -> LoadedRun:
    """Read ``run_dir/front.json``; never raises for a bad run, the reason is in ``error``."""
    run_dir = Path(run_dir)
    label = label or run_dir.name or str(run_dir)
    if not run_dir.exists():
        return LoadedRun(run_dir, label, error=f"{run_dir}: run directory does not exist")
    if not run_dir.is_dir():
        return LoadedRun(run_dir, label, error=f"{run_dir}: not a directory (give the run directory)")
    file = run_dir / FRONT_FILENAME
    if not file.exists():
        return LoadedRun(
            run_dir, label, error=f"{file}: file not found (empty run: no front has been written yet)"
        )
    try:
        front = read_front(file)
    except FrontFileError as e:
        return LoadedRun(run_dir, label, error=str(e))
    run = LoadedRun(run_dir, label, front=front)
    if not front.points and not front.baselines:
        run.notices.append(f"{file}: the front has no evaluated points yet")
    elif not front.points:
        run.notices.append(f"{file}: the front has baselines only, no evaluated points yet")
    return run


def load_runs(run_dirs: Sequence[Path]) -> list[LoadedRun]:
    """Load every run dir in order, with unique labels (see :func:`run_labels`)."""
    return [load_run(Path(d), lab) for d, lab in zip(run_dirs, run_labels(run_dirs), strict=True)]


def compatible_runs(runs: Sequence[LoadedRun], objectives: tuple[str, ...] | None = None) -> list[LoadedRun]:
    """The runs with something to show whose objectives (names, in order) equal ``objectives``.

    ``objectives`` defaults to those of the first showable run, so a list of runs of one sweep is kept whole.
    """
    showable = [r for r in runs if r.ok]
    if not showable:
        return []
    target = objectives if objectives is not None else showable[0].objective_names
    return [r for r in showable if r.objective_names == target]


def objective_groups(runs: Sequence[LoadedRun]) -> dict[tuple[str, ...], list[str]]:
    """Showable runs grouped by their objective names: {objective names: [run labels]}, first-seen order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for r in runs:
        if r.ok:
            groups.setdefault(r.objective_names, []).append(r.label)
    return groups


def scored_by(runs: Sequence[LoadedRun], scoring: str) -> list[LoadedRun]:
    """The runs with their fronts as `scoring` scores them (`Front.scored_by`: the evaluation scorer, or the
    held-out judges); a run without judges' scores is left out of a `judges` view, with a notice."""
    if scoring == "evaluation":
        return list(runs)
    out = []
    for run in runs:
        if run.front is not None and run.front.judged:
            out.append(replace(run, front=run.front.scored_by(scoring)))
    return out


def any_judged(runs: Sequence[LoadedRun]) -> bool:
    """Whether some run's front was also scored by held-out judges (`evaluation.judges`)."""
    return any(r.front is not None and r.front.judged for r in runs)
