"""Load the runs being compared, check they share one objective space, and group points by method and seed.

One run dir holds one ``front.json`` that may mix methods and seeds. Statistics are per (method, seed) group:
pooling points of different seeds into one front would report the luck of the best seed, not the method.

Method labels: a method keeps its name, merged across runs (run_a with seed 0, run_b with seed 1 -> one method
with two seeds). If the same (method, seed) pair occurs in two runs, the runs are different variants of that
method (say, two learning rates): every group of that method is then labelled ``"method (run name)"``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pareto_align.export.style import run_labels
from pareto_align.front.schema import FRONT_FILENAME, Compute, Front, Point, read_front

COMPARISON_RECORD = (
    "compare.yaml"  # a comparison folder's record (pareto_align.comparison.runner.COMPARISON_FILE)
)


class ExportError(ValueError):
    """Bad input for export (incompatible runs, refused overwrite, missing browser). One clear message."""


@dataclass(frozen=True)
class Run:
    """One front to compare: ``name`` (unique among the runs), its ``front`` and the file it came from."""

    name: str
    front: Front
    path: Path | None = None

    @property
    def source(self) -> str:
        """What to name in messages: the file path, or the run name for in-memory fronts."""
        return str(self.path) if self.path is not None else f"front {self.name!r}"


@dataclass(frozen=True)
class SeedGroup:
    """The points of one method and one seed in one run: the unit over which indicators are computed."""

    label: str
    method: str
    seed: int
    run: str
    points: tuple[Point, ...]
    # work these points used without paying for it themselves (a soup's specialists), each piece once
    shared: tuple[Compute, ...] = ()

    def compute(self) -> Compute:
        """The group's cost: its points' own compute plus the shared work they used, each once."""
        total = Compute()
        for c in [*(p.compute for p in self.points), *self.shared]:
            total = total + c
        return total

    @property
    def F(self) -> np.ndarray:
        """Objective values, shape (n_points, K), maximize convention."""
        return np.array([p.values for p in self.points], dtype=float)


def expand_run_dirs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Run dirs and front files as given, with each *comparison folder* (a folder without ``front.json`` whose
    subfolders hold one, as ``pareto-align compare`` writes) replaced by those subfolders: the methods its
    ``compare.yaml`` lists, in its order, when it has one, else every such subfolder in name order.
    Raises ExportError for a folder with neither."""
    out: list[Path] = []
    for d in map(Path, paths):
        if not d.is_dir() or (d / FRONT_FILENAME).exists():
            out.append(d)
            continue
        subdirs = sorted(p for p in d.iterdir() if p.is_dir() and (p / FRONT_FILENAME).is_file())
        listed = _compared_labels(d)
        if listed is not None:
            subdirs = [d / label for label in listed if d / label in subdirs]
        if not subdirs:
            raise ExportError(
                f"{d}: no {FRONT_FILENAME} in this folder nor in any of its subfolders "
                "(give run directories, or a comparison folder whose subfolders are run directories)"
            )
        out.extend(subdirs)
    return out


def _compared_labels(folder: Path) -> list[str] | None:
    """The method labels a comparison folder's record lists, in order; None without a (readable) record."""
    try:
        record = yaml.safe_load((folder / COMPARISON_RECORD).read_text())
        return [str(m["label"]) for m in record["methods"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def load_runs(run_dirs: Sequence[str | os.PathLike[str]], scoring: str = "evaluation") -> list[Run]:
    """Read each run dir's ``front.json`` (or a front file given directly; a comparison folder stands for its
    run subfolders, see :func:`expand_run_dirs`) and check compatibility. ``scoring``: the fronts as their
    evaluation scorer scores them, or as the held-out ``judges`` do (``Front.scored_by``)."""
    if not run_dirs:
        raise ExportError("no run directories given")
    files = [d / FRONT_FILENAME if d.is_dir() else d for d in expand_run_dirs(run_dirs)]
    seen: dict[Path, int] = {}
    for i, f in enumerate(files):
        key = f.resolve()
        if key in seen:
            raise ExportError(f"{f}: given twice (arguments {seen[key] + 1} and {i + 1})")
        seen[key] = i
    fronts = [read_front(f) for f in files]
    if scoring != "evaluation":
        unjudged = [str(f) for f, front in zip(files, fronts, strict=True) if not front.judged]
        if unjudged:
            raise ExportError(f"{unjudged[0]}: not scored by held-out judges (evaluation.judges); export it with "
                              "--scoring evaluation")  # fmt: skip
        fronts = [front.scored_by(scoring) for front in fronts]
    runs = [
        Run(name, front, f)
        for name, front, f in zip(run_labels([f.parent for f in files]), fronts, files, strict=True)
    ]
    check_compatible(runs)
    return runs


def as_runs(fronts: Front | Mapping[str, Front]) -> list[Run]:
    """In-memory fronts as runs: a single Front, or a mapping run name -> Front."""
    if isinstance(fronts, Front):
        runs = [Run("", fronts)]
    else:
        if not fronts:
            raise ExportError("no fronts given")
        runs = [Run(str(name), front) for name, front in fronts.items()]
    check_compatible(runs)
    return runs


def check_compatible(runs: Sequence[Run]) -> None:
    """Runs compared in one table must share objectives (names, directions, order), reference point and
    normalization; otherwise their hypervolumes are not comparable. Raises ExportError naming both files."""
    first = runs[0]
    for other in runs[1:]:
        for field, a, b in (
            (
                "objectives",
                [o.model_dump() for o in first.front.objectives],
                [o.model_dump() for o in other.front.objectives],
            ),
            ("reference_point", first.front.reference_point, other.front.reference_point),
            (
                "normalization",
                first.front.normalization.model_dump() if first.front.normalization else None,
                other.front.normalization.model_dump() if other.front.normalization else None,
            ),
        ):
            if a != b:
                raise ExportError(
                    f"{other.source}: {field} {b} differs from {first.source}: {a}; runs compared together "
                    "must share objectives, reference point and normalization"
                )


def seed_groups(runs: Sequence[Run]) -> list[SeedGroup]:
    """Points grouped by (method label, seed), in order of first appearance. Baselines are never grouped."""
    buckets: dict[tuple[str, int, str], list[Point]] = defaultdict(list)
    for run in runs:
        for p in run.front.points:
            buckets[(p.method, p.seed, run.name)].append(p)
    runs_of: dict[tuple[str, int], set[str]] = defaultdict(set)
    for method, seed, run_name in buckets:
        runs_of[(method, seed)].add(run_name)
    split = {method for (method, _), names in runs_of.items() if len(names) > 1}
    groups = []
    shared_of = {run.name: run.front.compute.shared if run.front.compute else {} for run in runs}
    for (method, seed, run_name), points in buckets.items():
        label = f"{method} ({run_name})" if method in split else method
        used = dict.fromkeys(s for p in points for s in p.compute.shared)
        shared = tuple(shared_of[run_name][s] for s in used if s in shared_of[run_name])
        groups.append(SeedGroup(label, method, seed, run_name, tuple(points), shared))
    return groups


def labels_in_order(groups: Sequence[SeedGroup]) -> list[str]:
    """Distinct method labels in order of first appearance."""
    return list(dict.fromkeys(g.label for g in groups))
