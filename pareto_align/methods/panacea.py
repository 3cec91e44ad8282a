"""`method: panacea`: one policy pi(y | x, lambda) trained over every preference lambda at once (Zhong et al.,
2024, "Panacea: Pareto Alignment via Preference Adaptation for LLMs", arXiv 2402.02030); its front is that one
model evaluated on the sweep's `weights` grid, at no further training cost. The authors released no training code;
this is the paper's online and offline (DPO) variants on TRL, every open choice stated here.

- Conditioning (`conditioning`): `svd_lora` (the paper's): lambda is the last K singular values of an SVD-LoRA on
  every target linear layer (models/svd_lora.py), per row of the batch; `prompt`: lambda written into the prompt as
  DPA's integer weights (models/conditioning.py; the same SVD-LoRA trains, its preference slots held at the
  simplex centre, so the two conditionings train the same parameters); `both`: the two at once.
- Training (`loss: rl`) on TRL's GRPOTrainer or RLOOTrainer (trainers/panacea_grpo.py): one lambda per prompt
  group, drawn from Dirichlet(`alpha`) with simplex corners at `vertex_prob` (preference_sampling.py), carried
  with the rollout into the loss, so the update's lambda is the generation's, row by row.
- Training (`loss: dpo`) on TRL's DPOTrainer (trainers/panacea_dpo.py): every batch mixes the objectives'
  preference pairs, each row draws its own lambda, and the loss is Panacea's DPO aggregation sum_k lambda_k DPO_k:
  each row's DPO loss on its objective's pair, weighted by its lambda_k, at the row's lambda (SVD-LoRA only: a
  prompt written per row would change the tokens whose reference log-probs are computed once). The pairs are
  MODPO's, tokenized by its code, their reference log-probs (the base's: the adapter starts at zero) kept in the
  run dir under MODPO's key, so a comparison computes them once for both.
- Sampling `adaptive` (beyond the papers; preference_sampling.AdaptivePreferences): every `adaptive.every` steps
  the model is evaluated on a coarse das-dennis grid of lambdas in training-reward units (loss rl: sampled and
  scored as the spread below; loss dpo: log sigmoid of the implicit reward margin on a few pairs per objective),
  and lambda is then drawn more often around the grid lambdas whose points leave the largest gaps in that front
  (crowding distance, as C-MORL selects, or hypervolume contribution); each update goes into the history.
- Reward (loss rl): lambda_row-scalarized (`scalarization`: linear, or Tchebycheff with its ideal in these units)
  per-objective rewards r~_k = (r_k - mean_k) / std_k, calibrated once by the base policy's responses to the training prompts
  (the product PAR also uses, recorded once: `par_reference`), so no objective outweighs the others by its scale;
  with `par`, sigmoid(r~ - r~_ref) (Fu et al., 2025). The KL to the base (TRL's `beta`) stays outside the
  scalarization; its reference is the policy with the adapter off, which is the base. Rewards come from the reward
  model (ensembles aggregated per `aggregation`) or, on the built-in benchmark, the gold functions.
- While it trains, every `history_every` steps the model is sampled at the K simplex corners on a few training
  prompts (common random numbers) and scored in training-reward units (r~; loss dpo, which has no reward: by
  `evaluation.scorer`, as the front is): front.json's history records each objective's spread across the corners,
  and `preference_ignored` when no objective spreads beyond noise. With `front_every`, the whole front (the
  sweep's weight grid on the held-out prompts, as its points are evaluated, fewer responses each) also goes into
  the history with the run's compute so far: the run's anytime curve (export/anytime.py).
- Cost model: one RL (or DPO) run of `max_steps` per seed (the grid pays one per weight vector), plus (loss rl) the
  base policy's responses scored once; every point of the front names that run (`compute.shared`), recorded once. Evaluation
  merges the adapter at each point's lambda, so a point samples at the base model's speed.
- Saved: the adapter (svd_lora.safetensors + svd_lora_config.json, base by reference: its path in the run dir or
  hub name and revision) and tokenizer in `points/<job>/svd_lora`, renamed into place when complete, then
  `points/<job>/state.json`. A job killed after that evaluates without training again; one killed mid-training
  restarts its training (no mid-run checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import datasets
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from trl import DPOConfig

from pareto_align import ranks
from pareto_align.atomic import write_text_atomic
from pareto_align.errors import ConfigError
from pareto_align.front.schema import Compute, Front
from pareto_align.hf_args import hardware_defaults, resolved_defaults
from pareto_align.methods import _online, dpa, modpo
from pareto_align.methods._conditioned import spread, vocabulary_texts
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy, TRLSection, UpdatePlan
from pareto_align.models.conditioning import check_template, extend_vocabulary, format_conditioned_prompt
from pareto_align.models.generation import GenerationSettings, generate, scorable_responses, toolkit_sampling
from pareto_align.models.policy import Policy
from pareto_align.models.svd_lora import (
    DEFAULT_TARGET_MODULES,
    SVDLoRAConfig,
    inject_svd_lora,
    preference,
    save_svd_lora,
    set_preference,
)
from pareto_align.objectives import Scalarization, scalarize, weight_grid
from pareto_align.preference_sampling import AdaptivePreferences, group_shared_preferences, sample_preferences
from pareto_align.rewards import ObjectiveRewards
from pareto_align.trainers.evaluating import EvaluatingCallback, on_main
from pareto_align.trainers.modpo_config import MODPOConfig
from pareto_align.trainers.panacea_grpo import TRAINERS
from pareto_align.trainers.progress import use_step_bar

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.evaluate import Scorer
    from pareto_align.workspace import Workspace

STATE = "state.json"
ADAPTER = "svd_lora"
UTILITY = "preference_utility"  # the reward function TRL optimizes; the K objectives are logged at weight 0


class AdaptiveSampling(BaseModel):
    """`method.adaptive:` for `sampling: adaptive` (preference_sampling.AdaptivePreferences)."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(20, ge=1, description="Evaluate the model on the coarse grid every this many steps.")
    n_partitions: int = Field(
        2, ge=1, description="The coarse grid: pymoo's das-dennis directions with this many partitions."
    )
    gap: Literal["crowding", "hypervolume"] = Field(
        "crowding",
        description="How a grid lambda's gap is measured on the front its evaluations make: crowding distance "
        "(C-MORL's selection) or exclusive hypervolume contribution.",
    )
    concentration: float = Field(
        20.0, gt=0, description="A row drawn at grid lambda g is Dirichlet(1 + concentration * g)."
    )
    uniform_mix: float = Field(
        0.3, ge=0, le=1, description="Share of rows still drawn from the base sampler (alpha, vertex_prob)."
    )
    prompts: int = Field(
        8, ge=1, description="loss 'rl': training prompts per grid lambda; loss 'dpo': pairs per objective."
    )
    samples_per_prompt: int = Field(2, ge=1, description="loss 'rl': responses per prompt and grid lambda.")


