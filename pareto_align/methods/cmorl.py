"""`method: cmorl`: C-MORL (Liu et al., 2024) on language-model policies: a stage-1 grid, then rounds of
constrained extension that fill the front's gaps (the arithmetic: `pareto_align/cmorl.py`).

Stage 1 (Pareto initialization): one online GRPO (or RLOO) run per (weight vector, seed) of the grid, as morlhf.
Every `snapshot_every` steps, and at its end, the training policy answers the held-out prompts; its objective
vector in the *training* reward's units (the reward model, or gold with `reward_source: gold`) is offered to the
archive and the policy is saved as a snapshot (`points/<id>/snapshots/step-<n>/`; the final one is the point's
policy). The same responses are scored by the evaluation scorer into front.json's history. Snapshots are listed in
the point's metadata (`cmorl.snapshots`), so the archive is rebuilt from the front alone, deterministically, each
time the sweep asks for a plan; each extension job also writes the archive it was selected from to
`cmorl/archive-s<seed>-r<round>.json`.

Selection: per seed (each seed is its own C-MORL run), `n_select` archive entries by crowding distance, skipping
vectors already extended towards every objective. A round is one selection and its extensions: with
`refresh_every` R, the first R // `extension_steps` (entry, objective) pairs in selection order (entry by entry,
objective by objective, pairs already extended skipped), so the archive and the selection are refreshed after
every R stage-2 policy updates; without it (the default, the reference's per-round behaviour), every selected
entry towards every objective (n_select x K extensions). Round r's jobs are planned once every job of round r - 1
has its point; round r's archive is round r - 1's with the extensions' snapshots offered to it. `rounds` rounds.

Snapshots that drop out of the archive are deleted from disk after each job (`after_job`), except those an
extension (finished or planned) starts from; a point's own final policy is never deleted. A snapshot once dropped
never comes back: the archive is replayed from the front in the same order each time.

Stage 2 (constrained extension), one job per (selected entry, objective l): a run of `extension_steps` steps
from the entry's snapshot that maximizes objective l under G_j >= beta * G_j(pi_r) for j != l, with the log
barrier as per-batch linear weights (`barrier_weights`). Choices (the issue asks they be stated):
- G_j(pi_r) is frozen at selection, from the archive's evaluation of the snapshot on the held-out prompts (the
  reference recomputes it from each minibatch, so its constraint moves with the policy).
- G_j_hat is the batch mean of objective j's *raw* training reward, and G, G(pi_r) are normalized by `bounds`
  ((G - lower) / (upper - lower); defaults as dynamic_hv's: with gold, the reference point and the benchmark's
  best values; with the reward model, its 1st/99th percentiles on the pairs). The constraint is on what the
  policy achieves, not on a shaped surrogate.
- Without PAR the weights act on raw rewards: w_raw_j = w_j / (upper_j - lower_j), the chain rule of the
  normalization. With PAR (`par: true`) the policy loss uses PAR-shaped rewards sigmoid(r_j - r_j(y_ref)), each
  in (0, 1) like a normalized objective, and the barrier's normalized coefficients w_j act on them directly; the
  raw rewards reach the barrier as K more reward functions at weight 0 (`ObjectiveRewards(raw_columns=True)`,
  logged as `rewards/<name>_raw`), gathered over processes by TRL with the shaped ones. GRPO then normalizes
  the scalarized reward by its group std (`scale_rewards`), so what the barrier sets is the direction of the
  update, not its size; RLOO (`trainer: rloo`, `DynamicRLOOTrainer`) takes the same per-batch weights before
  its leave-one-out baseline.
- LoRA (`policy.lora`): snapshots are adapters; an extension loads its snapshot's adapter trainable onto the
  base and continues training it (TRL keeps a frozen copy as the KL reference, so the reference is pi_r).
- Where the clamp binds (slack <= 0.001) the coefficient stays at its largest value (the reference's gradient is
  zero there); the fraction of batches where it binds is recorded per objective (`cmorl.clamp_binding`), with
  whether the final policy satisfies each constraint on the held-out prompts (`cmorl.constraints_held`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from pareto_align import ranks
from pareto_align.atomic import link_into_place, write_text_atomic
from pareto_align.cmorl import Archive, ArchiveEntry, barrier_weights, default_n_select, normalize, select
from pareto_align.front.schema import Compute, Front
from pareto_align.methods import _online
from pareto_align.methods._dynamic import DynamicSection
from pareto_align.methods.base import (
    Job,
    JobResult,
    MethodInfo,
    TrainedPolicy,
    UpdatePlan,
    change,
    fitting_steps,
    grid_jobs,
)
from pareto_align.methods.dynamic_hv import Bounds, default_bounds
from pareto_align.models.policy import Policy
from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer
from pareto_align.trainers.dynamic_rloo import DynamicRLOOTrainer
from pareto_align.trainers.evaluating import EvaluatingCallback, sample_and_score

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.evaluate import Scorer
    from pareto_align.workspace import Workspace

__all__ = ["CMORLSection", "after_job", "plan", "prune_snapshots", "replay", "rounds", "run"]


class CMORLSection(DynamicSection):
    """YAML section `method:` for `name: cmorl`."""

    name: Literal["cmorl"] = "cmorl"  # type: ignore[assignment]
    snapshot_every: int = Field(
        20,
        ge=1,
        description="Evaluate and snapshot the training policy every this many steps (E), both stages.",
    )
    samples_per_prompt: int = Field(
        4,
        ge=1,
        description="Responses per held-out prompt for each snapshot's evaluation (counted in compute).",
    )
    archive_size: int = Field(200, ge=1, description="Archive capacity, trimmed by crowding distance.")
    n_select: int | None = Field(
        None, ge=1, description="Entries selected per round (default: 5 for two objectives, 6 otherwise)."
    )
    rounds: int = Field(1, ge=0, description="Select-and-extend rounds after stage 1 (0: stage 1 only).")
    extension_steps: int = Field(20, ge=1, description="Optimizer steps of each stage-2 extension.")
    refresh_every: int | None = Field(
        None,
        ge=1,
        description="Refresh the archive and the selection after every this many stage-2 policy updates: a round "
        "is refresh_every // extension_steps extensions in selection order. Default: a round extends every "
        "selected entry towards every objective (n_select x K extensions).",
    )
    beta: float = Field(
        0.9, gt=0, le=1, description="Constraint G_j >= beta * G_j(pi_r), on normalized objectives."
    )
    t: float = Field(20.0, gt=0, description="Barrier sharpness: the barrier is weighted 1/t.")
    bounds: Bounds | None = Field(None, description="Normalization bounds of the training reward's units.")

    def check(self, config: SweepConfig) -> None:
        k = len(config.objectives)
        if k < 2:
            raise ValueError("method.name: cmorl needs at least two objectives")
        if self.refresh_every is not None and self.refresh_every < self.extension_steps:
            raise ValueError(f"method.refresh_every: {self.refresh_every} is less than one extension "
                             f"(extension_steps: {self.extension_steps}); a round holds whole extensions")  # fmt: skip
        if self.trl.get("multi_objective_aggregation", "sum_then_normalize") != "sum_then_normalize":
            raise ValueError("method.trl.multi_objective_aggregation: cmorl's barrier weights are those of the "
                             "summed reward; use 'sum_then_normalize'")  # fmt: skip
        if self.bounds is not None:
            for side in ("lower", "upper"):
                if len(getattr(self.bounds, side)) != k:
                    raise ValueError(
                        f"method.bounds.{side}: expected {k} values, got {len(getattr(self.bounds, side))}"
                    )
            if not all(u > lo for lo, u in zip(self.bounds.lower, self.bounds.upper, strict=True)):
                raise ValueError("method.bounds: upper must exceed lower for every objective")
        super().check(config)

    def selected_per_round(self, k: int) -> int:
        return self.n_select or default_n_select(k)

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """Stage 1's grid, then at most `n_select` entries per round extended towards each objective (fewer when
        the archive holds fewer)."""
        stage1 = super().planned_updates(config)
        if stage1 is None:
            return None
        k = len(config.objectives)
        n = self.selected_per_round(k)
        per_round = self.jobs_per_round()
        extensions = self.extensions(k) * self.extension_steps
        if per_round is None:
            rule = f"{stage1.rule} + {self.rounds} rounds x {n} selected x {k} objectives x {self.extension_steps} steps"
        else:
            rule = f"{stage1.rule} + {self.rounds} rounds x {per_round} extensions x {self.extension_steps} steps"
        return UpdatePlan(stage1.updates + extensions, rule)

    def jobs_per_round(self, extension_steps: int | None = None) -> int | None:
        """Extensions per round with `refresh_every` (None: every selected entry towards every objective)."""
        steps = extension_steps or self.extension_steps
        return None if self.refresh_every is None else self.refresh_every // steps

    def extensions(self, k: int, extension_steps: int | None = None) -> int:
        """Stage-2 runs per seed (at most: the archive may hold fewer entries than `n_select`)."""
        per_round = self.jobs_per_round(extension_steps)
        return self.rounds * (self.selected_per_round(k) * k if per_round is None else per_round)

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[CMORLSection, str]:
        """Both stages' lengths, `max_steps` of stage 1's runs and `extension_steps`, with the number of rounds
        (the method's shape) kept: of the pairs whose plan is the largest not above `updates`, the one whose
        stage-2 share of it is nearest the section's own (then: whose `extension_steps` is nearest its own)."""
        runs, k = len(config.weight_vectors()), len(config.objectives)
        why = f"stage 1's {runs} runs share one max_steps"
        if self.extensions(k) == 0:  # stage 1 only
            steps = fitting_steps(updates, runs, f"{runs} stage-1 runs")
            return self.with_max_steps(steps).described(config, updates, self.max_steps_change(steps), why)
        plan = self.planned_updates(config)
        share = 0.5 if plan is None else self.extensions(k) * self.extension_steps / plan.updates
        best: tuple[tuple[int, float, int], int, int] | None = None
        for ext in range(1, updates + 1):
            if self.refresh_every is not None and ext > self.refresh_every:
                break
            stage2 = self.extensions(k, ext) * ext
            steps = (updates - stage2) // runs
            if steps < 1:
                if self.refresh_every is None:
                    break  # stage 2 only grows with ext
                continue
            total = runs * steps + stage2
            key = (total, -abs(stage2 / total - share), -abs(ext - self.extension_steps))
            if best is None or key > best[0]:
                best = (key, steps, ext)
        if best is None:
            raise ValueError(f"budget.fill: {updates} policy updates per seed cannot give each of the {runs} stage-1 "
                             f"runs and each of the {self.extensions(k, 1)} extensions a step")  # fmt: skip
        _, steps, ext = best
        scaled = self.with_changes(trl={**self.trl, "max_steps": steps}, extension_steps=ext)
        changes = f"{self.max_steps_change(steps)}, {change('extension_steps', self.extension_steps, ext)} ({self.rounds} rounds kept)"
        return scaled.described(config, updates, changes, f"{why} and the extensions one extension_steps")


# ---------------------------------------------------------------------------------------------- plan
def _entries(point) -> list[ArchiveEntry]:
    return [ArchiveEntry.from_json(e) for e in point.metadata.get("cmorl", {}).get("snapshots", [])]


@dataclass
class Round:
    """One selection: the archive it selects from, the entries selected and their extension jobs."""

    archive: Archive
    chosen: list[ArchiveEntry]
    jobs: list[Job]


@dataclass
class Replay:
    """A seed's C-MORL run replayed from the front: its rounds so far, the archive after the last finished round
    (None while stage 1 is unfinished) and the ids of the entries ever offered to it."""

    rounds: list[Round]
    archive: Archive | None
    offered: set[str]


def _key(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def replay(config: SweepConfig, front: Front, seed: int) -> Replay:
    """For one seed, each round whose stage-1 (or previous round's) points are all in the front; deterministic in
    the front's contents. An (entry vector, objective) pair is extended once; a vector extended towards every
    objective is not selected again."""
    method: CMORLSection = config.method  # type: ignore[assignment]
    names = config.objective_names
    k = len(names)
    points = {p.metadata.get("job", p.id): p for p in front.points if p.method == "cmorl" and p.seed == seed}
    stage1 = [j for j in grid_jobs(config) if j.seed == seed]
    if any(j.id not in points for j in stage1):
        return Replay([], None, set())
    archive = Archive(method.archive_size)
    offered: set[str] = set()

    def offer(point) -> None:
        entries = _entries(point)
        archive.offer(*entries)
        offered.update(e.id for e in entries)

    for job in sorted(stage1, key=lambda j: j.id):
        offer(points[job.id])
    done: set[tuple[tuple[float, ...], int]] = set()  # (vector, objective) pairs extended
    out = []
    for r in range(1, method.rounds + 1):
        full = [v for v in {v for v, _ in done} if all((v, o) in done for o in range(k))]
        chosen = select(archive, method.selected_per_round(k), full)
        pairs = [(e, o) for e in chosen for o in range(k) if (_key(e.values), o) not in done]
        limit = method.jobs_per_round()
        if limit is not None:
            pairs = pairs[:limit]
            chosen = [e for e in chosen if any(e is p for p, _ in pairs)]
        jobs = [Job(f"x{r}-{e.id}-o{obj}", seed, None,
                    {"stage": 2, "round": r, "extends": e.id, "objective": obj, "objective_name": names[obj],
                     "source_path": e.path, "source_values": e.values, "source_lineage": e.lineage})
                for e, obj in pairs]  # fmt: skip
        out.append(Round(Archive(archive.capacity, list(archive.entries)), chosen, jobs))
        if not jobs or any(j.id not in points for j in jobs):
            break
        done.update((_key(e.values), o) for e, o in pairs)
        for job in jobs:
            offer(points[job.id])
    return Replay(out, archive, offered)


def rounds(
    config: SweepConfig, front: Front, seed: int
) -> list[tuple[Archive, list[ArchiveEntry], list[Job]]]:
    """`replay`'s rounds as (archive selected from, selected entries, jobs)."""
    return [(r.archive, r.chosen, r.jobs) for r in replay(config, front, seed).rounds]


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """Stage 1's grid until every stage-1 point is in the front; then, per seed, the extensions of each round
    whose predecessors are all done (the sweep asks again after each round)."""
    jobs = grid_jobs(config, stage=lambda w: 1)
    for seed in config.seeds:
        for _, _, round_jobs in rounds(config, front, seed):
            jobs += round_jobs
    return jobs


# ---------------------------------------------------------------------------------------------- run
class Barrier:
    """Per-batch weights of the log barrier for objective `objective` against the frozen G(pi_r) (normalized),
    and how often its clamp binds. With `par`, the batch's rewards are K PAR-shaped columns then K raw ones: G
    comes from the raw ones, the weights go to the shaped ones (0 on the raw)."""

    def __init__(self, objective: int, reference: np.ndarray, lower: np.ndarray, upper: np.ndarray, beta: float,
                 t: float, par: bool = False) -> None:  # fmt: skip
        self.objective, self.reference, self.lower, self.upper = objective, reference, lower, upper
        self.beta, self.t, self.par = beta, t, par
        self.batches = 0
        self.binds = np.zeros(len(reference), dtype=int)
        self.last_weights: list[float] | None = None

    def weights(self, rewards) -> list[float]:
        """`reward_weights` for a batch's per-objective rewards: (N, K) raw, returns (K,) on raw rewards; with
        `par`, (N, 2K) shaped then raw, returns (2K,): the normalized coefficients on the shaped, 0 on the raw."""
        k = len(self.reference)
        batch = rewards.double().cpu().numpy()  # (N, K), or (N, 2K) with par
        raw = batch[:, k:] if self.par else batch  # (N, K)
        G = normalize(np.nanmean(raw, axis=0), self.lower, self.upper)  # (K,)
        w, binds = barrier_weights(G, self.reference, self.objective, self.beta, self.t)
        self.batches += 1
        self.binds += binds
        self.last_weights = self.on_rewards(w)
        return self.last_weights + [0.0] * k if self.par else self.last_weights

    def on_rewards(self, w: np.ndarray) -> list[float]:
        """Coefficients dB/dG on normalized objectives (K,) as weights on the rewards the loss uses (K,): raw
        rewards by the chain rule of the normalization; PAR-shaped ones (in (0, 1) already) as they are."""
        return w.tolist() if self.par else (w / (self.upper - self.lower)).tolist()

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "binds": self.binds.tolist(), "last_weights": self.last_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches, self.binds = state["batches"], np.asarray(state["binds"], dtype=int)
        self.last_weights = state["last_weights"]


def _save_snapshot(ws: Workspace, accelerator, model, tokenizer, target: Path) -> None:
    """Save a policy (full weights, or its LoRA adapter alone) into `target`, renamed into place when complete.
    Every process calls this: the trainer's `accelerator` gathers sharded weights (FSDP, ZeRO-3) into one state
    dict; the main process writes it, and under a launcher the others link its files into their mirror."""
    state_dict = accelerator.get_state_dict(model)
    model = accelerator.unwrap_model(model)
    if ranks.is_main() or not ws.collective:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=target.parent))
        try:
            if hasattr(model, "peft_config"):  # the trained adapter, not TRL's frozen "ref" copy
                model.save_pretrained(tmp / "policy", state_dict=state_dict, selected_adapters=["default"])
                ws.relocatable_adapter(tmp / "policy")
            else:
                model.save_pretrained(tmp / "policy", state_dict=state_dict)
            tokenizer.save_pretrained(tmp / "policy")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp / "policy", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if ws.collective:
        ranks.barrier()  # the main process's snapshot is complete
        if not ranks.is_main():
            shutil.rmtree(target, ignore_errors=True)
            link_into_place(ws.shared_root / target.relative_to(ws.run_dir), target)


