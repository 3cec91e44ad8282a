"""`method: modpo`: one MODPO policy per (weight vector, seed) (Zhou et al., 2023; see trainers/modpo_trainer.py).

Each job trains on the preference pairs of one objective k (the largest weight by default) with the margin
rewards of the others, from the reward model's heads, the implicit rewards of given policies (e.g. DPO models of
those objectives, as MODPO's reference code offers; trainers/implicit_reward.py) or, on the benchmark, the gold
functions.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import datasets
import numpy as np
import torch
from pydantic import Field
from trl import DPOConfig

from pareto_align import ranks
from pareto_align.errors import ConfigError
from pareto_align.front.schema import Compute, Front
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy, TRLSection, grid_jobs
from pareto_align.models.loading import device
from pareto_align.trainers.modpo_config import MODPOConfig
from pareto_align.trainers.modpo_trainer import (
    PAIR_INDEX,
    MODPOTrainer,
    choose_trained_objective,
    margin_rewards,
    prepare_pairs,
    reference_logps,
    with_reference_logps,
)
from pareto_align.trainers.progress import use_step_bar

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


class MODPOSection(TRLSection):
    """YAML section `method:` for `name: modpo`."""

    # Defaults for the tiny benchmark model on CPU: TRL's default lr (1e-6) is far too small for it, while 1e-4
    # makes responses run away in length; a small SFT term on the chosen responses keeps outputs diverse.
    DEFAULT_TRL: ClassVar[dict[str, Any]] = {
        "learning_rate": 5e-5,
        "beta": 0.1,
        "max_steps": 200,
        "per_device_train_batch_size": 16,
        "max_length": 64,
        "logging_steps": 25,
        "save_strategy": "no",
        "report_to": "none",
        "lr_scheduler_type": "constant_with_warmup",
        "warmup_steps": 10,
    }
    MANAGED: ClassVar[dict[str, str]] = {
        "weights": "the point's weight vector",
        "trained_objective": "method.trained_objective",
        "output_dir": "inside the run directory",
        "precompute_ref_log_probs": "always on: margins are folded into the reference log-probs",
        "seed": "the sweep's seeds",
    }

    name: Literal["modpo"] = "modpo"
    trained_objective: str = Field(
        "largest_weight",
        description="Objective whose preference data each grid point trains on: 'largest_weight' (ties: first in "
        "config order) or an objective name (grid points where its weight is 0 fall back to the largest weight).",
    )
    margin_source: Literal["objectives", "reward_model", "gold", "implicit_reward"] = Field(
        "objectives",
        description="Margin rewards r_j: each objective's own `scorer` ('objectives'; its reward-model head where "
        "it names none, as 'reward_model'), heads of the multi-head reward model (trained on the same noisy data, so on "
        "a comparable scale), the implicit rewards of `margin_policies`, or, on the built-in benchmark only, the "
        "gold functions (needs margin_scale calibration).",
    )
    margin_policies: dict[str, str] = Field(
        default_factory=dict,
        description="margin_source 'implicit_reward' only: objective -> policy (hub name or path) whose implicit "
        "reward margin_beta * log(pi_m(y|x) / pi_ref(y|x)) is that objective's margin, pi_ref the base policy; "
        "typically a DPO model of that objective's preferences (MODPO's reference code). It must share the base "
        "policy's tokenizer. Every objective that a grid point uses as a margin needs one.",
    )
    margin_beta: float = Field(
        0.1,
        gt=0,
        description="margin_source 'implicit_reward': beta of the implicit reward (the margin policy's DPO beta).",
    )
    margin_scale: float = Field(
        1.0, gt=0, description="Multiplier on margin rewards before they enter the loss."
    )

    def trl_config_class(self) -> type:
        return MODPOConfig

    def trl_args(self) -> dict[str, Any]:
        return without_cpu_checkpointing(super().trl_args(), self.trl)

    def trl_fields_of(self) -> type:
        return DPOConfig

    def validation_placeholders(self, config: SweepConfig) -> dict[str, Any]:
        k = len(config.objectives)
        return {"weights": [1.0 / k] * k, "trained_objective": 0, "seed": 0}

    def check(self, config: SweepConfig) -> None:
        names = config.objective_names
        if self.trained_objective not in ("largest_weight", *names):
            raise ValueError(
                f"method.trained_objective: {self.trained_objective!r} is not an objective {names}"
            )
        if self.margin_source == "gold" and config.data.source != "synthetic":
            raise ValueError("method.margin_source: 'gold' is only available on the built-in benchmark")
        self._check_margin_policies(config)
        super().check(config)

    def _check_margin_policies(self, config: SweepConfig) -> None:
        names = config.objective_names
        if self.margin_source != "implicit_reward":
            if self.margin_policies:
                raise ValueError("method.margin_policies: only used with margin_source 'implicit_reward'")
            return
        unknown = sorted(set(self.margin_policies) - set(names))
        if unknown:
            raise ValueError(f"method.margin_policies: unknown objective(s) {unknown}; configured: {names}")
        preferred = (
            None if self.trained_objective == "largest_weight" else names.index(self.trained_objective)
        )
        for w in config.weight_vectors():
            k = choose_trained_objective(list(w), preferred)
            missing = [
                names[j]
                for j, wj in enumerate(w)
                if j != k and wj > 0 and names[j] not in self.margin_policies
            ]
            if missing:
                raise ValueError(f"method.margin_policies: weight vector {[round(float(x), 4) for x in w]} trains on "
                                 f"'{names[k]}' with margins from {missing}, which have no margin policy")  # fmt: skip


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One job per (weight vector, seed) of the grid: a static grid, planned once."""
    names = config.objective_names
    method: MODPOSection = config.method  # type: ignore[assignment]
    preferred = (
        None if method.trained_objective == "largest_weight" else names.index(method.trained_objective)
    )
    return grid_jobs(config, trained_objective=lambda w: choose_trained_objective(w, preferred))


