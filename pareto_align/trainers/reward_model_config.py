"""Configuration of the multi-head reward model: the `reward_model:` section of a sweep YAML."""

from __future__ import annotations

import os
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from transformers import TrainingArguments

from pareto_align.hf_args import check_dataclass_kwargs

# Sized for the built-in benchmark's tiny Llama on two CPU cores. A hub-sized backbone wants a much smaller
# learning rate (1e-5 is usual for full fine-tuning of a reward model): set `training.learning_rate`.
DEFAULT_TRAINING: dict[str, Any] = {
    "learning_rate": 1e-3,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "weight_decay": 0.0,
    "logging_steps": 10,
    "save_strategy": "no",
    "report_to": "none",
}

# Set by the toolkit itself; a user value would be silently overridden, so it is refused instead.
RESERVED_TRAINING_KEYS: dict[str, str] = {
    "output_dir": "the reward model is saved under the run directory",
    "seed": "set reward_model.seed instead",
    "remove_unused_columns": "the reward collator needs every column",
}


class RewardModelConfig(BaseModel):
    """Multi-head reward model: backbone, ensemble, aggregation and training hyper-parameters."""

    model_config = ConfigDict(extra="forbid")

    backbone: str | None = Field(
        default=None,
        description="Model name or local path of the reward backbone (loaded without its LM head). "
        "None uses the run's base policy, copied.",
    )
    ensemble_size: int = Field(
        default=1,
        ge=1,
        description="Number of ensemble members M; each is its own backbone with K heads (Coste et al. 2023).",
    )
    aggregation: Literal["mean", "wco", "uwo"] = Field(
        default="mean",
        description="How member rewards are combined: mean, wco (worst case: min over members) or uwo "
        "(mean - uwo_lambda * variance over members).",
    )
    uwo_lambda: float = Field(
        default=0.5, ge=0.0, description="Variance penalty of the uncertainty-weighted (uwo) aggregation."
    )
    bootstrap: bool = Field(
        default=False,
        description="Weight each training row by an independent Poisson(1) count per member (online bootstrap), "
        "so members also differ in data, not only in head initialisation.",
    )
    score_loss_weight: float = Field(
        default=1.0,
        ge=0.0,
        description="Weight of the attribute-score MSE term relative to the pairwise Bradley-Terry term.",
    )
    max_length: int = Field(
        default=128, ge=2, description="Maximum tokens per prompt+response; longer texts keep their end."
    )
    test_fraction: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="Fraction of prompts held out (all their pairs and scores) to measure pairwise accuracy.",
    )
    seed: int = Field(
        default=0, description="Seed of the split, head initialisation, bootstrap and training."
    )
    trust_remote_code: bool = Field(
        default=False,
        description="Allow a backbone whose code lives in its repository. Off unless you trust it.",
    )
    training: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed to transformers.TrainingArguments, over the toolkit's defaults "
        f"{DEFAULT_TRAINING}; unknown names are rejected.",
    )

    @field_validator("training")
    @classmethod
    def _check_training(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_dataclass_kwargs(TrainingArguments, value, "reward_model.training")
        for key, why in RESERVED_TRAINING_KEYS.items():
            if key in value:
                raise ValueError(f"reward_model.training.{key}: set by the toolkit ({why})")
        return value

    def training_kwargs(self) -> dict[str, Any]:
        """TrainingArguments keyword arguments: defaults, then the user's `training`, then the toolkit's own."""
        kwargs = {**DEFAULT_TRAINING, **self.training}
        kwargs.setdefault("use_cpu", not torch.cuda.is_available())
        kwargs.setdefault("disable_tqdm", bool(os.environ.get("TQDM_DISABLE")))
        kwargs["seed"] = self.seed
        kwargs["remove_unused_columns"] = False
        return kwargs
