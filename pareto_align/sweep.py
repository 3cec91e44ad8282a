"""Run a sweep: the method plans jobs, runs each into policies; the sweep evaluates them onto one front. Resumable.

Run directory layout (shared products: see `workspace.py`):
    config.yaml            the validated config and the hash of its effective form (guards resumption)
    .lock                  held while a sweep runs in the directory (a second one is refused)
    points/<id>/policy/    one policy per trained point (renamed into place when complete)
    front.json             the contract file, rewritten atomically after every job and history entry
    front.csv, front.html, front.png

What the sweep owns for every method: the config record and lock, the baseline (the base policy), evaluation of
every policy handle through `load_policy` (as the explorer will rebuild it), resume by deterministic job ids, the
run's compute total, atomic front.json writes. A job's points appear in front.json only once all of them are
evaluated, so a sweep killed at any moment loses at most the job in flight.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
import yaml
from tqdm.auto import tqdm

from pareto_align.atomic import private_files, write_text_atomic
from pareto_align.config import HASH_VERSION, SweepConfig
from pareto_align.errors import ConfigError
from pareto_align.front import FRONT_FILENAME, FrontTracker, Objective, Point, read_front
from pareto_align.front.schema import Compute, PolicyHandle
from pareto_align.methods import METHODS, Job
from pareto_align.models.policy import Policy, is_checkpoint, load_policy
from pareto_align.workspace import Workspace, device

LOCK_FILE = ".lock"


@contextmanager
def run_lock(run_dir: Path, config_path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the run directory for the sweep's lifetime; the OS releases it if the process
    dies, so a killed sweep never leaves a stale lock. A second sweep on the same directory is refused."""
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise ConfigError(f"{config_path or 'config'}: {run_dir} is in use by another sweep (pid {holder}); "
                              "wait for it to finish or choose another --output-dir") from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_config(config: SweepConfig, run_dir: Path, config_path: Path | None) -> None:
    """Record the config; refuse to resume a run directory made by a different (effective) config."""
    target = run_dir / "config.yaml"
    payload = {"config_hash": config.config_hash(), "hash_version": HASH_VERSION,
               "source": str(config_path) if config_path else None, "config": config.model_dump(mode="json"),
               "effective": config.effective()}  # fmt: skip
    if target.exists():
        previous = yaml.safe_load(target.read_text()) or {}
        where = f"{config_path or 'config'}: {run_dir}"
        if previous.get("hash_version") != HASH_VERSION:
            raise ConfigError(f"{where} was made by an earlier pareto_align whose config hash ignored defaults, so "
                              "resuming it could mix hyper-parameters; its front stays readable by explore and export; "
                              "run the sweep into another --output-dir")  # fmt: skip
        if previous.get("config_hash") != payload["config_hash"]:
            raise ConfigError(
                f"{where} holds a sweep of a different config "
                f"(hash {previous.get('config_hash')} != {payload['config_hash']}); choose another --output-dir"
            )
        return
    write_text_atomic(target, yaml.safe_dump(payload, sort_keys=False))


def _handle_paths(handle: PolicyHandle) -> list[str]:
    return [handle.path] if handle.path else list(handle.checkpoints or [])


def _finished_jobs(tracker: FrontTracker, run_dir: Path) -> set[str]:
    """Jobs whose points are all in the front with their checkpoints still on disk."""
    done: dict[str, bool] = {}
    for p in tracker.points:
        job = p.metadata.get("job", p.id)
        ok = p.policy is not None and all(is_checkpoint(run_dir / rel) for rel in _handle_paths(p.policy))
        done[job] = done.get(job, True) and ok
    return {job for job, ok in done.items() if ok}


def _new_tracker(config: SweepConfig, config_path: Path | None) -> FrontTracker:
    objectives = [Objective(name=o.name, direction=o.direction) for o in config.objectives]
    provenance = {"config": config.model_dump(mode="json"), "config_hash": config.config_hash(),
                  "config_path": str(config_path) if config_path else None}  # fmt: skip
    return FrontTracker(objectives, config.reference_point, config.normalization, provenance)


