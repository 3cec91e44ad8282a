"""FrontTracker: points, baselines, history, metrics and save/load."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pareto_align.front import (
    FRONT_FILENAME,
    FrontTracker,
    Normalization,
    Objective,
    Point,
    hypervolume,
    read_front,
)

OBJECTIVES = [Objective(name="helpful"), Objective(name="harmless")]


def point(pid: str, values: list[float], **kw) -> Point:
    return Point(
        id=pid,
        method=kw.pop("method", "modpo"),
        values=values,
        stderr=[0.1] * len(values),
        n_samples=32,
        **kw,
    )


@pytest.fixture
def tracker() -> FrontTracker:
    t = FrontTracker(OBJECTIVES, reference_point=[0.0, 0.0], provenance={"config": "quickstart.yaml"})
    t.add_point(point("a", [1.0, 3.0], weights=[0.25, 0.75]))
    t.add_point(point("b", [3.0, 1.0], weights=[0.75, 0.25]))
    t.add_point(point("c", [0.5, 0.5], weights=[0.5, 0.5]))  # dominated
    t.add_baseline(point("sft", [5.0, 5.0], method="sft"))  # dominates everything, but never counts
    return t


def test_metrics_count_only_non_dominated_points(tracker: FrontTracker) -> None:
    m = tracker.front().metrics
    assert m is not None
    assert m.hypervolume == pytest.approx(1 * 3 + 2 * 1)  # boxes [0,1]x[0,3] and [1,3]x[0,1]
    assert m.non_dominated_ids == ["a", "b"]
    assert (m.cardinality, m.n_points) == (2, 3)
    rows = tracker.summary_rows()
    assert [(r["id"], r["non_dominated"]) for r in rows] == [("a", True), ("b", True), ("c", False)]
    assert rows[0]["weights"] == [0.25, 0.75] and rows[0]["values"] == [1.0, 3.0]


def test_baselines_never_counted(tracker: FrontTracker) -> None:
    without = FrontTracker(OBJECTIVES, [0.0, 0.0])
    for p in tracker.points:
        without.add_point(p)
    assert tracker.front().metrics == without.front().metrics
    assert [b.id for b in tracker.front().baselines] == ["sft"]
    assert tracker.point_ids == {"a", "b", "c"}


def test_no_points_means_no_metrics() -> None:
    t = FrontTracker(OBJECTIVES, [0.0, 0.0])
    t.add_baseline(point("sft", [1.0, 1.0]))
    assert t.front().metrics is None
    assert t.log(0).hypervolume == 0.0
    assert t.summary_rows() == []


def test_add_point_replaces_same_id_in_place(tracker: FrontTracker) -> None:
    tracker.add_point(point("a", [4.0, 4.0]))  # re-evaluated after resume
    assert [p.id for p in tracker.points] == ["a", "b", "c"]
    assert tracker.points[0].values == [4.0, 4.0]
    m = tracker.front().metrics
    assert m is not None and m.non_dominated_ids == ["a"]
    assert m.hypervolume == pytest.approx(16.0)


def test_add_point_checks_dimensions_and_id_clashes(tracker: FrontTracker) -> None:
    with pytest.raises(
        ValueError, match=r"point \(id 'x'\)\.values: expected 2 values \(one per objective\), got 3"
    ):
        tracker.add_point(point("x", [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="'sft' is already used by a baseline"):
        tracker.add_point(point("sft", [1.0, 2.0]))
    with pytest.raises(ValueError, match="'a' is already used by a point"):
        tracker.add_baseline(point("a", [1.0, 2.0]))
    with pytest.raises(ValidationError, match="reference_point: expected 2 values"):
        FrontTracker(OBJECTIVES, [0.0, 0.0, 0.0])


def test_history(tracker: FrontTracker) -> None:
    first = tracker.log(10)
    assert first.hypervolume == pytest.approx(5.0)  # computed from the points when not given
    tracker.add_point(point("d", [2.0, 2.0]))
    second = tracker.log(20, point_id="d", weights=[0.5, 0.5], expected_utility=1.7)
    assert second.hypervolume == pytest.approx(6.0)
    given_hv = tracker.log(30, hypervolume=1.25)
    assert given_hv.hypervolume == 1.25
    history = tracker.front().history
    assert [h.step for h in history] == [10, 20, 30]
    assert history[1].point_id == "d" and history[1].model_extra == {"expected_utility": 1.7}


def test_save_load_round_trip(tracker: FrontTracker, tmp_path: Path) -> None:
    tracker.log(5, sparsity=0.3)
    path = tracker.save(tmp_path)
    assert path == tmp_path / FRONT_FILENAME
    assert os.listdir(tmp_path) == [FRONT_FILENAME]
    front = read_front(path)
    assert front == tracker.front()
    loaded = FrontTracker.load(tmp_path)
    assert loaded.front() == front
    assert loaded.point_ids == tracker.point_ids
    assert loaded.provenance == tracker.provenance  # not re-stamped on load
    # resuming: the loaded tracker continues where the old one stopped
    loaded.add_point(point("e", [0.2, 4.0]))
    loaded.save(tmp_path)
    assert read_front(tmp_path).metrics.non_dominated_ids == ["a", "b", "e"]


def test_provenance(tracker: FrontTracker) -> None:
    prov = tracker.front().provenance
    assert prov["config"] == "quickstart.yaml"
    assert prov["created"].endswith("+00:00")
    assert set(prov["libraries"]) >= {"torch", "transformers", "trl", "pymoo", "numpy"}
    assert prov["libraries"]["numpy"] == np.__version__
    mine = FrontTracker(OBJECTIVES, [0, 0], provenance={"created": "yesterday"})
    assert mine.provenance["created"] == "yesterday"  # the caller's values win


def test_normalization_is_used(tmp_path: Path) -> None:
    norm = Normalization(method="bounds", lower=[0.0, 0.0], upper=[2.0, 4.0])
    t = FrontTracker(OBJECTIVES, [0.0, 0.0], normalization=norm)
    t.add_point(point("a", [2.0, 4.0]))
    m = t.front().metrics
    assert m is not None and m.normalized and m.hypervolume == pytest.approx(1.0)
    assert FrontTracker.load(t.save(tmp_path)).normalization == norm


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 5)), min_size=1, max_size=10))
def test_logged_hypervolume_never_decreases(values: list[tuple[float, float]]) -> None:
    t = FrontTracker(OBJECTIVES, [0.0, 0.0])
    for i, v in enumerate(values):
        t.add_point(point(f"p{i}", list(v)))
        t.log(i)
    hvs = [h.hypervolume for h in t.history]
    assert all(b >= a - 1e-12 for a, b in zip(hvs, hvs[1:], strict=False))
    assert hvs[-1] == pytest.approx(hypervolume(np.array(values), [0.0, 0.0]))
