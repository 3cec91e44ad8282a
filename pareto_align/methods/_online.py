"""What every online method shares (contract: methods, docs/contracts.md): the per-objective reward a section
names, PAR's reference rewards, and one online RL run on TRL's GRPOTrainer or RLOOTrainer with its history,
mid-run checkpoints and resume.

- `RewardSection`: the fields that say how a method scores objectives while it trains (`reward_source`,
  `aggregation`, `uwo_lambda`) and their checks; `reward_scorer` builds that scorer. DPA and RiC (sections on
  `_conditioned.ConditionedSection`) and every online section below use it.
- `OnlineSection`: a `RewardSection` for an online RL run (trainer, scalarization, PAR, history). morlhf's section is
  one; Panacea's and dynamic weighting's extend it.
- `train`: one run on the scalarized reward. A method that adds to the run (dynamic weighting's weights or step
  size, C-MORL's snapshots and barrier) passes an `OnlineExtension`.

TRL's normalization passes through `method.trl`: `scale_rewards` ("group", TRL's default and GRPO's: advantages in
units of the group's spread, so weights set the direction of the update and not its size) and, for GRPO,
`multi_objective_aggregation` ("sum_then_normalize", the default: the scalarized reward is what the weights mean;
"normalize_then_sum" is GDPO's, which makes objectives of different scales count by their weights alone).
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import datasets
import numpy as np
from pydantic import Field
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

from pareto_align import ranks
from pareto_align.atomic import write_bytes_atomic, write_text_atomic
from pareto_align.front.schema import Compute
from pareto_align.methods.base import TRLSection, check_ideal
from pareto_align.models.generation import GenerationSettings, scorable_responses, toolkit_sampling
from pareto_align.models.loading import device, load_causal_lm
from pareto_align.models.policy import Policy
from pareto_align.objectives import Scalarization
from pareto_align.rewards import ObjectiveRewards
from pareto_align.scorers.specs import REWARD_SOURCE_HELP, RewardSource
from pareto_align.trainers.evaluating import EvaluatingCallback
from pareto_align.trainers.progress import use_step_bar

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.evaluate import Scorer
    from pareto_align.workspace import Workspace

TRAINERS = {"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}
PAR_REFERENCE = "par_reference"  # shared work: the base policy's reference responses, scored once per run


class RewardSection(TRLSection):
    """A section that scores objectives while it trains: which scorer (`reward_source`) and, for the reward
    model's ensemble heads, how they are aggregated."""

    reward_source: RewardSource = Field("objectives", description=REWARD_SOURCE_HELP)
    aggregation: Literal["mean", "wco", "uwo"] | None = Field(
        None,
        description="Ensemble aggregation per objective (Coste et al., 2023); default: reward_model.aggregation.",
    )
    uwo_lambda: float | None = Field(
        None, ge=0, description="UWO: mean - lambda * variance; default: the model's."
    )

    def check(self, config: SweepConfig) -> None:
        if self.reward_source == "gold" and config.data.source != "synthetic":
            raise ValueError("method.reward_source: 'gold' is only available on the built-in benchmark")
        if self.reward_source == "gold" and (self.aggregation or self.uwo_lambda is not None):
            raise ValueError(
                "method.aggregation: ensemble aggregation applies to reward_source 'reward_model' only"
            )
        super().check(config)


