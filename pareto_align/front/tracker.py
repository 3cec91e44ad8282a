"""The front tracker: what training and sweep code use to collect points and write ``front.json``."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import pareto_align
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.indicators import compute_metrics, hypervolume
from pareto_align.front.schema import (
    Compute,
    Front,
    HistoryEntry,
    Normalization,
    Objective,
    Point,
    RunCompute,
    point_dimension_errors,
    read_front,
    write_front,
)

# Libraries whose versions decide the numbers in a front file.
PROVENANCE_LIBRARIES = ("torch", "transformers", "trl", "peft", "pymoo", "moocore", "numpy")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def default_provenance() -> dict[str, Any]:
    """Creation time (UTC ISO 8601), pareto_align, Python and library versions."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pareto_align_version": pareto_align.__version__,
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in PROVENANCE_LIBRARIES},
    }


class FrontTracker:
    """Collects evaluated points, baselines and an indicator history; builds and saves a :class:`Front`.

    Points are keyed by id: adding a point with an existing id replaces it (re-evaluation after a resume)
    and keeps its position. Metrics are recomputed from the points each time :meth:`front` is called.
    """

    def __init__(
        self,
        objectives: list[Objective],
        reference_point: list[float] | np.ndarray,
        normalization: Normalization | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        # Validate objectives, reference point and normalization together through the file contract.
        empty = Front(
            objectives=list(objectives),
            reference_point=[float(v) for v in np.asarray(reference_point, dtype=float).ravel()],
            normalization=normalization,
        )
        self.objectives: list[Objective] = empty.objectives
        self.reference_point: list[float] = empty.reference_point
        self.normalization: Normalization | None = empty.normalization
        self.provenance: dict[str, Any] = dict(provenance or {})
        for key, value in default_provenance().items():
            self.provenance.setdefault(key, value)
        self._points: dict[str, Point] = {}
        self._baselines: dict[str, Point] = {}
        self.history: list[HistoryEntry] = []
        self.shared_compute: dict[str, Compute] = {}
        # observers told of each point added and history entry logged (e.g. `tracking.SweepLogger`)
        self.listeners: list[Any] = []

    @classmethod
    def from_front(cls, front: Front) -> FrontTracker:
        """A tracker holding everything in ``front`` (metrics are recomputed, not copied)."""
        tracker = cls(front.objectives, front.reference_point, front.normalization, dict(front.provenance))
        for p in front.points:
            tracker.add_point(p)
        for b in front.baselines:
            tracker.add_baseline(b)
        tracker.history = list(front.history)
        if front.compute is not None:
            tracker.shared_compute = dict(front.compute.shared)
        return tracker

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FrontTracker:
        """Read a front file (or run dir) with :func:`read_front` and continue tracking it."""
        return cls.from_front(read_front(path))

    @property
    def K(self) -> int:
        """Number of objectives."""
        return len(self.objectives)

    @property
    def point_ids(self) -> set[str]:
        """Ids of the tracked points (not baselines)."""
        return set(self._points)

    @property
    def points(self) -> list[Point]:
        return list(self._points.values())

    @property
    def baselines(self) -> list[Point]:
        return list(self._baselines.values())

    def _check(self, point: Point, group: str, other: dict[str, Point]) -> None:
        errors = point_dimension_errors(point, self.K, group)
        if point.id in other:
            errors.append(
                f"{group}: id {point.id!r} is already used by a {'baseline' if group == 'point' else 'point'}"
            )
        if errors:
            raise ValueError("; ".join(errors))

    def add_point(self, point: Point) -> None:
        """Add an evaluated point, replacing any point with the same id."""
        self._check(point, "point", self._baselines)
        self._points[point.id] = point
        for listener in self.listeners:
            listener.point_added(self, point)

    def add_shared_compute(self, work_id: str, compute: Compute) -> None:
        """Record work shared by several points (specialists, a conditioned model) once, under ``work_id``."""
        self.shared_compute[work_id] = compute

    def total_compute(self) -> Compute:
        """Every point's own compute plus each shared piece of work once."""
        total = Compute()
        for c in [*(p.compute for p in self._points.values()), *self.shared_compute.values()]:
            total = total + c
        return total.model_copy(update={"shared": []})  # shared work is inside the total

    def add_baseline(self, point: Point) -> None:
        """Add a reference policy's point (shown for comparison, never counted in metrics)."""
        self._check(point, "baseline", self._points)
        self._baselines[point.id] = point

    def F(self) -> np.ndarray:
        """Values of the tracked points: shape (n, K)."""
        if not self._points:
            return np.zeros((0, self.K))
        return np.array([p.values for p in self._points.values()], dtype=float)

    def hypervolume(self) -> float:
        """Current hypervolume of the points with the tracker's reference point and normalization."""
        return hypervolume(self.F(), self.reference_point, self.normalization)

    def log(self, step: int, **indicators: Any) -> HistoryEntry:
        """Append a history entry; ``hypervolume`` defaults to the current hypervolume of the points (pass
        ``hypervolume=None`` for an entry that is not about the front, such as the weights in use)."""
        if "hypervolume" not in indicators:
            indicators["hypervolume"] = self.hypervolume()
        entry = HistoryEntry(step=step, **indicators)
        self.history.append(entry)
        for listener in self.listeners:
            listener.history_logged(self, entry)
        return entry

    def drop_history(self, point_id: str) -> None:
        """Forget the history entries of ``point_id`` (a point trained again after an interrupted attempt)."""
        self.history = [h for h in self.history if h.point_id != point_id]

    def front(self) -> Front:
        """The tracked front as a validated :class:`Front`, metrics freshly computed (None without points)."""
        front = Front(
            objectives=self.objectives,
            reference_point=self.reference_point,
            normalization=self.normalization,
            points=self.points,
            baselines=self.baselines,
            history=list(self.history),
            compute=RunCompute(shared=dict(self.shared_compute), total=self.total_compute()),
            provenance=dict(self.provenance),
        )
        if front.points:
            front.metrics = compute_metrics(front)
        if front.judged:
            front.judged_metrics = compute_metrics(front.scored_by("judges"))
        return front

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the front atomically (a file path, or a run dir -> ``run_dir/front.json``)."""
        return write_front(self.front(), path)

    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per point (id, method, weights, values, stderr, non_dominated), for the CLI table."""
        mask = non_dominated_mask(self.F()) if self._points else np.zeros(0, dtype=bool)
        return [
            {
                "id": p.id,
                "method": p.method,
                "weights": p.weights,
                "values": list(p.values),
                "stderr": list(p.stderr),
                "non_dominated": bool(keep),
            }
            for p, keep in zip(self._points.values(), mask, strict=True)
        ]