def train(
    ws: Workspace, section: MODPOSection, point_id: str, weights: list[float], k: int, seed: int
) -> tuple[dict, Compute]:
    """Train one MODPO policy on objective k's pairs into points/<point_id>/policy (renamed into place only when
    complete); returns its checkpoint handle and compute. With a one-hot weight on k this is DPO on k's pairs."""
    names = ws.config.objective_names
    pairs = ws.pairs("MODPO")
    objectives = pairs["objective"][:]
    if names[k] not in set(objectives):
        raise ConfigError(f"weights: point {point_id} trains on objective '{names[k]}', which has no preference pairs "
                          f"(objectives with pairs: {sorted(set(objectives))}); set method.trained_objective")  # fmt: skip
    on_k = np.asarray(objectives) == names[k]  # (N,)
    if any(w > 0 for j, w in enumerate(weights) if j != k):  # margins only where other objectives count
        if section.margin_source == "implicit_reward":
            diffs = ws.implicit_reward_diffs(section.margin_policies, section.margin_beta, section)  # (N, K)
        else:
            diffs = ws.reward_diffs(section.margin_source)  # (N, K)
        # NaN: an objective without a margin policy (weight 0 here, see MODPOSection.check) or a pair TRL drops
        diffs = np.nan_to_num(diffs * section.margin_scale, nan=0.0)
        margins = margin_rewards(diffs[on_k], np.asarray(weights), k)  # (N_k,)
    else:
        margins = np.zeros(int(on_k.sum()))
    with ws.training_dir(point_id) as work:
        args = section.build_trl_config(output_dir=str(work / "trainer"), weights=weights, trained_objective=k,
                                        seed=seed, disable_tqdm=not ws.progress,
                                        **ws.tracking_args(point_id))  # fmt: skip
        start = time.perf_counter()  # the first point on k also pays for preparing k's pairs
        prepared = prepared_pairs(ws, section, k, pairs.select(np.flatnonzero(on_k)), work)
        data = prepared.add_column("margin", margins[prepared[PAIR_INDEX][:]].tolist())
        model, tokenizer = ws.load_base_to_train()
        trainer = MODPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                               peft_config=ws.peft_config())  # fmt: skip
        use_step_bar(trainer, f"training {point_id}", ws.progress)
        result = trainer.train()
        seconds = time.perf_counter() - start
        handle = ws.save_policy(point_id, trainer.model, tokenizer, work, trainer=trainer)
    compute = Compute(wall_seconds=seconds, policy_updates=int(result.global_step),
                      trained_tokens=int(getattr(trainer, "_total_train_tokens", 0)))  # fmt: skip
    return handle, compute


def without_cpu_checkpointing(args: dict[str, Any], user_trl: dict[str, Any]) -> dict[str, Any]:
    """`args` (a DPOConfig's keyword arguments) with gradient checkpointing off on CPU unless the user's `trl:` sets
    it. TRL turns it on: each layer's activations are recomputed in the backward pass to save accelerator memory. A
    CPU run has the memory but not the time (the recomputation is ~20% of a quickstart step), and the gradients are
    the same bit for bit (tests/test_modpo.py). Like the device fields of hf_args.hardware_defaults, this follows
    the machine, so it stays out of the config hash."""
    if args.get("use_cpu") and "gradient_checkpointing" not in user_trl:
        args["gradient_checkpointing"] = False
    return args