class OnlineSection(RewardSection):
    """The fields of one online RL run on the scalarized reward (morlhf's section, and the base of Panacea's and
    dynamic weighting's)."""

    # Defaults for the tiny benchmark model on CPU (TRL's lr of 1e-6 does not move a model this small): 2 prompts
    # x 8 completions per step, completions as long as the evaluation's. Completions are sampled as evaluation
    # samples (pure ancestral sampling), stated here so that neither a TRL default nor the model's
    # generation_config.json changes it (`train` hides the model's sampling defaults from TRL's generate()).
    DEFAULT_TRL: ClassVar[dict[str, Any]] = {
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "repetition_penalty": 1.0,
        "learning_rate": 2e-4,
        "max_steps": 60,
        "per_device_train_batch_size": 16,
        "num_generations": 8,
        "max_completion_length": 28,
        "logging_steps": 10,
        "save_strategy": "no",
        "report_to": "none",
        "lr_scheduler_type": "constant_with_warmup",
        "warmup_steps": 5,
    }
    MANAGED: ClassVar[dict[str, str]] = {
        "reward_weights": "the point's weight vector (and scalarization)",
        "output_dir": "inside the run directory",
        "seed": "the sweep's seeds",
    }

    trainer: Literal["grpo", "rloo"] = Field("grpo", description="TRL's GRPOTrainer or RLOOTrainer.")
    scalarization: Scalarization = Field(
        default_factory=Scalarization,
        description="linear (TRL's reward_weights) or tchebycheff (with ideal).",
    )
    par: bool = Field(False, description="PAR shaping: sigmoid(r - r_ref) per objective (Fu et al., 2025).")
    history_every: int = Field(
        20,
        ge=0,
        description="Evaluate the training policy every this many steps into front.json's history (0: off).",
    )
    history_samples_per_prompt: int = Field(
        8,
        ge=1,
        description="Responses per held-out prompt for history evaluations (the final point uses evaluation's).",
    )

    def trl_config_class(self) -> type:
        return TRAINERS[self.trainer][0]

    def validation_placeholders(self, config: SweepConfig) -> dict[str, Any]:
        k = len(config.objectives) + (self.scalarization.kind == "tchebycheff")
        return {"reward_weights": [1.0 / k] * k, "seed": 0}

    def check(self, config: SweepConfig) -> None:
        check_ideal(self.scalarization, len(config.objectives))
        # values TRL checks only when it first computes advantages, mid-training
        choices = {"multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
                   "scale_rewards": ("group", "batch", "none", True, False)}  # fmt: skip
        for key, allowed in choices.items():
            if key in self.trl and self.trl[key] not in allowed:
                raise ValueError(f"method.trl.{key}: {self.trl[key]!r} is not one of {list(allowed)}")
        super().check(config)


def reward_scorer(ws: Workspace, method: RewardSection) -> Scorer:
    """The per-objective reward a section names: the objectives' scorers, gold functions, or the reward model's
    heads (an ensemble aggregated per objective)."""
    return ws.scorer(method.reward_source, method.aggregation, method.uwo_lambda)


def reference_rewards(ws: Workspace, method: RewardSection, prompts: list, scorer: Scorer,
                      max_new_tokens: int | None = None) -> np.ndarray:  # fmt: skip
    """PAR's reference: the base policy's response to each training prompt, scored per objective (P, K). Computed
    once per run directory, a shared product whose cost is recorded once (`par_reference` in the run's compute).
    Responses are as long as the method's completions (`max_new_tokens`; default `trl.max_completion_length`)."""
    path = ws.run_dir / f"{PAR_REFERENCE}_{ws.source_name(method.reward_source)}.npy"
    cost_path = path.with_suffix(".json")
    built = path.exists()
    if ws.collective:  # the main process decides; each process then answers its share of the prompts
        built = ranks.broadcast(built)
    if not built:
        start = time.perf_counter()
        mine = prompts[ranks.shard(len(prompts))] if ws.collective else prompts
        model, tokenizer = ws.load_base(device())
        length = max_new_tokens or int(method.trl_args()["max_completion_length"])
        settings = GenerationSettings(max_new_tokens=length)
        seed = ws.config.evaluation.seed + 7919 * ranks.rank()
        out = Policy(model, tokenizer, {}).generate(mine, settings, seed=seed)
        ref = scorer.score(mine, scorable_responses(mine, out.responses)).double().numpy()  # (p, K)
        n_tokens = out.n_tokens
        if ws.collective:
            ref, n_tokens = ranks.gather(ref), int(ranks.total(n_tokens))  # (P, K)
        cost = Compute(wall_seconds=time.perf_counter() - start, generated_tokens=n_tokens)
        if ranks.is_main() or not ws.collective:
            write_text_atomic(cost_path, cost.model_dump_json())
            buffer = io.BytesIO()
            np.save(buffer, ref, allow_pickle=False)
            write_bytes_atomic(path, buffer.getvalue())
        if ws.collective:
            ranks.barrier()
    if ws.collective and not ranks.is_main():  # written by the main process, in its run directory
        path, cost_path = ws.shared_root / path.name, ws.shared_root / cost_path.name
    ws.tracker.add_shared_compute(PAR_REFERENCE, Compute.model_validate_json(cost_path.read_text()))
    return np.load(path, allow_pickle=False)


class HistoryCallback(EvaluatingCallback):
    """Evaluates the training policy every `every` steps into front.json's history (the front while it moves);
    steps for which `skip(step)` is true are left to another callback (one that evaluates there anyway)."""

    def __init__(self, ws: Workspace, point_id: str, weights: list[float], seed: int, every: int,
                 samples_per_prompt: int, tokenizer, method: str = "morlhf",
                 skip: Callable[[int], bool] = lambda step: False) -> None:  # fmt: skip
        self.ws, self.point_id, self.weights, self.seed, self.every = ws, point_id, weights, seed, every
        self.samples_per_prompt, self.tokenizer = samples_per_prompt, tokenizer
        self.method, self.skip = method, skip  # type: ignore[method-assign]

    def evaluate_at(self, step: int, model, **kwargs: Any) -> None:
        ev = self.ws.evaluate(Policy(model, self.tokenizer, {}), self.samples_per_prompt)
        self.ws.record_history(self.point_id, step, ev, weights=list(self.weights), method=self.method,
                               seed=self.seed, training=True)  # fmt: skip