class PanaceaSection(_online.OnlineSection):
    """YAML section `method:` for `name: panacea` (rewards, trainer, PAR and `trl:` as morlhf's for `loss: rl`;
    `trl:` as MODPO's DPOConfig for `loss: dpo`)."""

    # loss 'dpo': MODPO's defaults for the benchmark model, with the SVD-LoRA's larger step (its singular values
    # start at 0 and U, V small) and a small SFT term on the chosen responses, which keeps outputs diverse
    DPO_TRL: ClassVar[dict[str, Any]] = {
        **modpo.MODPOSection.DEFAULT_TRL,
        "learning_rate": 2e-3,
        "loss_type": ["sigmoid", "sft"],
        "loss_weights": [1.0, 0.05],
    }
    MANAGED: ClassVar[dict[str, str]] = {
        **_online.OnlineSection.MANAGED,
        "weights": "loss 'dpo': each row's own lambda",
        "trained_objective": "loss 'dpo': each row's own objective",
        "precompute_ref_log_probs": "loss 'dpo': always on, the base policy's (shared with MODPO)",
    }
    # fields of the online loss only: set with loss 'dpo', they would silently do nothing
    ONLINE_ONLY: ClassVar[tuple[str, ...]] = ("trainer", "reward_source", "aggregation", "uwo_lambda",
                                              "scalarization", "par", "template")  # fmt: skip

    name: Literal["panacea"] = "panacea"  # type: ignore[assignment]
    conditioning: Literal["svd_lora", "prompt", "both"] = Field(
        "svd_lora",
        description="Where lambda goes: the SVD-LoRA's singular values (Panacea's), the prompt (DPA's integer "
        "weights), or both.",
    )
    rank: int = Field(8, ge=0, description="Learned singular values r of the SVD-LoRA (it has r + K in all).")
    target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        min_length=1,
        description="Linear layers that get an SVD-LoRA (PEFT-style names: a name or its last parts).",
    )
    loss: Literal["rl", "dpo"] = Field(
        "rl",
        description="'rl': online RL on the lambda-scalarized reward; 'dpo': each row's DPO loss on its "
        "objective's pairs weighted by its lambda (Panacea's DPO aggregation).",
    )
    sampling: Literal["dirichlet", "adaptive"] = Field(
        "dirichlet",
        description="How each row's (rl: each group's) lambda is drawn: Dirichlet(alpha) with corners at "
        "vertex_prob, or 'adaptive': more often where the current front has its largest gaps (`adaptive:`).",
    )
    adaptive: AdaptiveSampling = Field(
        default_factory=AdaptiveSampling, description="sampling 'adaptive' only: its schedule and grid."
    )
    alpha: float = Field(1.0, gt=0, description="Dirichlet concentration (1: uniform on the simplex).")
    vertex_prob: float = Field(
        0.0, ge=0, le=1, description="Probability that a group trains at a simplex corner instead."
    )
    template: str | None = Field(
        None,
        description="conditioning 'prompt'/'both': how lambda is written ({prompt}, {c[0]}..{c[K-1]}); "
        "default: DPA's.",
    )
    weight_scale: int = Field(100, ge=1, description="Prompt weights are round(weight_scale * lambda).")
    history_every: int = Field(
        20,
        ge=0,
        description="Every this many steps (and at the end), evaluate the model at the K simplex corners into "
        "front.json's history: each objective's spread across lambda (0: off).",
    )
    history_samples_per_prompt: int = Field(
        4, ge=1, description="Responses per prompt and corner for the spread."
    )
    spread_prompts: int = Field(8, ge=1, description="Training prompts the spread is measured on.")
    front_every: int = Field(
        0,
        ge=0,
        description="Every this many steps before the last, evaluate the model at every weight vector of the "
        "grid, as the front's points are, into front.json's history: the run's anytime curve (0: off).",
    )
    front_samples_per_prompt: int = Field(
        4, ge=1, description="Responses per held-out prompt and weight vector for those evaluations."
    )

    def trl_config_class(self) -> type:
        # loss 'dpo' builds MODPO's config at weights [1] (plain DPO, reference log-probs precomputed), so the
        # pairs are tokenized and their reference log-probs computed by MODPO's own code and shared with it
        return MODPOConfig if self.loss == "dpo" else super().trl_config_class()

    def trl_fields_of(self) -> type:
        return DPOConfig if self.loss == "dpo" else super().trl_fields_of()

    def trl_args(self) -> dict[str, Any]:
        if self.loss != "dpo":
            return super().trl_args()
        return modpo.without_cpu_checkpointing({**hardware_defaults(), **self.DPO_TRL, **self.trl}, self.trl)

    def effective(self) -> dict[str, Any]:
        if self.loss != "dpo":
            return super().effective()
        section = self.model_dump(mode="json")
        section["trl"] = resolved_defaults(MODPOConfig, {**self.DPO_TRL, **self.trl},
                                           exclude=self.UNHASHED | set(self.MANAGED))  # fmt: skip
        return section

    def validation_placeholders(self, config: SweepConfig) -> dict[str, Any]:
        if self.loss == "dpo":
            return {"weights": [1.0], "trained_objective": 0, "seed": 0}
        return {"reward_weights": [0.0] * len(config.objectives) + [1.0], "seed": 0}

    def resolved_template(self, names: list[str]) -> str:
        return self.template if self.template is not None else dpa.DPASection.default_template(self, names)  # type: ignore[arg-type]

    def check(self, config: SweepConfig) -> None:
        head = [t for t in self.target_modules if t == "lm_head" or t.endswith(".lm_head")]
        if head:  # both losses: TRL reads lm_head.weight, and a tied head shares the input embeddings' weight
            raise ValueError(f"method.target_modules: {head[0]!r} is not supported: TRL computes log-probs from "
                             "lm_head.weight, which an SVD-LoRA layer does not have, and merging into a tied head "
                             "would rewrite the input embeddings; adapt the layers below it")  # fmt: skip
        if self.loss == "dpo":
            self._check_dpo()
        if self.sampling != "adaptive" and "adaptive" in self.model_fields_set:
            raise ValueError("method.adaptive: only used with sampling 'adaptive'")
        if config.policy.lora is not None:
            raise ValueError("policy.lora: panacea trains its own SVD-LoRA adapter (method.rank, "
                             "method.target_modules); leave policy.lora unset")  # fmt: skip
        if self.trl.get("sync_ref_model"):
            raise ValueError("method.trl.sync_ref_model: the KL reference is the base (the adapter off)")
        if self.conditioning == "svd_lora" and self.template is not None:
            raise ValueError("method.template: conditioning 'svd_lora' writes nothing into the prompt")
        if self.conditioning != "svd_lora":
            try:
                check_template(self.resolved_template(config.objective_names), len(config.objectives))
            except ValueError as err:
                raise ValueError(f"method.{err}") from None
        if self.loss == "dpo":
            TRLSection.check(self, config)  # builds the DPO config; morlhf's checks are the online loss's
        else:
            super().check(config)

    def _check_dpo(self) -> None:
        if self.conditioning != "svd_lora":
            raise ValueError("method.conditioning: loss 'dpo' conditions the SVD-LoRA only ('svd_lora'): lambda "
                             "written into the prompt would change each row's tokens, whose reference log-probs "
                             "are computed once per pair")  # fmt: skip
        online = [f for f in self.ONLINE_ONLY if f in self.model_fields_set]
        if online:
            raise ValueError(f"method.{online[0]}: used by loss 'rl' only (loss 'dpo' learns from the preference "
                             "pairs)")  # fmt: skip
        args = self.trl_args()
        loss_type = args.get("loss_type", ["sigmoid"])
        loss_types = {loss_type} if isinstance(loss_type, str) else set(loss_type)
        unsupported = sorted(loss_types - {"sigmoid", "sft"})
        if unsupported:
            raise ValueError(f"method.trl.loss_type: loss 'dpo' weights each row's sigmoid (and sft) loss by its "
                             f"lambda; {unsupported} are not supported")  # fmt: skip
        neutral_values = {"ld_alpha": None, "use_weighting": False, "f_divergence_type": "reverse_kl"}
        for key, neutral in neutral_values.items():
            if args.get(key, neutral) != neutral:
                raise ValueError(f"method.trl.{key}: not supported with loss 'dpo' (leave it unset)")

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """One RL (or DPO) run per seed, whatever the size of the weight grid."""
        steps = self.max_steps()
        return None if steps is None else UpdatePlan(steps, f"1 run x {steps} max_steps")

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[PanaceaSection, str]:
        """The one conditioned run gets every update."""
        return self.with_max_steps(updates).described(config, updates, self.max_steps_change(updates), "")

    def condition(self) -> dict[str, Any]:
        return {"kind": "integer_weights", "scale": self.weight_scale}


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One conditioned model per seed; its front is the sweep's weight grid."""
    return [Job(f"panacea-s{seed}", seed) for seed in config.seeds]