class Snapshots(_online.OnlineExtension, EvaluatingCallback):
    """Every `snapshot_every` steps and at the end: the policy's vector in the training reward's units (an archive
    entry, its snapshot saved), the evaluation scorer's into the history; stage 2 adds the barrier."""

    def __init__(self, ws: Workspace, method: CMORLSection, point_id: str, seed: int, weights: list[float] | None,
                 scorer: Scorer, lineage: dict[str, Any], barrier: Barrier | None = None) -> None:  # fmt: skip
        self.ws, self.method, self.point_id, self.seed, self.weights = ws, method, point_id, seed, weights
        self.scorer, self.lineage, self.barrier = scorer, lineage, barrier
        self.trainer_cls = DynamicGRPOTrainer if method.trainer == "grpo" else DynamicRLOOTrainer
        self.raw_columns = barrier is not None and barrier.par  # the barrier's G_j_hat: raw rewards
        self.checkpoint_every, self.every = method.checkpoint_every, method.snapshot_every
        self.entries: list[dict[str, Any]] = []
        self.meta_tokens = 0
        self.tokenizer, self.accelerator = None, None
        self.final_values: list[float] | None = None

    # ------------------------------------------------------------------ OnlineExtension
    def attach(self, trainer, rewards, tokenizer) -> None:
        self.tokenizer, self.accelerator = tokenizer, trainer.accelerator
        trainer.add_callback(self)
        if self.barrier is not None:
            trainer.batch_weights = self.barrier.weights

    def skip_history(self, step: int) -> bool:
        return step % self.method.snapshot_every == 0  # evaluated here, with the training reward's values too

    def state_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "meta_tokens": self.meta_tokens,
                "barrier": self.barrier.state_dict() if self.barrier else None}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.entries, self.meta_tokens = state["entries"], state["meta_tokens"]
        if self.barrier is not None and state["barrier"] is not None:
            self.barrier.load_state_dict(state["barrier"])

    def compute(self) -> Compute:
        return Compute(generated_tokens=self.meta_tokens)  # their seconds are inside the run's wall time

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {**self.lineage, "snapshots": self.entries, "snapshot_evaluation_tokens": self.meta_tokens}  # fmt: skip
        if self.barrier is not None:
            b = self.barrier
            meta["barrier_batches"] = b.batches
            meta["clamp_binding"] = (b.binds / max(b.batches, 1)).tolist()
            meta["final_weights"] = b.last_weights
        return {"cmorl": meta}

    # ------------------------------------------------------------------ snapshots
    def _entry(self, step: int, values: list[float], path: str) -> None:
        self.entries.append(ArchiveEntry(f"{self.point_id}-t{step}", values, path,
                                         {**self.lineage, "point": self.point_id, "step": step}).to_json())  # fmt: skip

    def evaluate_at(self, step: int, model, **kwargs) -> None:
        ws = self.ws
        own, shown = sample_and_score(ws, model, self.tokenizer, self.method.samples_per_prompt, self.scorer)
        self.meta_tokens += own.n_tokens
        rel = Path("points") / self.point_id / "snapshots" / f"step-{step}"
        _save_snapshot(ws, self.accelerator, model, self.tokenizer, ws.run_dir / rel)
        self._entry(step, own.values, str(rel))
        ws.record_history(self.point_id, step, shown, weights=self.weights, method=self.method.name, seed=self.seed,
                          training=True, reward_values=own.values, stage=self.lineage["stage"])  # fmt: skip

    def on_train_end(self, args, state, control, model=None, **kwargs):
        """The final policy (saved by the run as the point's policy) in the training reward's units."""
        ev = self.ws.evaluate(
            Policy(model, self.tokenizer, {}), self.method.samples_per_prompt, scorer=self.scorer
        )
        self.meta_tokens += ev.n_tokens
        self.final_values = ev.values
        self._entry(state.global_step, ev.values, str(Path("points") / self.point_id / "policy"))


