"""`method: dynamic_hv`: hypervolume-guided reward weighting (Lu et al., 2025), one online RL run per weight vector.

Every `every` steps the training policy answers the held-out prompts; its objective vector p_t, scored by the
*training* reward (the reward model, or gold when `reward_source: gold`: never by a signal the run does not train
on), is compared with a buffer of earlier vectors seeded by the base policy's. Its hypervolume contribution dHV sets
the meta multiplier m = a + b * tanh(dHV) for the next `every` steps: a policy that pushes the front out moves
faster (up to a + b), one that adds nothing slows down (a).

Where m acts. The paper multiplies the scalarized reward by m. Under GRPO's group-std advantages (and GDPO's
normalize-then-sum) that product cancels exactly, and even without them Adam divides it back out of the step:
only the ratio to the KL term would change. So m multiplies the learning rate (`apply_to: learning_rate`, the
default): the step the paper meant, on any trainer. `apply_to: advantage` multiplies GRPO's advantages after
normalization instead, which changes the balance between reward and KL (and Adam's step only transiently).

dHV is measured on objectives normalized by stated `bounds` ([lower, upper] per objective, `lower` also the
hypervolume's reference point): with raw units (the reference code), an objective counted in words outweighs one
in [0, 1] and tanh saturates. Defaults: with gold rewards, the config's reference point and the benchmark's best
values; with the reward model, the 1st and 99th percentiles of its scores on the training responses. Both the raw
and the normalized dHV are recorded in the history; `units` picks the one that drives m.

The evaluations that steer the run cost generated tokens: they are counted in the point's compute. The same
responses are scored by the evaluation scorer (gold on the benchmark) into front.json's history, for the user only.
"""

from __future__ import annotations

import json
import weakref
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from pareto_align.atomic import write_text_atomic
from pareto_align.front.schema import Compute
from pareto_align.methods import _online
from pareto_align.methods._dynamic import DYNAMIC_WEIGHTING_BIBTEX, DynamicSection, plan
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy
from pareto_align.models.loading import device
from pareto_align.models.policy import Policy
from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer
from pareto_align.trainers.evaluating import EvaluatingCallback, sample_and_score
from pareto_align.weighting import HypervolumeBuffer, meta_multiplier

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.evaluate import Scorer
    from pareto_align.workspace import Workspace

__all__ = ["DynamicHVSection", "plan", "run"]
# shared work: the base policy's vector in the training reward's units, seeding every run's buffer
HV_SEED = "hv_seed"


class Bounds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lower: list[float] = Field(description="Per objective; also the hypervolume's reference point.")
    upper: list[float] = Field(description="Per objective; the values that normalize to 1.")


class DynamicHVSection(DynamicSection):
    """YAML section `method:` for `name: dynamic_hv`."""

    name: Literal["dynamic_hv"] = "dynamic_hv"  # type: ignore[assignment]
    every: int = Field(
        10, ge=1, description="Measure p_t and update the multiplier every this many steps (E)."
    )
    samples_per_prompt: int = Field(
        4, ge=1, description="Responses per held-out prompt for each measurement (they count in the compute)."
    )
    a: float = Field(
        0.5, ge=0, description="m = a + b * tanh(dHV): the multiplier of a step that adds nothing."
    )
    b: float = Field(1.5, ge=0, description="m = a + b * tanh(dHV): the most a contribution can add.")
    units: Literal["normalized", "raw"] = Field(
        "normalized",
        description="Which dHV drives m: on bounds-normalized objectives, or raw (the reference's).",
    )
    bounds: Bounds | None = Field(None, description="Normalization bounds of the training reward's units.")
    apply_to: Literal["learning_rate", "advantage"] = Field(
        "learning_rate", description="What m multiplies (see the module doc: a reward multiplier cancels)."
    )

    def check(self, config: SweepConfig) -> None:
        k = len(config.objectives)
        if self.apply_to == "advantage" and self.trainer != "grpo":
            raise ValueError(
                "method.apply_to: 'advantage' scales GRPO's normalized advantages; use trainer grpo"
            )
        if self.bounds is not None:
            for side in ("lower", "upper"):
                if len(getattr(self.bounds, side)) != k:
                    raise ValueError(
                        f"method.bounds.{side}: expected {k} values, got {len(getattr(self.bounds, side))}"
                    )
            bad = [i for i in range(k) if not self.bounds.upper[i] > self.bounds.lower[i]]
            if bad:
                raise ValueError(f"method.bounds: upper must exceed lower for objective(s) {bad}")
        super().check(config)