# ---------------------------------------------------------------------------------------------- rewards
class CalibratedScorer:
    """A scorer whose rewards are standardized by fixed per-objective statistics: (r - mean) / std, (N, K)."""

    def __init__(self, scorer: Scorer, mean: np.ndarray, std: np.ndarray) -> None:
        self.scorer, self.mean, self.std = scorer, torch.as_tensor(mean), torch.as_tensor(std)
        self.objective_names = getattr(scorer, "objective_names", None)

    def score(self, prompts, responses) -> torch.Tensor:
        return (self.scorer.score(prompts, responses).double() - self.mean) / self.std  # (N, K)


class PreferenceRewards:
    """TRL's reward functions for Panacea: the K calibrated objectives (logged, weight 0) and their scalarization
    by each row's own lambda (weight 1). TRL passes the trainer's `preference` and `plain_prompt` columns."""

    def __init__(self, objectives: ObjectiveRewards, scalarization: Scalarization) -> None:
        self.objectives, self.scalarization = objectives, scalarization

    def _rows(self, prompts, completions, completion_ids, ref_rewards, plain_prompt) -> np.ndarray:
        # scored on the user's prompt: a template written into it is no part of what the objectives judge
        return self.objectives.rewards(plain_prompt or prompts, completions, completion_ids, ref_rewards)

    def _objective(self, k: int):
        def reward(prompts, completions, completion_ids=None, ref_rewards=None, plain_prompt=None, **_):
            return self._rows(prompts, completions, completion_ids, ref_rewards, plain_prompt)[:, k].tolist()

        reward.__name__ = self.objectives.names[k]
        return reward

    def _utility(self):
        def reward(prompts, completions, completion_ids=None, ref_rewards=None, plain_prompt=None,
                   preference=None, **_):  # fmt: skip
            r = self._rows(prompts, completions, completion_ids, ref_rewards, plain_prompt)  # (N, K)
            lam = np.asarray(preference, dtype=float)  # (N, K)
            return [float(scalarize(r[i : i + 1], lam[i], self.scalarization)[0]) for i in range(len(r))]

        reward.__name__ = UTILITY
        return reward

    def functions(self) -> list:
        return [self._objective(k) for k in range(len(self.objectives.names))] + [self._utility()]

    def weights(self) -> list[float]:
        return [0.0] * len(self.objectives.names) + [1.0]


