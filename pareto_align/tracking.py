"""Experiment tracking: the `tracking:` section reaches every trainer's `report_to`, and the sweep logs its front.

    tracking:
      report_to: [tensorboard]     # any of tensorboard, trackio, wandb, mlflow (transformers' integrations)
      project: pareto-align        # trackio / wandb project, mlflow experiment
      run_name: my-sweep           # default: the config's name; trainers log as <run_name>/<point id>

Trainers log through transformers' own integrations (the names of `report_to`); tensorboard event files go to
`RUN_DIR/tensorboard/<point id>/`. The sweep logs, through the same backends, after each point: the front's
indicators (`front/hypervolume`, `front/expected_utility`, `front/cardinality`, `front/n_points`, at step = number
of points) and the point's objective vector (`point/<objective>`, same step); after each history entry: its values
(`history/<point id>/hypervolume`, `history/<point id>/<objective>`, `history/<point id>/weight_<objective>`, at
the entry's step; entries that follow the front as points are added: `history/hypervolume`, ...). Only the main process of a multi-process run logs. Tracker packages are imported only when
named here (`pip install 'pareto-align[tracking]'` installs tensorboard).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from pareto_align.front import FrontTracker
    from pareto_align.front.schema import HistoryEntry, Point

Backend = Literal["tensorboard", "trackio", "wandb", "mlflow"]
# the module each backend needs (tensorboard: torch.utils.tensorboard needs the tensorboard package)
BACKEND_MODULES: dict[str, str] = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb",
                                   "mlflow": "mlflow"}  # fmt: skip
TENSORBOARD_DIR = "tensorboard"  # inside the run directory
SWEEP_RUN = "sweep"  # the sweep's own tensorboard run, beside the trainers'


class TrackingConfig(BaseModel):
    """The `tracking:` section: where trainers and the sweep log."""

    model_config = ConfigDict(extra="forbid")

    report_to: list[Backend] = Field(
        default_factory=list,
        description="Trackers every trainer reports to (transformers' report_to) and the sweep logs its front to; "
        "empty: none.",
    )
    project: str = Field("pareto-align", description="Project (trackio, wandb) or experiment name (mlflow).")
    run_name: str | None = Field(None, description="Run name; default: the config's name.")

    @field_validator("report_to")
    @classmethod
    def _installed(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"{value} names a tracker twice")
        for name in value:
            if importlib.util.find_spec(BACKEND_MODULES[name]) is None:
                extra = " (pip install 'pareto-align[tracking]')" if name == "tensorboard" else ""
                raise ValueError(f"{name!r} needs the {BACKEND_MODULES[name]} package{extra}")
        return value


def trainer_args(tracking: TrackingConfig, sweep_name: str, run: str) -> dict[str, Any]:
    """Fields of a TrainingArguments / TRL config for one trainer run (`run`: a point id, `reward_model`)."""
    if not tracking.report_to:
        return {}
    return {"report_to": list(tracking.report_to), "run_name": f"{tracking.run_name or sweep_name}/{run}",
            "project": tracking.project}  # fmt: skip


@contextlib.contextmanager
def trainer_logging(tracking: TrackingConfig, run_dir: Path, run: str) -> Iterator[None]:
    """While a trainer is built and trains: its tensorboard events into RUN_DIR/tensorboard/<run>, and the
    project of wandb and mlflow (transformers' integrations read these from the environment)."""
    if not tracking.report_to:
        yield
        return
    values = {"TENSORBOARD_LOGGING_DIR": str(run_dir / TENSORBOARD_DIR / run),
              "WANDB_PROJECT": tracking.project, "MLFLOW_EXPERIMENT_NAME": tracking.project}  # fmt: skip
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class _TensorBoard:
    def __init__(self, tracking: TrackingConfig, run_dir: Path, run_name: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR / SWEEP_RUN))

    def log(self, scalars: dict[str, float], step: int) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _RunAPI:
    """trackio and wandb share this API: init(project, name), log(dict, step), finish()."""

    def __init__(self, module: str, tracking: TrackingConfig, run_name: str) -> None:
        self.module = importlib.import_module(module)
        self.run = self.module.init(project=tracking.project, name=f"{run_name}/{SWEEP_RUN}")

    def log(self, scalars: dict[str, float], step: int) -> None:
        self.module.log(scalars, step=step)

    def close(self) -> None:
        self.module.finish()