def _write_archive(ws: Workspace, job: Job) -> None:
    """The archive and selection this extension came from, for the user (the plan rebuilds it from the front)."""
    for archive, chosen, jobs in rounds(ws.config, ws.tracker.front(), job.seed):
        if any(j.id == job.id for j in jobs):
            payload = {
                **archive.to_json(),
                "selected": [e.id for e in chosen],
                "round": job.metadata["round"],
            }
            write_text_atomic(ws.run_dir / "cmorl" / f"archive-s{job.seed}-r{job.metadata['round']}.json",
                              json.dumps(payload, indent=1))  # fmt: skip


def prune_snapshots(ws: Workspace, seed: int) -> list[str]:
    """Delete the seed's snapshots that were offered to the archive and dropped from it (dominated or trimmed),
    unless an extension, finished or planned, starts from them; a point's own policy is never one of them (only
    folders points/<id>/snapshots/<step> are). Returns the paths deleted (relative to the run dir)."""
    front = ws.tracker.front()
    state = replay(ws.config, front, seed)
    if state.archive is None:
        return []
    keep = {e.path for e in state.archive.entries}
    keep |= {job.metadata["source_path"] for r in state.rounds for job in r.jobs}
    root = ws.run_dir.resolve()
    deleted = []
    for point in front.points:
        if point.method != "cmorl" or point.seed != seed:
            continue
        for entry in _entries(point):
            if entry.id not in state.offered or entry.path is None or entry.path in keep:
                continue
            parts = Path(entry.path).parts
            target = (ws.run_dir / entry.path).resolve()
            if (
                len(parts) != 4
                or parts[0] != "points"
                or parts[2] != "snapshots"
                or not target.is_relative_to(root)
            ):
                continue
            if target.is_dir():
                shutil.rmtree(target)
                deleted.append(entry.path)
    return deleted


