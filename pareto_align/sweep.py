"""Run a sweep: the method plans jobs, runs each into policies; the sweep evaluates them onto one front. Resumable.

Run directory layout (shared products: see `workspace.py`):
    config.yaml            the validated config and the hash of its effective form (guards resumption)
    .lock                  held while a sweep runs in the directory (a second one is refused)
    points/<id>/policy/    one policy per trained point (renamed into place when complete)
    front.json             the contract file, rewritten atomically after every job and history entry
    failures.json          jobs that failed after their retries in the last sweep (distributed launchers only)
    front.csv, front.html, front.png

What the sweep owns for every method: the config record and lock, the baseline (the base policy), evaluation of
every policy handle through `load_policy` (as the explorer will rebuild it), resume by deterministic job ids, the
run's compute total, atomic front.json writes. A job's points appear in front.json only once all of them are
evaluated, so a sweep killed at any moment loses at most the job in flight.

Launchers: `local` (`LocalLauncher`, here) runs the jobs of a round one after another in this process; `ray`
(`distributed.py`) runs each as a Ray task and merges the `JobOutcome` it hands back with the same writer. Both run
and merge a job through `jobs.py` (`run_job`, `record_outcome`), which imports neither launcher nor this module:
imports go one way, sweep -> launchers -> jobs. Only the process holding the run-dir lock writes front.json. Under
several processes (torchrun, accelerate launch; local launcher) every process trains each job together; the main
one plans, evaluates and writes (see `ranks.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
import yaml
from tqdm.auto import tqdm

from pareto_align import ranks
from pareto_align.atomic import private_files, write_text_atomic
from pareto_align.config import HASH_VERSION, SweepConfig
from pareto_align.distributed import RayLauncher
from pareto_align.errors import ConfigError
from pareto_align.front import FRONT_FILENAME, FrontTracker, Objective, Point, read_front
from pareto_align.front.schema import PolicyHandle
from pareto_align.jobs import after_job, record_outcome, run_job
from pareto_align.methods import METHODS, Job
from pareto_align.models.policy import Policy, is_checkpoint
from pareto_align.tracking import sweep_logger
from pareto_align.workspace import Workspace, device

LOCK_FILE = ".lock"
FAILURES_FILE = "failures.json"


class JobsFailed(RuntimeError):
    """Some jobs failed (after their retries) while the others finished; their points are in front.json."""

    def __init__(self, failures: dict[str, str], tracker: FrontTracker, run_dir: Path) -> None:
        self.failures, self.tracker, self.run_dir = failures, tracker, run_dir
        super().__init__(f"{len(failures)} job(s) failed: {', '.join(failures)}; see {run_dir / FAILURES_FILE}; "
                         "re-run the same command to retry them")  # fmt: skip


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


def check_resumable(config: SweepConfig, run_dir: Path, config_path: Path | None) -> None:
    """Refuse a run directory made by a different (effective) config, or by a pareto_align whose hash differed;
    a directory without a recorded config is new and passes."""
    target = run_dir / "config.yaml"
    if not target.exists():
        return
    previous = yaml.safe_load(target.read_text()) or {}
    where = f"{config_path or 'config'}: {run_dir}"
    if previous.get("hash_version") != HASH_VERSION:
        raise ConfigError(f"{where} was made by an earlier pareto_align whose config hash covered less (hash "
                          f"version {previous.get('hash_version', 1)}, now {HASH_VERSION}), so resuming it could mix "
                          "hyper-parameters or scorers; its front stays readable by explore and export; run the "
                          "sweep into another --output-dir")  # fmt: skip
    if previous.get("config_hash") != config.config_hash():
        raise ConfigError(f"{where} holds a sweep of a different config (hash {previous.get('config_hash')} != "
                          f"{config.config_hash()}); choose another --output-dir")  # fmt: skip


def _write_config(config: SweepConfig, run_dir: Path, config_path: Path | None) -> None:
    """Record the config, once; a directory already holding one must hold this config (`check_resumable`)."""
    check_resumable(config, run_dir, config_path)
    target = run_dir / "config.yaml"
    if target.exists():
        return
    payload = {"config_hash": config.config_hash(), "hash_version": HASH_VERSION,
               "source": str(config_path) if config_path else None, "config": config.model_dump(mode="json"),
               "effective": config.effective()}  # fmt: skip
    write_text_atomic(target, yaml.safe_dump(payload, sort_keys=False))


def _handle_paths(handle: PolicyHandle) -> list[str]:
    """The run directory's checkpoints a handle names (a model by hub name is none of them)."""
    if handle.hub:
        return []
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
    """The base policy's point, unless the front has it (resume). Every process calls this together (the main
    process decides): a reward-model scorer may need training first, which they do together; the main process
    then evaluates (see `Workspace.evaluate`)."""
    if not ranks.broadcast("base" not in {b.id for b in ws.tracker.baselines} if ranks.is_main() else None):
        return
    ws.scorer(ws.config.evaluation.scorer)  # built before any process waits for the main one's evaluation
    policy, handle = None, None
    if ranks.is_main():
        model, tokenizer = ws.load_base(device())
        # the user's model by hub name (or a path outside the run) is pinned to the commit it was loaded at
        handle = {"kind": "checkpoint", **ws.base_reference(), "prompt_format": ws.setting.prompt_format}
        policy = Policy(model, tokenizer, handle)
    handle = ranks.broadcast(handle)
    ev = ws.evaluate(policy)
    ws.tracker.add_baseline(Point(id="base", method="base", values=ev.values, stderr=ev.stderr,
                                  n_samples=ev.n_samples, samples=ev.samples, judged=ev.judged_point(),
                                  policy=handle))  # fmt: skip
    ws.tracker.save(ws.run_dir)