def _add_baseline(ws: Workspace) -> None:
    model, tokenizer = ws.load_base(device())
    rel = ws.base_handle()
    if rel is not None:
        handle = {"kind": "checkpoint", "path": rel}
    else:  # the user's model by hub name (or a path outside the run), pinned to the commit it was loaded at
        revision = ws.config.policy.revision or getattr(model.config, "_commit_hash", None)
        handle = {"kind": "checkpoint", "path": ws.setting.base_path, "hub": True}
        handle.update({"revision": revision} if revision else {})
    ev = ws.evaluate(Policy(model, tokenizer, handle))
    ws.tracker.add_baseline(Point(id="base", method="base", values=ev.values, stderr=ev.stderr,
                                  n_samples=ev.n_samples, samples=ev.samples, policy=handle))  # fmt: skip
    ws.tracker.save(ws.run_dir)


def _run_job(job: Job, ws: Workspace) -> None:
    """Run one job, evaluate every policy it produced through `load_policy`, and save them together."""
    tracker, name = ws.tracker, ws.config.method.name
    tracker.drop_history(job.id)  # entries of an interrupted earlier attempt
    result = METHODS[name].run(job, ws)
    if not result.points:
        raise RuntimeError(f"method {name} produced no point for job {job.id}")
    for work_id, compute in result.shared.items():
        tracker.add_shared_compute(work_id, compute)
    for trained in result.points:
        policy = load_policy(trained.policy, ws.run_dir, device())  # as the explorer will rebuild it
        ev = ws.evaluate(policy)
        metadata = {**trained.metadata, "job": job.id, "eval_seconds": ev.seconds}
        compute = trained.compute
        if trained.inference_token_cost:  # best-of-n, decoding-time mixtures: the cost is paid at inference
            compute = compute + Compute(
                wall_seconds=ev.seconds, generated_tokens=ev.n_tokens * trained.inference_token_cost
            )
        tracker.add_point(Point(id=trained.id, method=name, weights=trained.weights, direction=trained.direction,
                                seed=trained.seed, values=ev.values, stderr=ev.stderr, n_samples=ev.n_samples,
                                samples=ev.samples, policy=trained.policy, compute=compute,
                                step=trained.step, metadata=metadata))  # fmt: skip
        tracker.log(step=len(tracker.point_ids), point_id=trained.id, weights=trained.weights, method=name,
                    seed=trained.seed, cumulative_compute=tracker.total_compute().model_dump())  # fmt: skip
    tracker.save(ws.run_dir)


def silence_library_progress_bars() -> None:
    """Turn off the bars libraries draw for work the toolkit's own bars already cover: transformers' "Loading
    weights" / "Writing model shards" on every checkpoint and datasets' map/filter bars inside TRL. The toolkit's
    bars (tqdm, jobs and training steps) are untouched."""
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def run_sweep(config: SweepConfig, run_dir: Path, config_path: Path | None = None, progress: bool = True,
              log=print) -> FrontTracker:  # fmt: skip
    """Run (or resume) a sweep into `run_dir`; returns the tracker of the finished front."""
    with private_files():  # files 0600, folders 0700, when called as a library too
        return _run_sweep(config, Path(run_dir), config_path, progress, log)


def _run_sweep(config: SweepConfig, run_dir: Path, config_path: Path | None, progress: bool,
               log) -> FrontTracker:  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    silence_library_progress_bars()
    with run_lock(run_dir, config_path):
        _write_config(config, run_dir, config_path)
        front_path = run_dir / FRONT_FILENAME
        tracker = FrontTracker.from_front(read_front(front_path)) if front_path.exists() else _new_tracker(
            config, config_path)  # fmt: skip
        ws = Workspace(config, run_dir, tracker, progress, log)
        if "base" not in {b.id for b in tracker.baselines}:
            _add_baseline(ws)
        method = METHODS[config.method.name]
        attempted: set[str] = set()
        resumed = False
        while True:  # a static grid plans once; adaptive methods plan again from the front they see
            finished = _finished_jobs(tracker, run_dir)
            jobs = method.plan(config, tracker.front())
            todo = [j for j in jobs if j.id not in finished]
            if not todo:
                break
            repeated = sorted({j.id for j in todo} & attempted)
            if repeated:
                raise RuntimeError(f"method {config.method.name} planned finished jobs again: {repeated}")
            if not resumed and len(todo) < len(jobs):
                log(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} jobs already finished")
            resumed = True
            start = time.perf_counter()
            for job in tqdm(todo, desc=f"{config.method.name} jobs", disable=not progress):
                attempted.add(job.id)
                _run_job(job, ws)
            log(f"{len(todo)} job(s) finished in {time.perf_counter() - start:.0f}s")
        return tracker