class OnlineExtension:
    """What a method built on this one adds to one online RL run (dynamic reward weighting): its trainer class,
    callbacks, extra compute and metadata, and a state saved with every mid-run checkpoint (every
    `checkpoint_every` steps, into points/<id>/checkpoints/) and restored when a killed run resumes."""

    trainer_cls: type | None = None
    checkpoint_every: int = 0
    # the weights in use, read by the history callback when it records (None: the point's own)
    history_weights: list[float] | None = None
    # with PAR: the unshaped rewards too, as K reward functions at weight 0 after the objectives (C-MORL's barrier)
    raw_columns: bool = False

    def attach(self, trainer, rewards: ObjectiveRewards, tokenizer) -> None:
        """Add callbacks or probes to the constructed trainer."""

    def skip_history(self, step: int) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (before the trainer is built)."""

    def compute(self) -> Compute:
        """Work the method does beyond the RL updates (evaluations that steer it), counted in the point's cost."""
        return Compute()

    def metadata(self) -> dict[str, Any]:
        return {}


RESUME_STATE = "pareto_align_state.json"  # beside each Trainer checkpoint: the run's own state at that step


class _SaveState(TrainerCallback):
    """Writes the run's state (compute so far, the point's history, the extension's state) beside each
    checkpoint the Trainer saves, so that a resumed run continues with exactly what was in use."""

    def __init__(self, state: Callable[[], dict[str, Any]]) -> None:
        self.state = state

    def on_save(self, args, state, control, **kwargs):
        if args.should_save:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            write_text_atomic(folder / RESUME_STATE, json.dumps(self.state()))


def last_resumable_checkpoint(folder: Path) -> Path | None:
    """The latest Trainer checkpoint in `folder` whose run state was written too (a kill between the two leaves
    a checkpoint without it, which is not resumed from)."""
    if not folder.is_dir():
        return None
    steps = [(int(p.name.split("-")[1]), p) for p in folder.glob("checkpoint-*")
             if p.name.split("-")[1].isdigit() and (p / RESUME_STATE).exists()]  # fmt: skip
    return max(steps)[1] if steps else None


