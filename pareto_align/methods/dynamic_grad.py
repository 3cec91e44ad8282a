"""`method: dynamic_grad`: gradient-based reward weighting (Lu et al., 2025), one online RL run per starting
weight vector.

Every `every` steps the per-objective policy gradients g_1..g_K over a parameter subset (default: the middle band of
decoder layers, the paper's layers 10-25 of 28 as fractions of the depth) give each objective's influence
I_i = sum_j `<g_i, g_j>`, and the weights move by mirror descent: w <- softmax(log w + eta * I / lambda), clipped to
[floor, ceiling] on the simplex. As in the reference code, eta is the learning rate in use (or a fixed value).

Cost. The reference code recomputes each objective's advantages and runs a full forward and backward pass per
objective. Here the gradients come from the training step's own forward pass: K backward passes with
`retain_graph` that stop at the subset's lowest layer (`pareto_align/trainers/dynamic_grpo.py`), then TRL's usual
backward. Under several processes the K gradients are averaged across them (as DDP averages the loss's) and the new
weights are broadcast from the first, so every process generates with the same weights.

Timing. TRL reads `reward_weights` when it scores a generation, so weights set during update s take effect from the
next generation (with `steps_per_generation` > 1, buffered batches keep the advantages they were scored with). Each
update is logged into front.json's history (`kind: weights`, with the influences), the evaluations every
`history_every` steps carry the weights in use, and the point's metadata keeps the whole trajectory.

A weight of 0 stays 0 under a multiplicative update: start from interior weights, or set `floor`.

Trust region (`trust_region`, beyond the paper). The paper's update lets the weights go anywhere on the simplex.
Influence rewards an objective whose gradient agrees with the others', so where two objectives move together (here
"fewer flagged words" and "shorter": removing words removes flagged words) and the third pulls against both, the
mirror step compounds toward the pair every step, whatever trade-off the run started from. On the built-in benchmark
the balanced preset's weights ran from (0.33, 0.33, 0.33) to about (0.07, 0.05, 0.88) and its policy collapsed to
the empty response by step 50 (experiments/RESULTS.md), so the front lost its middle point and fell below the
base policy's hypervolume; a floor of 0.05 kept every weight alive but not the trade-off. The default keeps the
starting weights w0 as the user's stated trade-off and lets the gradients re-balance it locally: after each mirror
step the weights are projected onto w0 / f <= w <= f * w0 (f = `trust_region`), a box in the log-weights, the
coordinates the mirror step is taken in, so the update stays the paper's inside the region and one objective can
gain at most a factor f. `trust_region: null` is the paper's unconstrained update. f = 1.1 by default: on the
benchmark the balanced preset at f = 1.25 still ran to its bound, (0.27, 0.32, 0.42), and collapsed as before (the
trade-off there is that steep: fixed weights (0.33, 0.33, 0.33) keep 2.3-2.8 topic words, (0.2, 0.2, 0.6) none).
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field

from pareto_align.methods import _online
from pareto_align.methods._dynamic import DYNAMIC_WEIGHTING_BIBTEX, DynamicSection, plan
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy
from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer
from pareto_align.weighting import influence, mirror_update, project_to_bounds, trust_region_bounds

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace

__all__ = ["DynamicGradSection", "plan", "run", "probe_parameters"]
LAYER = re.compile(r"\.(?:layers|h|blocks|layer)\.(\d+)\.")  # Llama/Qwen/Mistral, GPT-2, ... decoder blocks


class DynamicGradSection(DynamicSection):
    """YAML section `method:` for `name: dynamic_grad`."""

    name: Literal["dynamic_grad"] = "dynamic_grad"  # type: ignore[assignment]
    every: int = Field(1, ge=1, description="Update the weights every this many optimizer steps (U).")
    layer_band: tuple[float, float] = Field(
        (10 / 28, 26 / 28),
        description="Decoder layers whose parameters give the gradients, as fractions [start, end) of the depth "
        "(the paper's layers 10-25 of 28); at least one layer.",
    )
    parameters: str | None = Field(
        None, description="A regular expression over parameter names instead of `layer_band`."
    )
    lam: float = Field(1e-5, gt=0, description="lambda in w <- softmax(log w + eta * I / lambda).")
    eta: float | None = Field(
        None, gt=0, description="eta in the update; default the learning rate in use (the reference code's)."
    )
    floor: float = Field(0.0, ge=0, le=1, description="Smallest weight allowed.")
    ceiling: float = Field(1.0, gt=0, le=1, description="Largest weight allowed.")
    trust_region: float | None = Field(
        1.1,
        ge=1,
        description="Each weight stays within this factor of its starting value (w0 / f <= w <= f * w0), so the "
        "gradients re-balance the run's trade-off without abandoning it; null: the paper's unconstrained update.",
    )

    def weight_bounds(self, start) -> tuple[Any, Any]:
        """Bounds on the weights of a run that starts at `start`: the trust region within [floor, ceiling], or
        [floor, ceiling] alone."""
        if self.trust_region is None:
            return self.floor, self.ceiling
        return trust_region_bounds(start, self.trust_region, self.floor, self.ceiling)

    def check(self, config: SweepConfig) -> None:
        k = len(config.objectives)
        if self.trainer != "grpo":
            raise ValueError(
                "method.trainer: dynamic_grad takes per-objective gradients inside GRPO's step; use grpo"
            )
        start, end = self.layer_band
        if not 0 <= start < end <= 1:
            raise ValueError(f"method.layer_band: need 0 <= start < end <= 1, got {list(self.layer_band)}")
        if self.floor * k > 1 or self.ceiling * k < 1:
            raise ValueError(
                f"method.floor/ceiling: {k} weights in [{self.floor}, {self.ceiling}] cannot sum to 1"
            )
        for w0 in config.weight_vectors() if self.trust_region is not None else []:
            lower, upper = self.weight_bounds(w0)
            try:
                project_to_bounds(w0, lower, upper)
            except ValueError:
                raise ValueError(f"method.trust_region: weights {[round(float(x), 4) for x in w0]} within a "
                                 f"factor {self.trust_region} and [{self.floor}, {self.ceiling}] cannot sum to 1"
                                 ) from None  # fmt: skip
        if self.parameters is not None:
            try:
                re.compile(self.parameters)
            except re.error as err:
                raise ValueError(f"method.parameters: not a regular expression ({err})") from None
        super().check(config)


def probe_parameters(
    model: torch.nn.Module, section: DynamicGradSection
) -> tuple[list[str], list[torch.nn.Parameter]]:
    """The trainable parameters whose gradients the weights follow: by `parameters`, or the layer band."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if section.parameters is not None:
        chosen = [(n, p) for n, p in named if re.search(section.parameters, n)]
        what = f"method.parameters {section.parameters!r}"
    else:
        layers = sorted({int(m.group(1)) for n, _ in named if (m := LAYER.search(n))})
        if not layers:
            raise ValueError(
                "method.layer_band: the model has no numbered decoder layers; set method.parameters"
            )
        depth = layers[-1] + 1
        lo = min(int(round(section.layer_band[0] * depth)), depth - 1)
        hi = max(int(round(section.layer_band[1] * depth)), lo + 1)
        chosen = [(n, p) for n, p in named if (m := LAYER.search(n)) and lo <= int(m.group(1)) < hi]
        what = f"method.layer_band (layers {lo}-{hi - 1} of {depth})"
    if not chosen:
        raise ValueError(f"{what}: selects no trainable parameter")
    return [n for n, _ in chosen], [p for _, p in chosen]


