"""The Ray launcher: each job of a round is a Ray task; the driver keeps the front.

A job is run and merged by `jobs.py` (`run_job` in the worker, `record_outcome` on the driver), as under the local
launcher; this module never imports `sweep.py`, which imports it. Ray itself is imported when a launcher is made.

    driver (the `pareto-align sweep` process)           worker (a Ray task, anywhere in the cluster)
      run-dir lock, config record, baseline
      shared products built once (Workspace)  ──path──►  Workspace on the same run dir: reads them, never builds
      plan a round ──► one task per job, with            method.run(job) + evaluation of every handle
                       launcher.resources      ◄──────   JobOutcome: points (handles relative to the run dir),
      merge each outcome as it arrives                   shared compute, history entries logged while training
      (same atomic front.json writer)

The run directory must be on a filesystem that every worker sees at the same path (one machine, NFS, Lustre, ...):
workers write their policies under points/<id>/ and read the base policy, reward model and data from there. The
worker's tracker starts from the front as it was when the round was submitted and never writes front.json; the
entries it logs (history while a policy trains) come back with the outcome. So a history entry's hypervolume is
measured against the front of the round's start, where the local launcher would also count the points of the
same round finished before it.

Failures: Ray retries a task whose worker died (`max_retries`) and, with `retry_exceptions`, one that raised. A job
that still fails is reported with its error; the others go on; the sweep then stops before planning another round
and exits non-zero; re-running retries the failed jobs (finished ones are skipped, as always).
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from pareto_align.errors import ConfigError
from pareto_align.front import Front, FrontTracker

if TYPE_CHECKING:
    from pareto_align.config import LauncherConfig, SweepConfig
    from pareto_align.jobs import JobOutcome
    from pareto_align.methods import Job
    from pareto_align.workspace import Workspace

# Environment a worker needs to behave as the driver does (offline hubs, quiet bars, the benchmark cache).
FORWARDED_ENV = ("TQDM_DISABLE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "PARETO_ALIGN_CACHE")  # fmt: skip


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("launcher.kind: 'ray' needs Ray: pip install 'pareto-align[ray]'") from None
    return ray


class RayLauncher:
    """Runs each job of a round as a Ray task with `launcher.resources`; merges outcomes as they arrive."""

    def __init__(self, launcher: LauncherConfig, log=print) -> None:
        self.ray = _import_ray()
        self.launcher, self.log = launcher, log
        self.started_ray, self.init_seconds = False, 0.0
        if not self.ray.is_initialized():
            start = time.perf_counter()
            address = launcher.address or os.environ.get("RAY_ADDRESS")
            env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
            try:
                self.ray.init(address=address, runtime_env={"env_vars": env} if env else None,
                              include_dashboard=False)  # fmt: skip
            except ConnectionError as err:
                raise ConfigError(
                    f"launcher.address: cannot reach a Ray cluster at {address!r}: {err}"
                ) from None
            self.started_ray = True
            self.init_seconds = time.perf_counter() - start
        self.task = self.ray.remote(run_job_in_worker)
        self.timings: list[dict[str, Any]] = []  # per job: submitted, received, worker seconds (benchmarks)

    def check_scorers(self, config: SweepConfig) -> None:
        """Every reward function the config names must import in a Ray worker as it does here: ConfigError naming
        the objective's field for one that does not (a module on the driver's path alone, a file the workers'
        machine lacks), before any job starts."""
        from pareto_align.scorers.specs import FunctionSpec

        functions = [
            (where, spec) for where, spec in config.scorer_fields() if isinstance(spec, FunctionSpec)
        ]
        if not functions:
            return
        check = self.ray.remote(num_cpus=0)(function_importable)
        answers = self.ray.get([check.remote(spec.target, str(spec.source_file()) if spec.is_file else None)
                                for _, spec in functions])  # fmt: skip
        for (where, spec), error in zip(functions, answers, strict=True):
            if error is not None:
                raise ConfigError(f"{where}.function: the Ray workers cannot import {spec.target}: {error}")

    def _options(self) -> dict[str, Any]:
        r = self.launcher.resources
        options: dict[str, Any] = {"num_cpus": r.num_cpus, "num_gpus": r.num_gpus,
                                   "max_retries": self.launcher.max_retries,
                                   "retry_exceptions": self.launcher.retry_exceptions}  # fmt: skip
        if r.memory_gb is not None:
            options["memory"] = int(r.memory_gb * 2**30)
        return options

    def attempts(self) -> int:
        return self.launcher.max_retries + 1

    def run_round(self, jobs: list[Job], ws: Workspace) -> dict[str, str]:
        """Run `jobs` as Ray tasks; returns the jobs that failed after their retries (job id -> one-line error).

        A method whose first job per seed builds work the others share (`INFO.shares_work_within_seed`: soups' and
        MOD's specialists) has those jobs run first; a seed whose first job failed runs none of its others.
        """
        from pareto_align.methods import METHODS

        waves = [jobs]
        if METHODS[ws.config.method.name].INFO.shares_work_within_seed:
            leaders = list({job.seed: job for job in reversed(jobs)}.values())[::-1]  # first job of each seed
            waves = [leaders, [job for job in jobs if job not in leaders]]
        failures: dict[str, str] = {}
        bar = tqdm(total=len(jobs), desc=f"{ws.config.method.name} jobs (ray)", disable=not ws.progress)
        try:
            for wave in waves:
                failed_seeds = {job.seed for job in jobs if job.id in failures}
                for job in wave:
                    if job.seed in failed_seeds:
                        failures[job.id] = "not run: the job of its seed that builds the shared work failed"
                        bar.update()
                runnable = [job for job in wave if job.id not in failures]
                failures.update(self._run_wave(runnable, ws, bar))
        finally:
            bar.close()
        return failures

    def _run_wave(self, jobs: list[Job], ws: Workspace, bar) -> dict[str, str]:
        from pareto_align.jobs import after_job, record_outcome

        if not jobs:
            return {}
        config = ws.config
        if config.cache_dir is None:  # a worker resolves the benchmark cache as the driver did
            from pareto_align.data.synthetic import default_cache_dir

            config = config.model_copy(update={"cache_dir": default_cache_dir()})
        front = self.ray.put(ws.tracker.front())
        options = self._options()
        pending: dict[Any, tuple[Job, float]] = {}
        for job in jobs:
            ref = self.task.options(**options).remote(
                config, str(ws.run_dir), front, job, options["num_cpus"]
            )
            pending[ref] = (job, time.time())
        failures: dict[str, str] = {}
        try:
            while pending:
                (ref,), _ = self.ray.wait(list(pending), num_returns=1)
                job, submitted = pending.pop(ref)
                try:
                    outcome: JobOutcome = self.ray.get(ref)
                except self.ray.exceptions.RayError as err:
                    failures[job.id] = describe_failure(err)
                    self.log(
                        f"job {job.id} failed ({self.attempts()} attempt(s) at most): {failures[job.id]}"
                    )
                else:
                    received = time.time()
                    ws.tracker.drop_history(job.id)  # entries of an interrupted earlier attempt
                    record_outcome(outcome, ws.tracker, ws.run_dir)
                    after_job(job, ws)
                    self.timings.append({"job": job.id, "submitted": submitted, "received": received,
                                         "merged": time.time(), "job_seconds": outcome.seconds,
                                         **outcome.worker})  # fmt: skip
                bar.update()
        except BaseException:  # Ctrl-C: what is merged stays merged; the rest would be orphaned work
            for ref in pending:
                self.ray.cancel(ref, force=True)
            raise
        return failures

    def close(self) -> None:
        if self.started_ray:
            self.ray.shutdown()


def function_importable(module: str, file: str | None) -> str | None:
    """In a worker: None when a reward function's module (or file) imports, else the error in one line."""
    import importlib
    import importlib.util

    try:
        if file is not None:
            spec = importlib.util.spec_from_file_location("pareto_align_reward_fn_check", file)
            if spec is None or spec.loader is None:
                return f"cannot load {file}"
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        else:
            importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 -- reported to the driver as one line
        return f"{type(err).__name__}: {err}"
    return None


def describe_failure(err: BaseException) -> str:
    """One line for a failed task: the job's own exception when it raised, Ray's reason when its worker died."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, type(err)):
        err = cause
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if type(err).__name__ in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError"):
        text = "its worker process died (killed or crashed)" + (f": {text}" if text else "")
    return f"{type(err).__name__}: {text}"[:500]


class DetachedTracker(FrontTracker):
    """A worker's copy of the front: methods read it and log history into it; only the driver writes front.json."""

    def save(self, path):  # noqa: ARG002
        return None


_WORKSPACES: dict[
    tuple[str, str], Workspace
] = {}  # per worker process: shared products loaded once per run dir


def run_job_in_worker(
    config: SweepConfig, run_dir: str, front: Front, job: Job, num_cpus: float
) -> JobOutcome:
    """The body of a Ray task: one job on the shared run dir, against the front the round was planned from."""
    entered = time.time()
    import torch

    from pareto_align.atomic import private_files
    from pareto_align.jobs import run_job
    from pareto_align.workspace import Workspace

    torch.set_num_threads(max(1, int(num_cpus)))  # as many threads as cores the scheduler gave the job

    def log(message: str) -> None:
        print(f"[{job.id}] {message}", flush=True)

    tracker = DetachedTracker.from_front(front)
    tracker.drop_history(job.id)  # entries of an interrupted earlier attempt
    logged, shared = len(tracker.history), dict(tracker.shared_compute)
    key = (run_dir, config.config_hash())
    ws = _WORKSPACES.get(key)
    if ws is None:
        ws = _WORKSPACES[key] = Workspace(config, run_dir, tracker, progress=False, log=log)
    ws.tracker, ws.log = tracker, log
    with private_files():
        outcome = run_job(job, ws)
    outcome.history = tracker.history[logged:]
    new_shared = {k: c for k, c in tracker.shared_compute.items() if shared.get(k) != c}
    outcome.shared = {**new_shared, **outcome.shared}
    outcome.worker = {"host": socket.gethostname(), "pid": os.getpid(), "entered": entered,
                      "task_seconds": time.time() - entered}  # fmt: skip
    return outcome