def _run_job(job: Job, ws: Workspace) -> None:
    """Run one job here, its history logged live into the front, and save its points together."""
    ws.tracker.drop_history(job.id)  # entries of an interrupted earlier attempt
    record_outcome(run_job(job, ws), ws.tracker, ws.run_dir)
    after_job(job, ws)


class LocalLauncher:
    """Today's loop: one job after another in this process."""

    def run_round(self, jobs: list[Job], ws: Workspace) -> dict[str, str]:
        """Run `jobs`; returns the failed ones (job id -> error); here an error stops the sweep instead."""
        for job in tqdm(jobs, desc=f"{ws.config.method.name} jobs", disable=not ws.progress):
            _run_job(job, ws)
        return {}

    def close(self) -> None:
        pass


def make_launcher(config: SweepConfig, log=print) -> LocalLauncher | RayLauncher:
    """The launcher of `config.launcher.kind`."""
    if config.launcher.kind == "ray":
        launcher = RayLauncher(config.launcher, log)  # imports Ray only here
        launcher.check_scorers(config)
        return launcher
    return LocalLauncher()


def _write_failures(run_dir: Path, failures: dict[str, str]) -> None:
    """run_dir/failures.json lists the jobs that failed in the last sweep; removed once a sweep has none."""
    path = run_dir / FAILURES_FILE
    if failures:
        rows = [{"job": job, "error": error} for job, error in failures.items()]
        write_text_atomic(path, json.dumps({"failures": rows}, indent=1))
    else:
        path.unlink(missing_ok=True)


def silence_library_progress_bars() -> None:
    """Turn off the bars libraries draw for work the toolkit's own bars already cover: transformers' "Loading
    weights" / "Writing model shards" on every checkpoint and datasets' map/filter bars inside TRL. The toolkit's
    bars (tqdm, jobs and training steps) are untouched."""
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def run_sweep(config: SweepConfig, run_dir: Path, config_path: Path | None = None, progress: bool = True,
              log=print, shared_dir: Path | None = None) -> FrontTracker:  # fmt: skip
    """Run (or resume) a sweep into `run_dir`; returns the tracker of the finished front. `shared_dir`: where
    the reward model and reward differences are built once for sweeps of the same setting (see `Workspace`)."""
    with private_files():  # files 0600, folders 0700, when called as a library too
        return _run_sweep(config, Path(run_dir), config_path, progress, log, shared_dir)