class WeightOptimizer(_online.OnlineExtension):
    """The gradient probe of a `DynamicGRPOTrainer`: per-objective gradients in, new `reward_weights` out."""

    trainer_cls = DynamicGRPOTrainer

    def __init__(
        self, ws: Workspace, method: DynamicGradSection, point_id: str, weights: list[float], seed: int
    ) -> None:
        self.ws, self.method, self.point_id, self.seed = ws, method, point_id, seed
        self.checkpoint_every = method.checkpoint_every
        self.history_weights = list(weights)  # the weights in use, updated in place (read by history entries)
        # fixed by the starting weights, so the same after a resume
        self.bounds = method.weight_bounds(weights)
        self.trace: list[dict[str, Any]] = [{"step": 0, "weights": list(weights)}]
        # weakly: the trainer holds this probe (`gradient_probe`), and a cycle would keep a finished job's trainer,
        # model and optimizer alive until the next garbage collection
        self._trainer: weakref.ref[DynamicGRPOTrainer] | None = None
        self.parameters: list[torch.nn.Parameter] = []
        self.parameter_names: list[str] = []

    # ------------------------------------------------------------------ OnlineExtension
    @property
    def trainer(self) -> DynamicGRPOTrainer | None:
        return self._trainer() if self._trainer is not None else None

    def attach(self, trainer, rewards, tokenizer) -> None:
        self._trainer = weakref.ref(trainer)
        self.parameter_names, self.parameters = probe_parameters(trainer.model, self.method)
        trainer.gradient_probe = self
        trainer.n_objectives = len(self.history_weights)
        trainer.reward_weights = torch.tensor(self.history_weights, dtype=torch.float32)  # restored on resume
        for entry in self.trace if not self._logged() else []:
            self._log(entry)

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.history_weights, "trace": self.trace}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history_weights[:] = state["weights"]
        self.trace = state["trace"]

    def metadata(self) -> dict[str, Any]:
        return {"final_weights": list(self.history_weights), "weight_trace": self.trace,
                "probe_parameters": int(sum(p.numel() for p in self.parameters)),
                "probe_seconds": self.trainer.probe_seconds if self.trainer is not None else 0.0}  # fmt: skip

    # ------------------------------------------------------------------ GradientProbe
    def due(self, trainer: DynamicGRPOTrainer) -> bool:
        return trainer.state.global_step % self.method.every == 0

    def observe(self, trainer: DynamicGRPOTrainer, grads: torch.Tensor) -> None:
        # (K,), identical on every process (the gradients were averaged); the Gram matrix is computed where the
        # gradients live, and only its K row sums come to the host, once per update
        infl = influence(grads).cpu()
        eta = self.method.eta if self.method.eta is not None else trainer.optimizer.param_groups[0]["lr"]
        new = mirror_update(self.history_weights, infl.numpy(), eta, self.method.lam, *self.bounds)
        new_t = torch.tensor(new, dtype=torch.float32)
        if trainer.accelerator.num_processes > 1:
            from accelerate.utils import broadcast

            new_t = broadcast(new_t.to(trainer.accelerator.device)).cpu()
        trainer.reward_weights = new_t
        self.history_weights[:] = new_t.tolist()
        entry = {"step": trainer.state.global_step + 1, "weights": new_t.tolist(), "influence": infl.tolist()}
        self.trace.append(entry)
        self._log(entry)

    def _logged(self) -> bool:
        return any(e.point_id == self.point_id and e.model_extra and e.model_extra.get("kind") == "weights"
                   for e in self.ws.tracker.history)  # fmt: skip

    def _log(self, entry: dict[str, Any]) -> None:
        extra = {"influence": entry["influence"]} if "influence" in entry else {}
        self.ws.tracker.log(step=entry["step"], point_id=self.point_id, weights=entry["weights"], kind="weights",
                            hypervolume=None, method=self.method.name, seed=self.seed, training=True, **extra)  # fmt: skip


def run(job: Job, ws: Workspace) -> JobResult:
    """One online RL run whose weights follow the objectives' gradient influences, from the job's weights."""
    method: DynamicGradSection = ws.config.method  # type: ignore[assignment]
    optimizer = WeightOptimizer(ws, method, job.id, list(job.weights or []), job.seed)
    handle, compute, metadata = _online.train(ws, method, job.id, job.weights, job.seed, extension=optimizer)  # type: ignore[arg-type]
    point = TrainedPolicy(job.id, handle, job.seed, compute, weights=job.weights, step=compute.policy_updates,
                          metadata={"grid_index": job.metadata["grid_index"], **metadata})  # fmt: skip
    return JobResult([point])


INFO = MethodInfo(
    config=DynamicGradSection,
    name="dynamic_grad",
    display_name="Dynamic weighting (gradient)",
    color="#882255",
    bibtex=DYNAMIC_WEIGHTING_BIBTEX,
)  # colour: Tol muted wine
