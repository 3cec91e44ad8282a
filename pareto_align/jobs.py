"""One job, wherever it runs: run it into evaluated points, then merge them into the front.

Both launchers use these: the local one (`sweep.py`) runs `run_job` in the sweep's process and merges at once;
the Ray one (`distributed.py`) runs it in a worker and merges the `JobOutcome` that comes back on the driver. So the
sweep imports its launchers and the launchers import this module, never the sweep: dependencies point one way.
After each job no trainer, model or optimizer of it stays alive, and CUDA's cache is emptied (`release_memory`).

    sweep.py (plan, local launcher) ──► distributed.py (Ray launcher)
        │                                    │
        └──────────────► jobs.py ◄───────────┘
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pareto_align import ranks
from pareto_align.front import FrontTracker, Point
from pareto_align.front.schema import Compute, HistoryEntry
from pareto_align.methods import METHODS, Job
from pareto_align.models.policy import load_policy
from pareto_align.workspace import device

if TYPE_CHECKING:
    from pareto_align.workspace import Workspace


@dataclass
class JobOutcome:
    """What a job hands to whoever keeps the front: its evaluated points, the work they share, and the history
    entries it logged where the front was out of reach (a distributed worker; locally they go straight in)."""

    job_id: str
    points: list[Point]
    shared: dict[str, Compute] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the job where it ran: training and evaluation
    worker: dict[str, Any] = field(default_factory=dict)  # where it ran and when (distributed launchers)


def run_job(job: Job, ws: Workspace) -> JobOutcome:
    """Run one job and evaluate every policy it produced through `load_policy`; the front is not touched. What the
    job loaded (trainer, models, optimizer) is freed before this returns (after a failure, what the error's
    traceback still holds is freed once the error is handled)."""
    try:
        return _run_and_evaluate(job, ws)
    finally:  # the job's frames are gone here: what nothing refers to any more can be freed
        release_memory()


def release_memory() -> None:
    """Free a finished job's objects now, not at some later collection: a few cycles outside the toolkit keep a
    trained model alive until the garbage collector runs (TRL rebinds the policy's `forward` to a method of the
    model itself); then hand the blocks CUDA's caching allocator keeps back to the device, so the next job, or
    another process on the same GPU, can have them."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _run_and_evaluate(job: Job, ws: Workspace) -> JobOutcome:
    name = ws.config.method.name
    start = time.perf_counter()
    result = METHODS[name].run(job, ws)
    if not result.points:
        raise RuntimeError(f"method {name} produced no point for job {job.id}")
    points = []
    for trained in result.points:
        # every handle says how the run formats prompts, so the explorer formats a typed prompt alike
        trained.policy = {**trained.policy, "prompt_format": ws.setting.prompt_format}
        # as the explorer will rebuild it; on the main process only, which evaluates for all (see ranks.py)
        dtype = ws.config.policy.dtype
        policy = load_policy(trained.policy, ws.run_dir, device(), dtype) if ranks.is_main() else None
        ev = ws.evaluate(policy)
        metadata = {**trained.metadata, "job": job.id, "eval_seconds": ev.seconds}
        compute = trained.compute
        if trained.inference_token_cost:  # best-of-n, decoding-time mixtures: the cost is paid at inference
            compute = compute + Compute(
                wall_seconds=ev.seconds, generated_tokens=ev.n_tokens * trained.inference_token_cost
            )
        points.append(Point(id=trained.id, method=name, weights=trained.weights, direction=trained.direction,
                            seed=trained.seed, values=ev.values, stderr=ev.stderr, n_samples=ev.n_samples,
                            samples=ev.samples, judged=ev.judged_point(), policy=trained.policy, compute=compute,
                            step=trained.step, metadata=metadata))  # fmt: skip
    return JobOutcome(job.id, points, dict(result.shared), seconds=time.perf_counter() - start)


def record_outcome(outcome: JobOutcome, tracker: FrontTracker, run_dir: Path) -> None:
    """Add a finished job's points (and its shared work and history) to the front, and save front.json together."""
    for work_id, compute in outcome.shared.items():
        tracker.add_shared_compute(work_id, compute)
    tracker.history.extend(outcome.history)
    for point in outcome.points:
        tracker.add_point(point)
        tracker.log(step=len(tracker.point_ids), point_id=point.id, weights=point.weights, method=point.method,
                    seed=point.seed, cumulative_compute=tracker.total_compute().model_dump())  # fmt: skip
    tracker.save(run_dir)


def after_job(job: Job, ws: Workspace) -> None:
    """The method's optional `INFO.after_job(job, ws)`, once the job's points are saved (C-MORL prunes snapshots)."""
    hook = METHODS[ws.config.method.name].INFO.after_job
    if hook is not None:
        hook(job, ws)