def _prepare(config: SweepConfig, run_dir: Path, config_path: Path | None, progress: bool, log,
             lock: contextlib.ExitStack, shared_dir: Path | None) -> Workspace:  # fmt: skip
    """The main process's part before any job: lock, config record, front, shared data and the checks before
    training. Nothing here trains: a Trainer's collectives would wait for processes that wait for this one."""
    lock.enter_context(run_lock(run_dir, config_path))
    _write_config(config, run_dir, config_path)
    ws = Workspace(
        config,
        run_dir,
        _load_tracker(config, run_dir, config_path),
        progress,
        log,
        shared_dir,
        collective=False,
    )
    check_before_training(ws)
    return ws


def check_before_training(ws: Workspace) -> None:
    """What needs only the data and the base policy's tokenizer (loaded once, cheap), checked before anything
    trains or is evaluated, so that a refusal comes in seconds and not after the reward model's training: the
    prompt format (`chat` without a template; conversational data in a plain run), resolved while the data is read
    and recorded in the front's provenance, then the method section's `check_tokenizer` (DPA/RiC: LoRA with a
    tokenizer that cannot write the template)."""
    setting = ws.setting
    ws.tracker.provenance["prompt_format"] = setting.prompt_format
    ws.tracker.provenance["scorers"] = scorer_provenance(ws.config)
    if setting.prompts is None:  # data.source 'prompts' checked its scorers before sampling the base policy
        ws.check_scorers()
    if setting.tokenizer is not None:
        ws.config.method.check_tokenizer(ws.config, setting.tokenizer)


def scorer_provenance(config: SweepConfig) -> dict:
    """What scored each objective, for training and for evaluation (front.json's `provenance.scorers`)."""
    method = config.method
    training = {
        field: getattr(method, field)
        for field in ("reward_source", "margin_source")
        if hasattr(method, field)
    }
    return {**config.scorers(), "evaluation": config.evaluation.scorer, "training": training}


def _load_tracker(config: SweepConfig, run_dir: Path, config_path: Path | None) -> FrontTracker:
    front_path = run_dir / FRONT_FILENAME
    if front_path.exists():
        return FrontTracker.from_front(read_front(front_path))
    return _new_tracker(config, config_path)


def _run_sweep(config: SweepConfig, run_dir: Path, config_path: Path | None, progress: bool,
               log, shared_dir: Path | None) -> FrontTracker:  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    silence_library_progress_bars()
    ranks.init()
    if ranks.world_size() > 1 and config.launcher.kind != "local":
        raise ConfigError(f"{config_path or 'config'}: launcher.kind: under several processes (torchrun, accelerate "
                          "launch) every process trains each job together; use the local launcher")  # fmt: skip
    check_sharded_weights(config, config_path)
    launcher = make_launcher(config, log)  # a missing Ray or an unreachable cluster fails before any work
    try:
        with contextlib.ExitStack() as lock:
            # several processes (accelerate launch, torchrun): see pareto_align/ranks.py
            ws = ranks.main_first(
                lambda: _prepare(config, run_dir, config_path, progress, log, lock, shared_dir)
            )
            if ws is not None:  # the main process
                ws.collective = ranks.world_size() > 1
            else:  # another process works in its mirror of the run directory, silently
                mirror = ranks.mirror_run_dir(run_dir)
                ws = Workspace(config, mirror, _load_tracker(config, mirror, config_path), False, _silent)
                ws.shared_root = run_dir
            ranks.barrier()  # every mirror is complete before the main process writes again
            try:
                _add_baseline(ws)
                if not isinstance(launcher, LocalLauncher):
                    _build_shared_products(ws)
                failures = _run_rounds(ws, launcher)
            finally:  # no barrier on failure: the launcher ends the other processes when one exits with an error
                if not ranks.is_main():
                    shutil.rmtree(ws.run_dir, ignore_errors=True)
            ranks.barrier()
            if ranks.world_size() > 1 and ranks.is_main():
                shutil.rmtree(run_dir / ranks.MIRRORS, ignore_errors=True)
            _write_failures(run_dir, failures)
            if failures:  # the next round (C-MORL) would plan from an incomplete front: stop here, resumable
                raise JobsFailed(failures, ws.tracker, run_dir)
            return ws.tracker
    finally:
        launcher.close()


