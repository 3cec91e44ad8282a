"""MODPO: multi-objective direct preference optimization (Zhou et al., 2023, "Beyond One-Preference-Fits-All").

Training on the preference data of objective k with weights w (their Eq. 8, written as in the reference code):

    loss = -log sigmoid( (1 / w_k) * [ beta * (logratio(y_w) - logratio(y_l))
                                       - sum_{j != k} w_j * (r_j(x, y_w) - r_j(x, y_l)) ] )

with logratio(y) = log pi(y|x) - log pi_ref(y|x) and r_j margin rewards (reward-model heads). With K = 1 and no
margin it is DPO's sigmoid loss. The trainer is TRL's DPOTrainer with two changes: the collator carries the
precomputed per-pair margin, and `compute_loss` folds it into the precomputed reference log-probs:

    (1/w_k) [beta * delta - m] = (beta / w_k) * (delta - m / beta),   delta - m/beta = delta with ref_chosen += m/beta

so TRL's own sigmoid loss, run with beta' = beta / w_k, computes MODPO exactly, at the cost of a DPO step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from pareto_align.trainers.modpo_config import MODPOConfig


def modpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    margin: torch.Tensor,
    beta: float,
    w_k: float,
) -> torch.Tensor:
    """Per-pair MODPO loss, shape (B,). All inputs (B,); `margin` = sum_{j != k} w_j (r_j(y_w) - r_j(y_l))."""
    if w_k <= 0:
        raise ValueError(f"w_k must be > 0, got {w_k}")
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)  # (B,)
    return -F.logsigmoid((beta * delta - margin) / w_k)


def margin_rewards(reward_diffs: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Margins (N,) from reward differences r(y_w) - r(y_l) of shape (N, K): sum over j != k of w_j * diff_j."""
    w = np.asarray(weights, dtype=np.float64).copy()
    w[k] = 0.0
    return np.asarray(reward_diffs, dtype=np.float64) @ w


def choose_trained_objective(weights: list[float], preferred: int | None = None) -> int:
    """Objective k trained on: `preferred` when its weight is > 0, else the largest weight (first on ties)."""
    if preferred is not None and weights[preferred] > 0:
        return preferred
    return int(np.argmax(weights))


@dataclass
class DataCollatorWithMargin(DataCollatorForPreference):
    """TRL's preference collator, plus the per-pair `margin` column as a float tensor (B,)."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        output = super().torch_call(examples)
        output["margin"] = torch.tensor([float(ex["margin"]) for ex in examples], dtype=torch.float32)
        return output


class MODPOTrainer(DPOTrainer):
    """DPOTrainer whose loss is MODPO's. The train dataset needs a `margin` column (see `margin_rewards`)."""

    def __init__(self, model, args: MODPOConfig, **kwargs):
        if not isinstance(args, MODPOConfig):
            raise TypeError(f"MODPOTrainer needs args=MODPOConfig(...), got {type(args).__name__}")
        config = args
        if kwargs.get("data_collator") is None:
            processing_class = kwargs.get("processing_class")
            tokenizer = getattr(processing_class, "tokenizer", processing_class)
            kwargs["data_collator"] = DataCollatorWithMargin(
                pad_token_id=tokenizer.pad_token_id,
                max_length=config.max_length,
                truncation_mode=config.truncation_mode,
                pad_to_multiple_of=config.pad_to_multiple_of,
            )
        super().__init__(model, args=args, **kwargs)
        self.w_k = config.weights[config.trained_objective]
        self.dpo_beta = config.beta
        self.beta = config.beta / self.w_k  # beta' = beta / w_k, see module docstring

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "margin" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "margin"]

    def compute_ref_log_probs(self, model, inputs):
        return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != "margin"})

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        margin = inputs.pop("margin").to(inputs["ref_chosen_logps"].dtype)  # (B,)
        # Fold the margin into the reference: delta - m / beta (module docstring). Logged rewards/* are therefore
        # those of the margin-adjusted problem; `margin` is logged on its own.
        inputs["ref_chosen_logps"] = inputs["ref_chosen_logps"] + margin / self.dpo_beta
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["margin"].append(self.accelerator.gather_for_metrics(margin).mean().item())
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