def default_bounds(
    ws: Workspace, method: DynamicHVSection, scorer: Scorer
) -> tuple[list[float], list[float]]:
    """Bounds of the training reward's units (see the module doc); reward-model ones computed once per run."""
    if method.bounds is not None:
        return method.bounds.lower, method.bounds.upper
    if method.reward_source == "gold":
        return list(ws.config.reference_point), ws.setting.gold.best().tolist()  # type: ignore[union-attr]
    path = ws.run_dir / f"reward_bounds_{ws.source_name(method.reward_source)}.json"
    if not path.exists():
        pairs = ws.pairs("dynamic_hv bounds")
        scores = torch.cat([scorer.score(pairs["prompt"], pairs[side]) for side in ("chosen", "rejected")])
        q = np.quantile(scores.double().numpy(), [0.01, 0.99], axis=0)  # (2, K)
        write_text_atomic(path, json.dumps({"lower": q[0].tolist(), "upper": q[1].tolist()}))
    saved = json.loads(path.read_text())
    return saved["lower"], saved["upper"]


def base_vector(ws: Workspace, method: DynamicHVSection, scorer: Scorer) -> list[float]:
    """The base policy's objective vector in the training reward's units, on the held-out prompts: the seed of
    every run's buffer; shared work, recorded once per run directory."""
    path = ws.run_dir / f"{HV_SEED}_{ws.source_name(method.reward_source)}_n{method.samples_per_prompt}.json"
    if not path.exists():
        model, tokenizer = ws.load_base(device())
        ev = ws.evaluate(Policy(model, tokenizer, {}), method.samples_per_prompt, scorer=scorer)
        cost = Compute(wall_seconds=ev.seconds, generated_tokens=ev.n_tokens)
        write_text_atomic(path, json.dumps({"values": ev.values, "compute": cost.model_dump(mode="json")}))
    saved = json.loads(path.read_text())
    ws.tracker.add_shared_compute(HV_SEED, Compute.model_validate(saved["compute"]))
    return saved["values"]