def after_job(job: Job, ws: Workspace) -> None:
    """Called by the sweep once the job's points are saved in front.json: prune the seed's dropped snapshots."""
    deleted = prune_snapshots(ws, job.seed)
    if deleted:
        ws.log(f"cmorl: deleted {len(deleted)} snapshot(s) no longer in the seed-{job.seed} archive")


def run(job: Job, ws: Workspace) -> JobResult:
    """Stage 1: a morlhf run that snapshots into the archive. Stage 2: a barrier-weighted run from a snapshot."""
    method: CMORLSection = ws.config.method  # type: ignore[assignment]
    scorer = _online.reward_scorer(ws, method)
    if job.metadata.get("stage", 1) == 1:
        lineage = {"stage": 1, "round": 0}
        snaps = Snapshots(ws, method, job.id, job.seed, job.weights, scorer, lineage)
        handle, compute, metadata = _online.train(ws, method, job.id, job.weights, job.seed, extension=snaps)  # type: ignore[arg-type]
        point = TrainedPolicy(job.id, handle, job.seed, compute, weights=job.weights, step=compute.policy_updates,
                              metadata={"grid_index": job.metadata["grid_index"], **metadata})  # fmt: skip
        return JobResult([point])
    _write_archive(ws, job)
    k, obj = len(ws.config.objectives), job.metadata["objective"]
    lower, upper = (np.asarray(b, dtype=float) for b in default_bounds(ws, method, scorer))  # type: ignore[arg-type]
    reference = normalize(job.metadata["source_values"], lower, upper)  # G(pi_r), frozen at selection
    barrier = Barrier(obj, reference, lower, upper, method.beta, method.t, par=method.par)
    lineage = {"stage": 2, "round": job.metadata["round"], "extends": job.metadata["extends"],
               "extends_point": job.metadata["source_lineage"].get("point"),
               "extends_step": job.metadata["source_lineage"].get("step"), "objective": obj,
               "objective_name": job.metadata["objective_name"]}  # fmt: skip
    start_weights = barrier.on_rewards(barrier_weights(reference, reference, obj, method.beta, method.t)[0])
    snaps = Snapshots(ws, method, job.id, job.seed, None, scorer, lineage, barrier)
    section = method.model_copy(update={"trl": {**method.trl, "max_steps": method.extension_steps}})
    # history: the snapshots' evaluations only (the weights change every batch; `history_every` is stage 1's)
    handle, compute, metadata = _online.train(ws, section, job.id, start_weights, job.seed, history=False,
                                             extension=snaps, start=job.metadata["source_path"])  # fmt: skip
    G = normalize(snaps.final_values, lower, upper)  # type: ignore[arg-type]
    held = [bool(G[j] >= method.beta * reference[j]) for j in range(k) if j != obj]
    metadata["cmorl"].update({"bounds": {"lower": lower.tolist(), "upper": upper.tolist()},
                              "source_values": job.metadata["source_values"], "constraints_held": held,
                              "objective_gain": float(G[obj] - reference[obj])})  # fmt: skip
    point = TrainedPolicy(job.id, handle, job.seed, compute, step=compute.policy_updates, metadata=metadata)
    return JobResult([point])


BIBTEX = """@inproceedings{liu2025cmorl,
  title     = {Efficient Discovery of {Pareto} Front for Multi-Objective Reinforcement Learning},
  author    = {Liu, Ruohong and Pan, Yuxin and Xu, Linjie and Song, Lei and You, Pengcheng and Chen, Yize and Bian, Jiang},
  booktitle = {International Conference on Learning Representations},
  year      = {2025},
  eprint    = {2410.02236},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=CMORLSection,
    name="cmorl",
    display_name="C-MORL",
    color="#E69F00",
    bibtex=BIBTEX,
    after_job=after_job,
)  # colour: Okabe-Ito orange
