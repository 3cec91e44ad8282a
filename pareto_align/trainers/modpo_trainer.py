"""MODPO: multi-objective direct preference optimization (Zhou et al., 2023, "Beyond One-Preference-Fits-All").

Training on the preference data of objective k with weights w (their Eq. 8, written as in the reference code):

    loss = -log sigmoid( (1 / w_k) * [ beta * (logratio(y_w) - logratio(y_l))
                                       - sum_{j != k} w_j * (r_j(x, y_w) - r_j(x, y_l)) ] )

with logratio(y) = log pi(y|x) - log pi_ref(y|x) and r_j margin rewards (reward-model heads). With K = 1 and no
margin it is DPO's sigmoid loss. The trainer is TRL's DPOTrainer with two changes: the collator carries the
precomputed per-pair margin, and `compute_loss` folds it into the precomputed reference log-probs:

    (1/w_k) [beta * delta - m] = (beta / w_k) * (delta - m / beta),   delta - m/beta = delta with ref_chosen += m/beta

so TRL's own sigmoid loss, run with beta' = beta / w_k, computes MODPO exactly, at the cost of a DPO step.

Every point trained on objective k's pairs tokenizes the same pairs and precomputes the same reference log-probs
(only the margin and w_k differ). `prepare_pairs` does both once, through a MODPOTrainer, so that TRL's own code
computes them; a trainer given such a dataset (plus its margin column) skips both steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from pareto_align.trainers.modpo_config import MODPOConfig

PAIR_INDEX = "pair_index"  # a prepared row's index in the pairs it was prepared from
TOKENIZED = ("prompt_ids", "chosen_ids", "rejected_ids")  # columns of TRL's tokenized preference data
REFERENCE = ("ref_chosen_logps", "ref_rejected_logps")  # TRL's precomputed reference log-probs


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
            kwargs["data_collator"] = preference_collator(
                DataCollatorWithMargin, args, kwargs.get("processing_class")
            )
        super().__init__(model, args=args, **kwargs)
        self.w_k = config.weights[config.trained_objective]
        self.dpo_beta = config.beta
        self.beta = config.beta / self.w_k  # beta' = beta / w_k, see module docstring

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "margin" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "margin"]

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if has_columns(dataset, TOKENIZED):  # tokenized by `prepare_pairs` with the same settings
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if has_columns(dataset, REFERENCE):  # given with the data (see `prepare_pairs`)
            return dataset
        return super()._precompute_ref_logps(dataset, name, batch_size)

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


def preference_collator(collator_class: type, args: Any, processing_class: Any, **fields: Any) -> Any:
    """TRL's preference collator (or a subclass of it, with its own `fields`) with the trainer's padding and
    truncation settings, as DPOTrainer builds its own."""
    tokenizer = getattr(processing_class, "tokenizer", processing_class)
    return collator_class(pad_token_id=tokenizer.pad_token_id, max_length=args.max_length,
                          truncation_mode=args.truncation_mode, pad_to_multiple_of=args.pad_to_multiple_of,
                          **fields)  # fmt: skip


def has_columns(dataset, names: tuple[str, ...]) -> bool:
    """Whether `dataset` is an in-memory Dataset with every column of `names` (data prepared by `prepare_pairs`)."""
    return isinstance(dataset, datasets.Dataset) and set(names) <= set(dataset.column_names)


def prepare_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: datasets.Dataset,
    args: MODPOConfig,
    peft_config=None,
) -> datasets.Dataset:
    """`pairs` as MODPOTrainer trains on them, for every point that trains on them with the same settings.

    `pairs` has prompt/chosen/rejected (plain or conversational) and may carry the reference log-probs
    (`ref_chosen_logps`, `ref_rejected_logps`, from an earlier call: see `reference_logps`). The result is TRL's
    tokenized data (EOS, chat template, truncation; a pair whose prompt alone fills `max_length` is dropped), with
    the reference log-probs that TRL precomputes from `model` (with no adapter when `peft_config` is given, as in
    training) unless given, and `pair_index`, each row's index in `pairs`. A MODPOTrainer given it, plus a `margin`
    column, neither tokenizes nor precomputes again.
    """
    n = len(pairs)
    data = pairs.add_column("margin", [0.0] * n).add_column(PAIR_INDEX, list(range(n)))
    trainer = MODPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                           peft_config=peft_config)  # fmt: skip
    return trainer.train_dataset.remove_columns("margin")


def reference_logps(prepared: datasets.Dataset, n: int) -> np.ndarray:
    """[log pi_ref(y_w|x), log pi_ref(y_l|x)] of each of the `n` pairs `prepared` came from, (n, 2); NaN for a
    pair TRL dropped (it is not trained on)."""
    out = prepared.select_columns([PAIR_INDEX, *REFERENCE]).to_dict()
    logps = np.full((n, 2), np.nan)  # (n, 2)
    logps[out[PAIR_INDEX], 0] = out["ref_chosen_logps"]
    logps[out[PAIR_INDEX], 1] = out["ref_rejected_logps"]
    return logps


def with_reference_logps(pairs: datasets.Dataset, logps: np.ndarray) -> datasets.Dataset:
    """`pairs` with the reference log-probs `logps` (n, 2) of `reference_logps` as TRL's columns."""
    return pairs.add_column(REFERENCE[0], logps[:, 0].tolist()).add_column(REFERENCE[1], logps[:, 1].tolist())