class HypervolumeGuide(_online.OnlineExtension, EvaluatingCallback):
    """Measures p_t every `every` steps, sets m from its dHV, and records both into the point's history."""

    def __init__(self, ws: Workspace, method: DynamicHVSection, point_id: str, weights: list[float], seed: int,
                 scorer: Scorer, buffer: HypervolumeBuffer) -> None:  # fmt: skip
        self.ws, self.method, self.point_id, self.weights, self.seed = ws, method, point_id, weights, seed
        self.scorer, self.buffer = scorer, buffer
        self.trainer_cls = (
            DynamicGRPOTrainer if method.trainer == "grpo" else _online.TRAINERS[method.trainer][1]
        )
        self.checkpoint_every, self.every = method.checkpoint_every, method.every
        self.multiplier = 1.0  # before the first measurement: the plain run
        self.meta_tokens = 0
        self.trace: list[dict[str, float]] = []
        # weakly: the trainer holds this callback, and a cycle would keep a finished job's trainer, model and
        # optimizer alive until the next garbage collection
        self._trainer: weakref.ref | None = None
        self.tokenizer = None

    # ------------------------------------------------------------------ OnlineExtension
    def attach(self, trainer, rewards, tokenizer) -> None:
        self._trainer, self.tokenizer = weakref.ref(trainer), tokenizer
        trainer.add_callback(self)
        if self.method.apply_to == "advantage":
            trainer.advantage_scale = self.multiplier  # restored on resume

    def skip_history(self, step: int) -> bool:
        return step % self.method.every == 0  # this callback evaluates there and records the history itself

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.points.tolist(), "multiplier": self.multiplier,
                "meta_tokens": self.meta_tokens, "trace": self.trace}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.points = np.asarray(state["buffer"], dtype=float).reshape(-1, len(self.buffer.lower))
        self.multiplier, self.meta_tokens = state["multiplier"], state["meta_tokens"]
        self.trace = state["trace"]

    def compute(self) -> Compute:
        # their seconds are inside the run's wall time; the base policy's vector is shared work
        return Compute(generated_tokens=self.meta_tokens, shared=[HV_SEED])

    def metadata(self) -> dict[str, Any]:
        return {"hv_bounds": {"lower": self.buffer.lower.tolist(), "upper": self.buffer.upper.tolist()},
                "hv_units": self.method.units, "meta_evaluation_tokens": self.meta_tokens,
                "multipliers": self.trace}  # fmt: skip

    # ------------------------------------------------------------------ the measurement
    def evaluate_at(self, step: int, model, optimizer=None, lr_scheduler=None, **kwargs) -> None:
        ws = self.ws
        own, shown = sample_and_score(ws, model, self.tokenizer, self.method.samples_per_prompt, self.scorer)
        self.meta_tokens += own.n_tokens
        dhv = self.buffer.contribution(own.values)
        self.buffer.add(own.values)
        m = meta_multiplier(dhv[self.method.units], self.method.a, self.method.b)
        self.apply(m, optimizer, lr_scheduler)
        entry = {"step": step, "dhv_raw": dhv["raw"], "dhv_normalized": dhv["normalized"], "multiplier": m}
        self.trace.append(entry)
        ws.record_history(self.point_id, step, shown, weights=self.weights, method=self.method.name, seed=self.seed,
                          training=True, reward_values=own.values, **{k: v for k, v in entry.items() if k != "step"})  # fmt: skip

    def apply(self, m: float, optimizer, lr_scheduler) -> None:
        """Make m the multiplier of the next steps: on GRPO's advantages, or on the learning rate (the
        scheduler's base rates and the optimizer's current ones, so the schedule's shape is kept)."""
        ratio, self.multiplier = m / self.multiplier, m
        if self.method.apply_to == "advantage":
            self._trainer().advantage_scale = m  # type: ignore[union-attr,misc]
            return
        scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
        scheduler.base_lrs = [lr * ratio for lr in scheduler.base_lrs]
        for group in optimizer.param_groups:
            group["lr"] *= ratio


def run(job: Job, ws: Workspace) -> JobResult:
    """One online RL run from the job's weight vector whose step size follows the hypervolume it adds."""
    method: DynamicHVSection = ws.config.method  # type: ignore[assignment]
    scorer = _online.reward_scorer(ws, method)
    lower, upper = default_bounds(ws, method, scorer)
    buffer = HypervolumeBuffer(lower, upper, [base_vector(ws, method, scorer)])
    guide = HypervolumeGuide(ws, method, job.id, job.weights, job.seed, scorer, buffer)  # type: ignore[arg-type]
    handle, compute, metadata = _online.train(ws, method, job.id, job.weights, job.seed, extension=guide)  # type: ignore[arg-type]
    point = TrainedPolicy(job.id, handle, job.seed, compute, weights=job.weights, step=compute.policy_updates,
                          metadata={"grid_index": job.metadata["grid_index"], **metadata})  # fmt: skip
    return JobResult([point])


INFO = MethodInfo(
    config=DynamicHVSection,
    name="dynamic_hv",
    display_name="Dynamic weighting (HV)",
    color="#CC79A7",
    bibtex=DYNAMIC_WEIGHTING_BIBTEX,
)  # colour: Okabe-Ito reddish purple