# TRL fields read only by the optimization, after the reference pass: sweeps that differ in nothing else (a
# comparison's MODPO and its soups' specialists) share the reference log-probs.
OPTIMIZATION_ONLY = frozenset({
    "learning_rate", "max_steps", "num_train_epochs", "warmup_steps", "warmup_ratio", "lr_scheduler_type",
    "lr_scheduler_kwargs", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "optim",
    "gradient_accumulation_steps", "gradient_checkpointing", "beta", "loss_type", "loss_weights",
    "label_smoothing", "logging_steps", "logging_strategy", "logging_first_step", "save_strategy", "save_steps",
    "report_to", "disable_tqdm",
})  # fmt: skip

# Objective k's pairs as MODPO trains on them, per workspace (so per sweep process): see `prepared_pairs`
_PREPARED: weakref.WeakKeyDictionary[Workspace, dict[str, datasets.Dataset]] = weakref.WeakKeyDictionary()


def reference_key(section: MODPOSection) -> str:
    """Hash of what the reference log-probs of a pair depend on besides the data and the policy: the TRL settings
    of tokenization and of the reference pass (batches are padded together), and the device."""
    trl = {key: value for key, value in section.effective()["trl"].items() if key not in OPTIMIZATION_ONLY}
    payload = json.dumps({"trl": trl, "device": device()}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def prepared_pairs(
    ws: Workspace, section: MODPOSection, k: int, pairs: datasets.Dataset, work: Path
) -> datasets.Dataset:
    """Objective k's pairs, tokenized by TRL and with the reference policy's log-probs, as every point trained on k
    takes them: only the margin differs between those points. Tokenized once per sweep process (kept in memory);
    the reference log-probs computed once per objective and kept in the run dir (`ref_logps_<objective>_<key>`,
    through `shared_dir` in a comparison), so a resumed sweep reads them back."""
    objective, key = ws.config.objective_names[k], reference_key(section)
    name = f"ref_logps_{objective}_{key}"
    kept = _PREPARED.setdefault(ws, {})
    if name not in kept:
        logps = ws.load_array(name)  # (N_k, 2), or None: no point has trained on k yet
        raw = pairs.select_columns(["prompt", "chosen", "rejected"])
        if logps is not None:
            raw = with_reference_logps(raw, logps)
        # several processes: TRL caches the reference pass beside a dataset's files, which they must share
        raw = ranks.shared_dataset(raw, ranks.shared_folder(ws.shared_root, f"modpo-{name}"))
        args = section.build_trl_config(output_dir=str(work / "prepare"), weights=[1.0], trained_objective=0,
                                        seed=0, disable_tqdm=not ws.progress, report_to="none")  # fmt: skip
        model, tokenizer = ws.load_base()
        prepared = prepare_pairs(model, tokenizer, raw, args, ws.peft_config())
        del model  # the trainer's reference cycles would keep it on the GPU beside the copy training loads
        if torch.cuda.is_available():
            gc.collect()
            torch.cuda.empty_cache()
        if logps is None:
            ws.save_array(name, reference_logps(prepared, len(raw)))
        kept[name] = prepared
    return kept[name]


def run(job: Job, ws: Workspace) -> JobResult:
    """One MODPO policy for the job's weight vector."""
    k = job.metadata["trained_objective"]
    handle, compute = train(ws, ws.config.method, job.id, job.weights, k, job.seed)  # type: ignore[arg-type]
    point = TrainedPolicy(job.id, handle, job.seed, compute, weights=job.weights, step=compute.policy_updates,
                          metadata={"trained_objective": ws.config.objective_names[k],
                                    "grid_index": job.metadata["grid_index"]})  # fmt: skip
    return JobResult([point])


BIBTEX = """@inproceedings{zhou2024modpo,
  title     = {Beyond One-Preference-Fits-All Alignment: Multi-Objective Direct Preference Optimization},
  author    = {Zhou, Zhanhui and Liu, Jie and Shao, Jing and Yue, Xiangyu and Yang, Chao and Ouyang, Wanli and Qiao, Yu},
  booktitle = {Findings of the Association for Computational Linguistics: ACL 2024},
  year      = {2024},
  eprint    = {2310.03708},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=MODPOSection, name="modpo", display_name="MODPO", color="#0072B2", bibtex=BIBTEX, shardable=True
)  # colour: Okabe-Ito blue