def start_policy(ws: Workspace, start: str | None) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config) to train from: the base policy with `policy.lora`'s fresh adapter; or a
    saved policy folder (relative to the run dir): full weights (fine-tuned in full, `policy.lora` unset), or a
    LoRA adapter loaded trainable onto the base, its training continued (no new adapter; TRL copies it as the KL
    reference adapter "ref", so the reference is the starting policy in both cases). The model stays where it
    loads: the trainer places it (on the job's device, or sharded under FSDP/ZeRO-3)."""
    if start is None:
        model, tokenizer = ws.load_base_to_train()
        return model, tokenizer, ws.peft_config()
    path = ws.run_dir / start
    if (path / "adapter_config.json").is_file():
        from peft import PeftModel

        base, tokenizer = ws.load_base()
        return PeftModel.from_pretrained(base, str(path), is_trainable=True), tokenizer, None
    model, tokenizer = load_causal_lm(str(path), ws.config.policy.trust_remote_code, trainable=True)
    return model, tokenizer, None


def reference_init_kwargs(ws: Workspace, from_base: bool, user: dict[str, Any] | None) -> dict[str, Any]:
    """How TRL loads a full fine-tune's KL reference from the policy's path (`model_init_kwargs`): frozen, so in
    `policy.dtype` rather than the policy's float32, and a hub base at its revision; the user's fields win. (TRL
    warns that model_init_kwargs are ignored: they are, for the policy, which is loaded already.)"""
    pinned = {"revision": ws.base_revision()} if from_base and ws.base_revision() else {}
    return {"dtype": ws.config.policy.dtype, **pinned, **(user or {})}


def train(ws: Workspace, section: OnlineSection, point_id: str, weights: list[float], seed: int, history: bool = True,
          extension: OnlineExtension | None = None, start: str | None = None) -> tuple[dict, Compute, dict]:  # fmt: skip
    """One online RL run on the scalarized reward into points/<point_id>/policy; returns its checkpoint handle,
    compute and metadata. With `history`, the training policy is evaluated into front.json's history. An
    `extension` (dynamic weighting) brings its trainer, callbacks and mid-run checkpoints, resumed after a kill.
    `start`: a policy folder (relative to the run dir; full weights or a LoRA adapter, see `start_policy`) to
    start from instead of the base policy (C-MORL's extensions); it is also the KL reference when the trainer has
    one."""
    ext = extension or OnlineExtension()
    names = ws.config.objective_names
    scorer = reward_scorer(ws, section)
    prompts = ws.setting.train_prompts()
    data = datasets.Dataset.from_dict({"prompt": prompts})
    shared = []
    if section.par:
        data = data.add_column("ref_rewards", reference_rewards(ws, section, prompts, scorer).tolist())
        shared.append(PAR_REFERENCE)
    rewards = ObjectiveRewards(scorer, names, weights, section.scalarization, par=section.par,
                               raw_columns=section.par and ext.raw_columns)  # fmt: skip
    trainer_cls = ext.trainer_cls or TRAINERS[section.trainer][1]
    checkpoints = ws.run_dir / "points" / point_id / "checkpoints"
    resume_from = last_resumable_checkpoint(checkpoints) if ext.checkpoint_every else None
    earlier_seconds = 0.0
    if resume_from is not None:
        saved = json.loads((resume_from / RESUME_STATE).read_text())
        earlier_seconds, rewards.generated_tokens = saved["wall_seconds"], saved["generated_tokens"]
        rewards.scoring_seconds = saved["reward_scoring_seconds"]
        ext.load_state_dict(saved["method"])
        for entry in saved["history"]:  # the point's history up to the checkpoint (the sweep dropped it)
            ws.tracker.log(**entry)
        ws.log(f"{point_id}: resuming from step {resume_from.name.split('-')[1]}")
    model, tokenizer, peft_config = start_policy(ws, start)
    from_base = start is None
    with ws.training_dir(point_id) as work:
        saving: dict[str, Any] = {"output_dir": str(work / "trainer")}
        if ext.checkpoint_every:
            saving = {"output_dir": str(checkpoints), "save_strategy": "steps", "save_steps": ext.checkpoint_every,
                      "save_total_limit": 2}  # fmt: skip
        args = section.build_trl_config(reward_weights=rewards.weights(), seed=seed, disable_tqdm=not ws.progress,
                                        **saving, **ws.tracking_args(point_id))  # fmt: skip
        full_fine_tune = peft_config is None and not hasattr(model, "peft_config")
        if full_fine_tune and args.beta:  # TRL loads a KL reference
            args.model_init_kwargs = reference_init_kwargs(ws, from_base, args.model_init_kwargs)
        start = time.perf_counter()
        trainer = trainer_cls(model=model, reward_funcs=rewards.functions(), args=args, train_dataset=data,
                              processing_class=tokenizer, peft_config=peft_config)  # fmt: skip
        use_step_bar(trainer, f"training {point_id}", ws.progress)
        if history:
            trainer.add_callback(HistoryCallback(ws, point_id, ext.history_weights or weights, seed,
                                                 section.history_every, section.history_samples_per_prompt,
                                                 tokenizer, section.name, ext.skip_history))  # fmt: skip
        ext.attach(trainer, rewards, tokenizer)
        if ext.checkpoint_every:

            def run_state() -> dict[str, Any]:
                mine = [e.model_dump(mode="json") for e in ws.tracker.history
                        if e.point_id == point_id]  # fmt: skip
                return {"wall_seconds": earlier_seconds + time.perf_counter() - start,
                        "generated_tokens": rewards.generated_tokens,
                        "reward_scoring_seconds": rewards.scoring_seconds,
                        "method": ext.state_dict(), "history": mine}  # fmt: skip

            trainer.add_callback(_SaveState(run_state))
        # TRL's sampling fields (DEFAULT_TRL, method.trl) alone decide how completions are sampled
        with toolkit_sampling(model):
            result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        seconds = earlier_seconds + time.perf_counter() - start
        handle = ws.save_policy(point_id, trainer.model, tokenizer, work, trainer=trainer)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the point is saved: its mid-run checkpoints are spent
    compute = Compute(wall_seconds=seconds, policy_updates=int(result.global_step),
                      trained_tokens=int(trainer.state.num_input_tokens_seen) * args.num_iterations,
                      generated_tokens=rewards.generated_tokens, shared=shared) + ext.compute()  # fmt: skip
    metadata = {"trainer": section.trainer, "reward_source": section.reward_source,
                "scalarization": section.scalarization.kind, "reward_scoring_seconds": rewards.scoring_seconds,
                **ext.metadata()}  # fmt: skip
    return handle, compute, metadata