# ---------------------------------------------------------------------------------------------- spread
def corner_spread(values: np.ndarray, stderr: np.ndarray) -> tuple[np.ndarray, bool]:
    """Each objective's spread across the K corners (max - min of its mean, (K,)) from corner means and standard
    errors (K corners, K objectives), and whether lambda looks ignored: no spread beyond twice the standard error
    of a difference of two corner means."""
    width = values.max(axis=0) - values.min(axis=0)  # (K,)
    noise = 2 * math.sqrt(2) * stderr.max(axis=0)  # (K,)
    return width, bool(np.all(width <= noise))


class SampledRewards:
    """The model at given preferences: at each lambda, `samples` responses to each of a few training prompts (common
    random numbers: one seed), scored by `scorer` (loss 'rl': the calibrated training rewards; loss 'dpo': the
    evaluation's scorer); returns the means and standard errors, each (m, K) for m preferences."""

    def __init__(self, prompts: list, samples: int, scorer: Scorer, tokenizer, settings: GenerationSettings,
                 write, adapter: bool, seed: int) -> None:  # fmt: skip
        self.prompts = [p for p in prompts for _ in range(samples)]
        self.scorer, self.tokenizer, self.settings = scorer, tokenizer, settings
        self.write, self.adapter, self.seed = write, adapter, seed

    def __call__(self, model, preferences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, stderr = [], []
        for lam in preferences:
            texts = [self.write(p, lam) for p in self.prompts] if self.write else self.prompts
            with preference(model, lam) if self.adapter else nullcontext():
                out = generate(model, self.tokenizer, texts, self.settings, seed=self.seed)
            responses = scorable_responses(self.prompts, out.responses)
            r = self.scorer.score(self.prompts, responses).double().numpy()  # (N, K)
            values.append(r.mean(axis=0))  # (K,)
            stderr.append(r.std(axis=0, ddof=1) / math.sqrt(len(r)) if len(r) > 1 else np.zeros(r.shape[1]))
        return np.array(values), np.array(stderr)  # (m, K) each


class PairRewards:
    """The model at given preferences, in loss 'dpo''s training-reward units: for each objective k, the mean of
    log sigmoid(beta * implicit reward margin) over a fixed few of k's pairs (minus the DPO loss of k, which the run
    maximizes with weight lambda_k; 0 is best); returns the means and standard errors, each (m, K)."""

    def __init__(self, trainer, data: datasets.Dataset, pairs: int, k: int) -> None:
        from trl.trainer.dpo_trainer import DataCollatorForPreference

        from pareto_align.trainers.panacea_dpo import OBJECTIVE

        self.trainer, self.k = trainer, k
        objectives = np.asarray(data[OBJECTIVE])
        # TRL's own collation without the trainer's (which would draw lambdas from the training stream)
        collate = DataCollatorForPreference.torch_call
        self.batches = []
        for j in range(k):
            rows = list(data.select(np.flatnonzero(objectives == j)[:pairs]))
            batch = collate(trainer.data_collator, rows)
            self.batches.append({**batch, OBJECTIVE: torch.full((len(rows),), j)})

    def __call__(self, model, preferences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from pareto_align.trainers.panacea_dpo import OBJECTIVE, PREFERENCE, panacea_dpo_loss

        device = self.trainer.accelerator.device
        values = np.zeros((len(preferences), self.k))
        stderr = np.zeros_like(values)
        with torch.no_grad():
            for j, batch in enumerate(self.batches):
                batch = {key: v.to(device) for key, v in batch.items()}
                n = len(batch["ref_chosen_logps"])
                for i, lam in enumerate(preferences):
                    rows = torch.tensor(lam, dtype=torch.float32, device=device).expand(n, self.k)  # (n, K)
                    chosen, rejected, _ = self.trainer.pair_logps(model, {**batch, PREFERENCE: rows})
                    losses, _, _ = panacea_dpo_loss(chosen, rejected, batch["ref_chosen_logps"],
                                                    batch["ref_rejected_logps"], rows, batch[OBJECTIVE],
                                                    self.trainer.beta)  # fmt: skip
                    r = -losses.double().cpu().numpy()  # (n,): log sigmoid(beta * margin)
                    values[i, j] = r.mean()
                    stderr[i, j] = r.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0
        return values, stderr


class SpreadCallback(EvaluatingCallback):
    """Every `every` steps and at the end: the model at the K simplex corners, in training-reward units
    (`evaluate`: SampledRewards or PairRewards), into front.json's history (module docstring)."""

    at_end = True

    def __init__(self, ws: Workspace, job: Job, every: int, evaluate, k: int) -> None:
        self.ws, self.job, self.every, self.evaluate, self.k = ws, job, every, evaluate, k
        self.entries: list[dict[str, Any]] = []

    def evaluate_at(self, step: int, model, **kwargs) -> None:
        # the main process alone samples (not a collective, and no other process needs the result: the others
        # wait at the next step's all-reduce) and writes front.json (tests/test_evaluating_callbacks.py; SVD-LoRA
        # under FSDP/ZeRO-3 is untested: its sharded weights this generation would need gathered)
        if ranks.is_main():
            self.record(model, step)

    def record(self, model, step: int) -> None:
        V, S = self.evaluate(model, np.eye(self.k))  # (K corners, K objectives) each
        width, ignored = corner_spread(V, S)
        entry = {"step": step, "point_id": self.job.id, "hypervolume": None, "training": True,
                 "method": "panacea", "seed": self.job.seed, "kind": "preference_spread",
                 "corner_values": V.tolist(), "spread": width.tolist(), "preference_ignored": ignored}  # fmt: skip
        self.entries.append(entry)
        self.ws.tracker.log(**entry)
        self.ws.tracker.save(self.ws.run_dir)
        if ignored:
            self.ws.log(f"{self.job.id}: step {step}: no objective spreads across lambda beyond noise")


class FrontCallback(EvaluatingCallback):
    """Every `every` steps before the last: the model at every weight vector of the sweep's grid, evaluated as the
    front's points are (`evaluation.scorer` on the held-out prompts, `samples` responses per prompt), into
    front.json's history with that front's hypervolume and the run's compute so far (`spent()`, without the shared
    calibration it names), so a run whose points all come at its end still has an anytime curve
    (export/anytime.py)."""

    def __init__(self, ws: Workspace, job: Job, every: int, samples: int, policy_at, spent) -> None:
        self.ws, self.job, self.every, self.samples = ws, job, every, samples
        self.policy_at, self.spent = policy_at, spent  # lambda -> (Policy, context manager); () -> Compute
        self.entries: list[dict[str, Any]] = []

    def evaluate_at(self, step: int, model, **kwargs) -> None:
        # on every process: `ws.evaluate` is a collective (trainers/evaluating.py)
        from pareto_align.front.indicators import hypervolume

        start = time.perf_counter()
        weights = self.ws.config.weight_vectors()
        values, stderr = [], []
        for lam in weights:
            policy, context = self.policy_at(np.asarray(lam, dtype=float))
            with context:
                ev = self.ws.evaluate(policy, self.samples)
            values.append(ev.values)
            stderr.append(ev.stderr)
        tracker = self.ws.tracker
        hv = hypervolume(np.asarray(values), tracker.reference_point, tracker.normalization)
        spent = self.spent()
        entry = {"step": step, "point_id": self.job.id, "hypervolume": hv, "training": True, "method": "panacea",
                 "seed": self.job.seed, "kind": "front", "front_weights": [list(map(float, w)) for w in weights],
                 "front_values": values, "front_stderr": stderr, "samples_per_prompt": self.samples,
                 "compute": spent.model_dump(mode="json"), "seconds": time.perf_counter() - start}  # fmt: skip
        self.entries.append(entry)
        tracker.log(**entry)
        tracker.save(self.ws.run_dir)


class AdaptiveCallback(EvaluatingCallback):
    """sampling 'adaptive': every `every` steps before the last, the model on the sampler's coarse grid (in
    training-reward units, `evaluate`), and the sampler's grid probabilities updated from the gaps of that front
    (preference_sampling.AdaptivePreferences); each update goes into front.json's history when `log` is given."""

    def __init__(self, sampler, every: int, evaluate, log=None) -> None:
        self.sampler, self.every, self.evaluate, self.log = sampler, every, evaluate, log
        self.entries: list[dict[str, Any]] = []

    def evaluate_at(self, step: int, model, **kwargs) -> None:
        # the main process evaluates; every process then draws from the same probabilities (a group's lambda is
        # drawn by every process from one stream)
        values = on_main(lambda: self.evaluate(model, self.sampler.grid)[0])
        probs = self.sampler.update(values)
        entry = {"step": step, "kind": "preference_sampling", "grid": self.sampler.grid.tolist(),
                 "grid_values": np.asarray(values).tolist(), "sampling_probs": probs.tolist()}  # fmt: skip
        self.entries.append(entry)
        if self.log is not None and ranks.is_main():
            self.log(entry)


# ---------------------------------------------------------------------------------------------- training
def distinct_new_rows(model, ids: list[int], seed: int) -> None:
    """Redraw the input-embedding rows of the new token `ids` as mean + std * N(0, 1) of the tokenizer's other rows
    (those below the smallest new id), per dimension. transformers draws added rows so close to the old rows' mean
    that "0" and "100" are one vector to the model; the embeddings stay frozen here (only the SVD-LoRA trains), so
    the weights written into a prompt must reach it as distinct inputs. The ids, not the matrix's last rows: a
    matrix padded past its tokenizer (Qwen2.5's) holds the new ids among its padding rows, which stay as they are."""
    embeddings = model.get_input_embeddings().weight  # (V, H)
    index = torch.as_tensor(ids, dtype=torch.long)  # (n,)
    old = embeddings[: int(index.min())].float()  # (V_old, H): the vocabulary the new pieces were added to
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(ids), embeddings.shape[1], generator=generator)  # (n, H)
    with torch.no_grad():
        rows = old.mean(dim=0).cpu() + old.std(dim=0).cpu() * noise  # (n, H)
        embeddings[index.to(embeddings.device)] = rows.to(embeddings.dtype).to(embeddings.device)


def start_model(ws: Workspace, section: PanaceaSection, job: Job, template: str | None):
    """The base policy (its vocabulary extended for the template where the tokenizer lacks pieces, the new rows
    distinct, that copy saved in points/<job>/base) with a fresh SVD-LoRA, and the tokenizer."""
    k = len(ws.config.objectives)
    model, tokenizer = ws.load_base()
    reference = ws.base_reference()
    added = extend_vocabulary(model, tokenizer, vocabulary_texts(template, k)) if template is not None else []
    if added:
        distinct_new_rows(model, tokenizer.convert_tokens_to_ids(added), job.seed)
        folder = ws.run_dir / "points" / job.id
        with ws.training_dir(job.id) as work:
            model.save_pretrained(work / "base")
            tokenizer.save_pretrained(work / "base")
            shutil.rmtree(folder / "base", ignore_errors=True)
            os.replace(work / "base", folder / "base")
        reference = {"path": str((folder / "base").relative_to(ws.run_dir))}
    config = SVDLoRAConfig(section.rank, k, tuple(section.target_modules), base_model=reference["path"],
                           revision=reference.get("revision"))  # fmt: skip
    return inject_svd_lora(model, config, seed=job.seed), tokenizer


def train(ws: Workspace, section: PanaceaSection, job: Job) -> dict[str, Any]:
    """The trained adapter's record (path relative to the run dir, compute, metadata, spread history); a job
    whose record exists (trained before a kill) is not trained again."""
    folder = ws.run_dir / "points" / job.id
    if (folder / STATE).is_file():
        record = json.loads((folder / STATE).read_text())
        if (ws.run_dir / record["path"] / "svd_lora_config.json").is_file():
            for entry in record["history"]:  # the sweep dropped them with the interrupted attempt
                ws.tracker.log(**entry)
            if record.get("calibration_compute") is not None:  # the front may have lost it
                calibration = Compute.model_validate(record["calibration_compute"])
                ws.tracker.add_shared_compute(_online.PAR_REFERENCE, calibration)
            return record
    record = (train_dpo if section.loss == "dpo" else train_rl)(ws, section, job)
    write_text_atomic(folder / STATE, json.dumps(record))
    return record


def preference_sampler(section: PanaceaSection, k: int) -> AdaptivePreferences | None:
    """sampling 'adaptive': the sampler on its coarse das-dennis grid; None for plain Dirichlet draws."""
    if section.sampling != "adaptive":
        return None
    a = section.adaptive
    grid = weight_grid("das-dennis", k, n_partitions=a.n_partitions)  # (m, K)
    return AdaptivePreferences(grid, section.alpha, section.vertex_prob, a.concentration, a.uniform_mix, a.gap)  # fmt: skip


def add_hooks(ws: Workspace, section: PanaceaSection, job: Job, trainer, spread_evaluate, sampler, sampler_evaluate,
              k: int, policy_at, spent) -> list:  # fmt: skip
    """The spread history, the front's (`front_every`; `policy_at`, `spent`: FrontCallback's) and, with sampling
    'adaptive', the sampler's hook, on `trainer`; returns them (their `entries` are the record's history)."""
    hooks: list = [SpreadCallback(ws, job, section.history_every, spread_evaluate, k),
                   FrontCallback(ws, job, section.front_every, section.front_samples_per_prompt, policy_at, spent)]  # fmt: skip
    if sampler is not None:

        def log(entry: dict[str, Any]) -> None:
            entry.update(point_id=job.id, hypervolume=None, training=True, method="panacea", seed=job.seed)
            ws.tracker.log(**entry)
            ws.tracker.save(ws.run_dir)

        hooks.append(AdaptiveCallback(sampler, section.adaptive.every, sampler_evaluate, log))
    for hook in hooks:
        trainer.add_callback(hook)
    return hooks


def save_adapter(ws: Workspace, job: Job, model, tokenizer, work) -> str:
    """The adapter and tokenizer renamed into points/<job>/svd_lora once complete; its path in the run dir."""
    folder = ws.run_dir / "points" / job.id
    save_svd_lora(model, work / ADAPTER)
    tokenizer.save_pretrained(work / ADAPTER)
    shutil.rmtree(folder / ADAPTER, ignore_errors=True)
    os.replace(work / ADAPTER, folder / ADAPTER)
    return str((folder / ADAPTER).relative_to(ws.run_dir))


def evaluation_seconds(hooks: list) -> float:
    """Seconds the front's evaluations took while training (measurement, not the run's cost)."""
    return sum(e["seconds"] for hook in hooks if isinstance(hook, FrontCallback) for e in hook.entries)


def history_of(hooks: list) -> list[dict[str, Any]]:
    return sorted((e for hook in hooks for e in hook.entries), key=lambda e: e["step"])


def train_rl(ws: Workspace, section: PanaceaSection, job: Job) -> dict[str, Any]:
    """loss 'rl': one GRPO/RLOO run over preferences (module docstring)."""
    names = ws.config.objective_names
    k = len(names)
    scorer = _online.reward_scorer(ws, section)
    prompts = ws.setting.train_prompts()
    ref = _online.reference_rewards(ws, section, prompts, scorer)  # (P, K): the base policy's, scored once
    mean, std = ref.mean(axis=0), spread(ref)
    calibrated = CalibratedScorer(scorer, mean, std)
    data = datasets.Dataset.from_dict({"prompt": prompts})
    if section.par:
        data = data.add_column("ref_rewards", ((ref - mean) / std).tolist())
    rewards = PreferenceRewards(ObjectiveRewards(calibrated, names, [1.0 / k] * k, par=section.par),
                                section.scalarization)  # fmt: skip
    adapter = section.conditioning != "prompt"
    template = None if section.conditioning == "svd_lora" else section.resolved_template(names)
    condition = section.condition()
    write = (
        None if template is None else lambda p, lam: format_conditioned_prompt(p, lam, template, condition)
    )
    model, tokenizer = start_model(ws, section, job, template)
    if not adapter:  # the preference slots held at the simplex centre: a plain adapter of rank r + K
        set_preference(model, np.full(k, 1.0 / k))
    sampler = preference_sampler(section, k)

    def draw(t: int, n_prompts: int, groups: int) -> np.ndarray:
        rng = np.random.default_rng([job.seed, t])
        if sampler is not None:
            return sampler.sample_groups(rng, n_prompts, groups)
        return group_shared_preferences(rng, n_prompts, groups, k, section.alpha, section.vertex_prob)

    with ws.training_dir(job.id) as work:
        args = section.build_trl_config(reward_weights=rewards.weights(), seed=job.seed, output_dir=str(work / "trainer"),
                                        disable_tqdm=not ws.progress, **ws.tracking_args(job.id))  # fmt: skip
        start = time.perf_counter()
        trainer = TRAINERS[section.trainer](model=model, reward_funcs=rewards.functions(), args=args,
                                            train_dataset=data, processing_class=tokenizer, draw_preferences=draw,
                                            write_preference=write, condition_adapter=adapter)  # fmt: skip
        use_step_bar(trainer, f"training {job.id}", ws.progress)
        settings = GenerationSettings(max_new_tokens=int(args.max_completion_length))

        def evaluator(n_prompts: int, samples: int) -> SampledRewards:
            return SampledRewards(prompts[:n_prompts], samples, calibrated, tokenizer, settings, write, adapter, job.seed)  # fmt: skip

        def policy_at(lam: np.ndarray):
            policy = Policy(model, tokenizer, {}, direction=lam.tolist() if template else None, template=template,
                            condition=condition if template else None)  # fmt: skip
            return policy, preference(model, lam) if adapter else nullcontext()

        def spent() -> Compute:
            return Compute(policy_updates=trainer.state.global_step,
                           trained_tokens=int(trainer.state.num_input_tokens_seen) * args.num_iterations,
                           generated_tokens=rewards.objectives.generated_tokens, shared=[_online.PAR_REFERENCE])  # fmt: skip

        a = section.adaptive
        hooks = add_hooks(ws, section, job, trainer, evaluator(section.spread_prompts, section.history_samples_per_prompt),
                          sampler, evaluator(a.prompts, a.samples_per_prompt), k, policy_at, spent)  # fmt: skip
        with toolkit_sampling(model):
            result = trainer.train()
        seconds = time.perf_counter() - start - evaluation_seconds(hooks)
        path = save_adapter(ws, job, model, tokenizer, work)
    compute = Compute(wall_seconds=seconds, policy_updates=int(result.global_step),
                      trained_tokens=int(trainer.state.num_input_tokens_seen) * args.num_iterations,
                      generated_tokens=rewards.objectives.generated_tokens, shared=[_online.PAR_REFERENCE])  # fmt: skip
    calibration = ws.tracker.shared_compute[_online.PAR_REFERENCE].model_dump(mode="json")
    return {"path": path, "compute": compute.model_dump(mode="json"), "calibration_compute": calibration,
            "template": template, "condition": condition if template else None, "history": history_of(hooks),
            "metadata": {"loss": "rl", "trainer": section.trainer, "reward_source": section.reward_source,
                         "conditioning": section.conditioning, "scalarization": section.scalarization.kind,
                         "sampling": section.sampling, "calibration": {"mean": mean.tolist(), "std": std.tolist()},
                         "reward_scoring_seconds": rewards.objectives.scoring_seconds}}  # fmt: skip


def objective_pairs(ws: Workspace, section: PanaceaSection, work) -> datasets.Dataset:
    """Every objective's preference pairs as TRL trains on them, with the base policy's reference log-probs (MODPO's
    prepared pairs: tokenized once per sweep process, the log-probs kept in the run dir and shared with MODPO when
    the settings agree) and each pair's `objective` index."""
    from pareto_align.trainers.panacea_dpo import OBJECTIVE

    names = ws.config.objective_names
    pairs = ws.pairs("panacea (loss 'dpo')")
    objectives = np.asarray(pairs["objective"][:])
    missing = [name for name in names if not (objectives == name).any()]
    if missing:
        raise ConfigError(f"method.loss: 'dpo' learns each objective's trade-off from its preference pairs; the data "
                          f"has none for {missing} (objectives with pairs: {sorted(set(objectives))})")  # fmt: skip
    parts = []
    for k, name in enumerate(names):
        on_k = pairs.select(np.flatnonzero(objectives == name))
        prepared = modpo.prepared_pairs(ws, section, k, on_k, work)  # type: ignore[arg-type]
        # one objective's log-probs may come from MODPO's saved file (float32), another's computed here (float64):
        # the model computed both in float32, so the cast is exact, and the parts can be joined
        for column in ("ref_chosen_logps", "ref_rejected_logps"):
            if column in prepared.column_names:
                prepared = prepared.cast_column(column, datasets.Value("float32"))
        parts.append(prepared.add_column(OBJECTIVE, [k] * len(prepared)))
    return datasets.concatenate_datasets(parts)


def train_dpo(ws: Workspace, section: PanaceaSection, job: Job) -> dict[str, Any]:
    """loss 'dpo': one DPO run over preferences, each row its own lambda (trainers/panacea_dpo.py)."""
    from pareto_align.ranks import rank
    from pareto_align.trainers.panacea_dpo import OBJECTIVE, PanaceaDPOTrainer

    k = len(ws.config.objective_names)
    sampler = preference_sampler(section, k)
    rng = np.random.default_rng([job.seed, rank()])  # each process its own rows

    def draw(n: int) -> np.ndarray:
        if sampler is not None:
            return sampler.sample(rng, n)
        return sample_preferences(rng, n, k, section.alpha, section.vertex_prob)

    with ws.training_dir(job.id) as work:
        # the run pays for preparing the pairs (shared with MODPO when it comes first)
        start = time.perf_counter()
        data = objective_pairs(ws, section, work)
        counts = np.bincount(np.asarray(data[OBJECTIVE]), minlength=k)  # (K,)
        # c_k = 1 / (K p_k): each objective counts by lambda alone, however many pairs it has
        scale = (len(data) / (k * counts)).tolist()
        model, tokenizer = start_model(ws, section, job, None)
        args = section.build_trl_config(output_dir=str(work / "trainer"), weights=[1.0], trained_objective=0,
                                        seed=job.seed, disable_tqdm=not ws.progress, **ws.tracking_args(job.id))  # fmt: skip
        trainer = PanaceaDPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                    draw_preferences=draw, objective_scale=scale)  # fmt: skip
        use_step_bar(trainer, f"training {job.id}", ws.progress)

        def policy_at(lam: np.ndarray):
            return Policy(model, tokenizer, {}), preference(model, lam)

        def spent() -> Compute:
            return Compute(
                policy_updates=trainer.state.global_step, trained_tokens=int(trainer._total_train_tokens)
            )

        # the spread: responses sampled at the corners, scored as the front is (the pair measure, a few pairs'
        # log sigmoid margins, moves less than its noise across corners even when the responses follow lambda)
        ev = ws.config.evaluation
        spread_evaluate = SampledRewards(ws.setting.train_prompts()[: section.spread_prompts],
                                         section.history_samples_per_prompt, ws.scorer(ev.scorer), tokenizer,
                                         ev.generation, None, True, job.seed)  # fmt: skip
        hooks = add_hooks(ws, section, job, trainer, spread_evaluate, sampler,
                          PairRewards(trainer, data, section.adaptive.prompts, k), k, policy_at, spent)  # fmt: skip
        with toolkit_sampling(model):  # the callbacks sample as the front's evaluation does
            result = trainer.train()
        seconds = time.perf_counter() - start - evaluation_seconds(hooks)
        path = save_adapter(ws, job, model, tokenizer, work)
    compute = Compute(wall_seconds=seconds, policy_updates=int(result.global_step),
                      trained_tokens=int(trainer._total_train_tokens))  # fmt: skip
    return {"path": path, "compute": compute.model_dump(mode="json"), "calibration_compute": None,
            "template": None, "condition": None, "history": history_of(hooks),
            "metadata": {"loss": "dpo", "conditioning": section.conditioning, "sampling": section.sampling,
                         "objective_pairs": counts.tolist()}}  # fmt: skip


