"""MODPO configuration: TRL's DPOConfig plus the multi-objective fields (Zhou et al., 2023)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from trl import DPOConfig

from pareto_align.hf_args import check_dataclass_kwargs


@dataclass
class MODPOConfig(DPOConfig):
    """Configuration of one MODPO run: one weight vector, one trained objective.

    Reference log-probs are always precomputed once before training (TRL's `precompute_ref_log_probs`), and so are
    the margin rewards (a dataset column), so a MODPO step costs what a DPO step costs. The reference
    implementation recomputes both every step.
    """

    weights: list[float] = field(
        default_factory=lambda: [1.0],
        metadata={"help": "Preference weights w over the K objectives (non-negative, summing to 1)."},
    )
    trained_objective: int = field(
        default=0,
        metadata={"help": "Index k of the objective whose preference data is trained on; w_k must be > 0."},
    )

    def __post_init__(self):
        # The margin is folded into the precomputed reference log-probs (see MODPOTrainer.compute_loss).
        self.precompute_ref_log_probs = True
        super().__post_init__()
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1.0) > 1e-6:
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights}")
        if not 0 <= self.trained_objective < len(self.weights):
            raise ValueError(
                f"trained_objective {self.trained_objective} is not an index of weights {self.weights}"
            )
        if self.weights[self.trained_objective] <= 0:
            raise ValueError(
                f"MODPO divides by the weight of the trained objective: weights[{self.trained_objective}] must be > 0, "
                f"got {self.weights}"
            )
        unsupported = set(self.loss_type) - {"sigmoid", "sft"}
        if unsupported:
            raise ValueError(
                f"MODPO supports loss_type 'sigmoid' (+ optional 'sft'), got {sorted(unsupported)}"
            )


# Defaults for the tiny benchmark model on CPU: TRL's default lr (1e-6) is far too small for it, while 1e-4 makes
# responses run away in length; a small SFT term on the chosen responses keeps outputs diverse.
DEFAULT_TRL_ARGS: dict[str, Any] = {
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


class MODPOMethodConfig(BaseModel):
    """YAML section `method:` for `name: modpo`."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["modpo"] = "modpo"
    trained_objective: str = Field(
        "largest_weight",
        description="Objective whose preference data each grid point trains on: 'largest_weight' (ties: first in "
        "config order) or an objective name (grid points where its weight is 0 fall back to the largest weight).",
    )
    margin_source: Literal["reward_model", "gold"] = Field(
        "reward_model",
        description="Margin rewards r_j: heads of the multi-head reward model (trained on the same noisy data, so on "
        "a comparable scale) or, on the built-in benchmark only, the gold functions (needs margin_scale calibration).",
    )
    margin_scale: float = Field(
        1.0, gt=0, description="Multiplier on margin rewards before they enter the loss."
    )
    trl: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields of trl.DPOConfig (learning_rate, beta, max_steps, loss_type, ...), over DEFAULT_TRL_ARGS.",
    )

    @field_validator("trl")
    @classmethod
    def _known_trl_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        managed = {"weights", "trained_objective", "output_dir", "precompute_ref_log_probs", "seed"}
        bad = managed & set(value)
        if bad:
            raise ValueError(f"{sorted(bad)} are set by the sweep and cannot be given in method.trl")
        return check_dataclass_kwargs(DPOConfig, value, "trl")

    def trl_args(self) -> dict[str, Any]:
        return {**DEFAULT_TRL_ARGS, **self.trl}