# Under FSDP a policy's weights are sharded while it trains: methods that sample from it outside the trainer (DPA/RiC
# rounds, C-MORL and dynamic_hv measurements, Panacea's and morlhf's history) would each need the whole weights on
# every process; those that keep every generation inside the trainer or on saved checkpoints say so
# (`INFO.shardable`).
FSDP_METHODS = tuple(name for name, module in METHODS.items() if module.INFO.shardable)


def check_sharded_weights(config: SweepConfig, config_path: Path | None) -> None:
    """Refuse, in one line, what a launcher that shards parameters (FSDP, ZeRO-3) cannot run correctly here."""
    sharding = ranks.sharded_weights()
    if sharding is None:
        return
    where = f"{config_path or 'config'}: accelerate launcher config ({sharding})"
    if sharding == "DeepSpeed ZeRO-3":  # from_pretrained under ZeRO-3 is a collective (zero.Init)
        raise ConfigError(f"{where}: ZeRO-3 turns every model load into a collective, and the main process loads each "
                          "policy alone to evaluate it; use experiments/accelerate/deepspeed_zero2.yaml, fsdp.yaml "
                          "or ddp.yaml")  # fmt: skip
    method = config.method
    sections = [method, getattr(method, "specialists", None)]
    names = [s.name for s in sections if s is not None]
    history = any(getattr(s, "history_every", 0) for s in sections if s is not None)
    if method.name not in FSDP_METHODS or not set(names) <= set(FSDP_METHODS) or history:
        what = "history_every > 0" if history and method.name in FSDP_METHODS else f"method {method.name}"
        raise ConfigError(f"{where}: {what} samples from the policy outside the trainer while its weights are "
                          f"sharded; under FSDP use {', '.join(FSDP_METHODS)} without history, or "
                          "experiments/accelerate/ddp.yaml")  # fmt: skip


def _build_shared_products(ws: Workspace) -> None:
    """Before distributed jobs: workers elsewhere read the shared products by path and never build them."""
    ws.build_shared_products()
    prepare = METHODS[ws.config.method.name].INFO.prepare  # a method's own products (bon's RM)
    if prepare is not None:
        prepare(ws)


def _plan(method, config: SweepConfig, tracker: FrontTracker, run_dir: Path) -> tuple[list[Job], int]:
    """The jobs the method plans from the current front that are not finished yet, and how many it planned."""
    finished = _finished_jobs(tracker, run_dir)
    jobs = method.plan(config, tracker.front())
    return [j for j in jobs if j.id not in finished], len(jobs)


def _silent(*args, **kwargs) -> None:
    """The log of a non-main process: the main process speaks for all."""


def _run_rounds(ws: Workspace, launcher) -> dict[str, str]:
    """Plan and run rounds until the method offers no unfinished job (a static grid plans once; adaptive methods
    plan again from the front they see) or a round has failed jobs; returns those (job id -> error)."""
    config, tracker, log = ws.config, ws.tracker, ws.log
    tracker.provenance["processes"] = ranks.world_size()
    method = METHODS[config.method.name]
    attempted: set[str] = set()
    resumed = False
    run_name = config.tracking.run_name or config.name
    with sweep_logger(config.tracking, ws.run_dir, run_name, tracker, enabled=ranks.is_main()):
        while True:
            # the main process plans from its run directory; every process runs what it planned, in its order
            todo, n_jobs = ranks.broadcast(_plan(method, config, tracker, ws.run_dir) if ranks.is_main()
                                           else None)  # fmt: skip
            if not todo:
                return {}
            repeated = sorted({j.id for j in todo} & attempted)
            if repeated:
                raise RuntimeError(f"method {config.method.name} planned finished jobs again: {repeated}")
            if not resumed and len(todo) < n_jobs:
                log(f"resuming: {n_jobs - len(todo)} of {n_jobs} jobs already finished")
            resumed = True
            start = time.perf_counter()
            attempted.update(j.id for j in todo)
            failures = launcher.run_round(todo, ws)
            log(f"{len(todo) - len(failures)} job(s) finished in {time.perf_counter() - start:.0f}s")
            if failures:
                return failures