class _MLflow:
    def __init__(self, tracking: TrackingConfig, run_name: str) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.set_experiment(tracking.project)
        self.run = mlflow.start_run(run_name=f"{run_name}/{SWEEP_RUN}")

    def log(self, scalars: dict[str, float], step: int) -> None:
        # mlflow metric names allow alphanumerics, _ - . / and spaces
        self.mlflow.log_metrics(scalars, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def _open(name: str, tracking: TrackingConfig, run_dir: Path, run_name: str):
    if name == "tensorboard":
        return _TensorBoard(tracking, run_dir, run_name)
    if name == "mlflow":
        return _MLflow(tracking, run_name)
    return _RunAPI(name, tracking, run_name)


class SweepLogger:
    """Logs the front's indicators and each point's objective vector after each point, and each history entry,
    to every backend of `tracking.report_to` (attach with `FrontTracker.listeners.append`)."""

    def __init__(self, tracking: TrackingConfig, run_dir: Path, run_name: str) -> None:
        self.backends = [_open(name, tracking, Path(run_dir), run_name) for name in tracking.report_to]

    def _log(self, scalars: dict[str, float], step: int) -> None:
        for backend in self.backends:
            backend.log(scalars, step)

    def point_added(self, tracker: FrontTracker, point: Point) -> None:
        front = tracker.front()
        names = [o.name for o in tracker.objectives]
        step = len(front.points)
        scalars = {f"point/{name}": float(v) for name, v in zip(names, point.values, strict=True)}
        if front.metrics is not None:
            m = front.metrics
            scalars.update({"front/hypervolume": m.hypervolume, "front/expected_utility": m.expected_utility,
                            "front/cardinality": float(m.cardinality), "front/n_points": float(m.n_points)})  # fmt: skip
        self._log(scalars, step)

    def history_logged(self, tracker: FrontTracker, entry: HistoryEntry) -> None:
        names = [o.name for o in tracker.objectives]
        # entries logged while a point trains are that point's curves; the others follow the front
        prefix = f"history/{entry.point_id}" if entry.training and entry.point_id else "history"
        scalars: dict[str, float] = {}
        if entry.hypervolume is not None:
            scalars[f"{prefix}/hypervolume"] = entry.hypervolume
        values = (entry.model_extra or {}).get("values")
        if isinstance(values, list) and len(values) == len(names):
            scalars.update({f"{prefix}/{name}": float(v) for name, v in zip(names, values, strict=True)})
        if entry.weights is not None and len(entry.weights) == len(names):
            scalars.update(
                {f"{prefix}/weight_{n}": float(w) for n, w in zip(names, entry.weights, strict=True)}
            )
        if scalars:
            self._log(scalars, entry.step)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


@contextlib.contextmanager
def sweep_logger(tracking: TrackingConfig, run_dir: Path, run_name: str, tracker: FrontTracker,
                 enabled: bool = True) -> Iterator[SweepLogger | None]:  # fmt: skip
    """A `SweepLogger` listening to `tracker` while the sweep runs (None when nothing is tracked or not `enabled`:
    the non-main processes of a multi-process run)."""
    if not (enabled and tracking.report_to):
        yield None
        return
    logger = SweepLogger(tracking, run_dir, run_name)
    tracker.listeners.append(logger)
    try:
        yield logger
    finally:
        tracker.listeners.remove(logger)
        logger.close()