def run(job: Job, ws: Workspace) -> JobResult:
    """Train the conditioned model (or find it trained), then one point per weight vector of the sweep's grid."""
    section: PanaceaSection = ws.config.method  # type: ignore[assignment]
    record = train(ws, section, job)
    compute = Compute.model_validate(record["compute"])
    points = []
    for i, w in enumerate(ws.config.weight_vectors()):
        lam = [round(float(x), 10) for x in w]
        handle = {"kind": "conditioned", "path": record["path"], "direction": lam,
                  "conditioning": section.conditioning}  # fmt: skip
        if record["template"] is not None:
            handle.update(template=record["template"], condition=record["condition"])
        # the one run and (loss 'rl') the calibration, each paid once
        calibration = [_online.PAR_REFERENCE] if record.get("calibration_compute") else []
        shared = Compute(shared=[job.id, *calibration])
        points.append(TrainedPolicy(f"w{i:02d}-s{job.seed}", handle, job.seed, shared, weights=lam, direction=lam,
                                    step=compute.policy_updates, metadata={"grid_index": i, **record["metadata"]}))  # fmt: skip
    return JobResult(points, shared={job.id: compute.model_copy(update={"shared": []})})


BIBTEX = """@inproceedings{zhong2024panacea,
  title     = {Panacea: {Pareto} Alignment via Preference Adaptation for {LLMs}},
  author    = {Zhong, Yifan and Ma, Chengdong and Zhang, Xiaoyuan and Yang, Ziran and Chen, Haojun and Zhang, Qingfu and Qi, Siyuan and Yang, Yaodong},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {37},
  year      = {2024},
  eprint    = {2402.02030},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=PanaceaSection, name="panacea", display_name="Panacea", color="#44AA99", bibtex=BIBTEX
)  # colour: Tol muted teal
