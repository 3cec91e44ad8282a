"""Experiment tracking: `tracking:` reaches every trainer's config; the sweep logs its front to tensorboard."""

from __future__ import annotations

import pytest
from conftest import tiny_sweep_dict

from pareto_align.config import ConfigError, parse_config
from pareto_align.front import FrontTracker, Objective, Point
from pareto_align.tracking import TrackingConfig, sweep_logger, trainer_args

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TRACKED = {"report_to": ["tensorboard"], "project": "proj", "run_name": "exp"}


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tracking_fields_are_validated(benchmark_cache):
    with pytest.raises(ConfigError, match=r"tracking\.report_to\[0\]: Input should be"):
        parse_config(tiny_sweep_dict(benchmark_cache, tracking={"report_to": ["tensorbord"]}), "s.yaml")
    with pytest.raises(ConfigError, match=r"tracking\.report_to: \['tensorboard', 'tensorboard'\] names"):
        parse_config(tiny_sweep_dict(benchmark_cache, tracking={"report_to": ["tensorboard"] * 2}), "s.yaml")
    with pytest.raises(ConfigError, match=r"tracking\.projet: unknown field"):
        parse_config(tiny_sweep_dict(benchmark_cache, tracking={"projet": "x"}), "s.yaml")
    two_places = tiny_sweep_dict(benchmark_cache, tracking=TRACKED)
    two_places["method"]["trl"]["report_to"] = "wandb"
    with pytest.raises(ConfigError, match=r"^s\.yaml: method\.trl\.report_to: set by tracking\.report_to"):
        parse_config(two_places, "s.yaml")


def test_a_missing_tracker_package_is_named(benchmark_cache, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"tracking\.report_to: 'mlflow' needs the mlflow package"):
        parse_config(tiny_sweep_dict(benchmark_cache, tracking={"report_to": ["mlflow"]}), "s.yaml")


def test_tracking_keeps_the_config_hash(benchmark_cache):
    plain = parse_config(tiny_sweep_dict(benchmark_cache))
    tracked = parse_config(tiny_sweep_dict(benchmark_cache, tracking=TRACKED))
    assert plain.config_hash() == tracked.config_hash()  # a tracker added later keeps the run resumable


@pytest.mark.parametrize("method", ["modpo", "morlhf", "dpa"])
def test_report_to_reaches_each_trainer_config(benchmark_cache, method):
    config = parse_config(tiny_sweep_dict(benchmark_cache, tracking=TRACKED, method={"name": method}))
    extra = trainer_args(config.tracking, config.name, "w00-s0")
    placeholders = config.method.validation_placeholders(config)
    args = config.method.build_trl_config(output_dir="/nonexistent", **placeholders, **extra)
    assert args.report_to == ["tensorboard"] and args.run_name == "exp/w00-s0" and args.project == "proj"
    assert trainer_args(TrackingConfig(), "tiny", "w00-s0") == {}  # untracked: the method's report_to: none


def test_sweep_logger_writes_indicators_and_objective_vectors(tmp_path):
    tracker = FrontTracker([Objective(name="a"), Objective(name="b")], [0.0, 0.0])
    tracking = TrackingConfig(report_to=["tensorboard"])
    with sweep_logger(tracking, tmp_path, "run", tracker) as logger:
        assert tracker.listeners == [logger]
        tracker.add_point(Point(id="p1", method="m", values=[1.0, 2.0], stderr=[0, 0], n_samples=1))
        tracker.add_point(Point(id="p2", method="m", values=[2.0, 1.0], stderr=[0, 0], n_samples=1))
        tracker.add_point(
            Point(id="p3", method="m", values=[0.5, 0.5], stderr=[0, 0], n_samples=1)
        )  # dominated
        tracker.log(
            step=10, point_id="p4", hypervolume=4.5, values=[3.0, 1.5], weights=[0.25, 0.75], training=True
        )
        tracker.log(step=3, point_id="p3", hypervolume=None)  # nothing to log
    assert tracker.listeners == []
    got = _scalars(tmp_path / "tensorboard" / "sweep")
    # hypervolume of {(1, 2)} w.r.t. (0, 0) is 2; with (2, 1): 2 + 2 - 1 (their overlap) = 3
    assert got["front/hypervolume"] == [(1, 2.0), (2, 3.0), (3, 3.0)]
    assert got["front/cardinality"] == [(1, 1.0), (2, 2.0), (3, 2.0)]
    assert got["front/n_points"] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert [s for s, _ in got["front/expected_utility"]] == [1, 2, 3]
    assert got["point/a"] == [(1, 1.0), (2, 2.0), (3, 0.5)] and got["point/b"] == [
        (1, 2.0),
        (2, 1.0),
        (3, 0.5),
    ]
    assert got["history/p4/hypervolume"] == [(10, 4.5)]
    assert got["history/p4/a"] == [(10, 3.0)] and got["history/p4/b"] == [(10, 1.5)]
    assert got["history/p4/weight_a"] == [(10, 0.25)] and got["history/p4/weight_b"] == [(10, 0.75)]
    assert not any(tag.startswith("history/p3") for tag in got)


def test_no_logger_without_trackers_or_off_the_main_process(tmp_path):
    tracker = FrontTracker([Objective(name="a"), Objective(name="b")], [0.0, 0.0])
    with sweep_logger(TrackingConfig(), tmp_path, "run", tracker) as logger:
        assert logger is None and tracker.listeners == []
    with sweep_logger(
        TrackingConfig(report_to=["tensorboard"]), tmp_path, "run", tracker, enabled=False
    ) as logger:
        assert logger is None
    assert not (tmp_path / "tensorboard").exists()
