"""TRL's DPOTrainer trained over preferences: Panacea's offline loss (Zhong et al., 2024, arXiv 2402.02030).

Panacea aggregates the objectives' DPO losses with the preference that conditions the model (the paper's
"linear loss aggregation" with DPO): at lambda,

    L(theta; lambda) = sum_k lambda_k * L_DPO(pi_theta(.|x, lambda); D_k)

and training draws lambda afresh for every batch. Here every batch mixes the objectives' pairs, and each **row**
(one pair of objective k_i) draws its own lambda_i, so one forward pass trains many trade-offs:

    loss = mean_i  c_{k_i} * lambda_{i, k_i} * l_i,   l_i = -log sigmoid(beta * [(log pi(y_w|x, lambda_i) - log
                                                                        pi_ref(y_w|x)) - (same for y_l)])

an unbiased estimate of E_lambda[sum_k lambda_k L_DPO,k] (times a constant) when c_k = 1 / (K p_k) corrects for
objective k's share p_k of the rows (`objective_scale`; 1 when the objectives have as many pairs each). With TRL's
`loss_type: [sigmoid, sft]`, each row's SFT term (mean NLL of its chosen tokens) is weighted the same way: it is
part of objective k's loss.

What changes against TRL, and nothing else:
- the collator (`PreferenceCollator`) carries each row's objective index (a dataset column TRL's collator drops)
  and draws its lambda from `draw(n) -> (n, K)` (the method's sampler, uniform or adaptive), as `preference` (B, K);
- the loss forward sets lambda row by row on the SVD-LoRA layers: the batch is [chosen rows; rejected rows], so the
  rows get cat([lambda, lambda]) (2B, K). It stays set after the forward: gradient checkpointing recomputes the
  forward in backward, which must see the same lambda;
- the reference log-probs are precomputed (the reference is the base: the SVD-LoRA starts at sigma = s = 0, and
  lambda does not act on it), given with the data as MODPO's (`ref_chosen_logps`, `ref_rejected_logps`), so a
  comparison's MODPO and Panacea share them;
- the loss is the weighted sum above (`panacea_dpo_loss`), computed from TRL's fused per-token log-probs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from pareto_align.models.svd_lora import set_preference
from pareto_align.trainers.modpo_trainer import REFERENCE, TOKENIZED, has_columns, preference_collator

OBJECTIVE = "objective"  # the dataset column: each pair's objective index k in config order
PREFERENCE = "preference"  # the batch key: each row's lambda (B, K)

DrawPreferences = Callable[[int], np.ndarray]  # n -> (n, K), each row on the simplex


def panacea_dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    preference: torch.Tensor,
    objective: torch.Tensor,
    beta: float,
    objective_scale: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row DPO loss l_i (B,), each row's weight c_{k_i} * lambda_{i, k_i} (B,), and their weighted mean ().

    Log-probs (B,); `preference` (B, K) each row's lambda; `objective` (B,) long, each row's k; `objective_scale`
    (K,) the c_k of the module docstring (None: all 1)."""
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)  # (B,)
    losses = -F.logsigmoid(beta * delta)  # (B,)
    weights = preference.gather(1, objective.view(-1, 1)).squeeze(1).to(losses.dtype)  # (B,): lambda_{i, k_i}
    if objective_scale is not None:
        weights = weights * objective_scale.to(losses.device, losses.dtype)[objective]  # (B,)
    return losses, weights, (weights * losses).mean()


@dataclass
class PreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, plus each row's `objective` (B,) long and a freshly drawn `preference` (B, K)."""

    draw: DrawPreferences | None = None

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        output = super().torch_call(examples)
        output[OBJECTIVE] = torch.tensor([int(ex[OBJECTIVE]) for ex in examples], dtype=torch.long)
        if self.draw is None:
            raise RuntimeError("PreferenceCollator needs draw=... (n -> (n, K) preferences)")
        lam = np.asarray(self.draw(len(examples)), dtype=np.float32)  # (B, K)
        output[PREFERENCE] = torch.from_numpy(lam)
        return output


class PanaceaDPOTrainer(DPOTrainer):
    """DPOTrainer whose loss is Panacea's preference-weighted DPO over an SVD-LoRA policy (module docstring). The
    train dataset has TRL's tokenized columns, the reference log-probs and an `objective` column."""

    def __init__(self, model, args, *, draw_preferences: DrawPreferences,
                 objective_scale: list[float] | None = None, **kwargs: Any) -> None:  # fmt: skip
        unsupported = set(args.loss_type) - {"sigmoid", "sft"}
        other = args.ld_alpha is not None or args.use_weighting or args.f_divergence_type != "reverse_kl"
        if unsupported or other or not args.precompute_ref_log_probs:
            raise ValueError("Panacea DPO supports loss_type 'sigmoid' (+ optional 'sft'), without ld_alpha, "
                             "use_weighting or an f-divergence, with precomputed reference log-probs")  # fmt: skip
        kwargs["data_collator"] = preference_collator(PreferenceCollator, args, kwargs.get("processing_class"),
                                                      draw=draw_preferences)  # fmt: skip
        super().__init__(model, args=args, **kwargs)
        self.objective_scale = None if objective_scale is None else torch.tensor(objective_scale)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if OBJECTIVE not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, OBJECTIVE]

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        # tokenized with the same settings (methods/modpo.prepared_pairs)
        if has_columns(dataset, TOKENIZED):
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if not has_columns(dataset, REFERENCE):
            raise ValueError("Panacea DPO takes the base policy's reference log-probs with the data "
                             "(ref_chosen_logps, ref_rejected_logps)")  # fmt: skip
        return dataset

    def pair_logps(self, model, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The policy's summed log-probs of the chosen and rejected completions (B,) each, and the per-token
        log-probs of the chosen completions with their mask (B, T-1) stacked as (2, B, T-1), at each row's lambda
        (set on the SVD-LoRA layers, (2B, K), and left set; module docstring)."""
        lam = inputs[PREFERENCE]  # (B, K)
        set_preference(model, torch.cat([lam, lam]))  # (2B, K): rows are [chosen; rejected]
        completion_mask = inputs["completion_mask"]  # (2B, T)
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)  # (2B, T)
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
                        use_cache=False, fused_lm_head=True)  # fmt: skip
        shift_mask = completion_mask[..., 1:]  # (2B, T-1)
        per_token = outputs.log_probs[:, -shift_mask.size(1) :]  # (2B, T-1); 0 off the completion
        chosen, rejected = per_token.sum(dim=1).chunk(2)  # (B,) each
        chosen_tokens = torch.stack([per_token.chunk(2)[0], shift_mask.chunk(2)[0].to(per_token.dtype)])
        return chosen, rejected, chosen_tokens  # (B,), (B,), (2, B, T-1)

    def _compute_loss(self, model, inputs, return_outputs):
        if return_outputs:
            raise ValueError("Panacea DPO does not return logits (return_outputs)")
        mode = "train" if self.model.training else "eval"
        chosen, rejected, (chosen_token_logps, chosen_mask) = self.pair_logps(model, inputs)
        objective = inputs[OBJECTIVE]  # (B,)
        losses, weights, dpo = panacea_dpo_loss(chosen, rejected, inputs["ref_chosen_logps"],
                                                inputs["ref_rejected_logps"], inputs[PREFERENCE], objective,
                                                self.beta, self.objective_scale)  # fmt: skip
        loss = 0.0
        for loss_type, loss_weight in zip(self.loss_types, self.loss_weights, strict=True):
            if loss_type == "sigmoid":
                loss = loss + loss_weight * dpo
            else:  # "sft": each row's mean NLL of its chosen tokens, weighted as its DPO term
                tokens = chosen_mask.sum(dim=1).clamp(min=1)  # (B,)
                nll = -(chosen_token_logps * chosen_mask).sum(dim=1) / tokens  # (B,)
                loss = loss + loss_weight * (weights * nll).mean()
        if mode == "train":
            tokens = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        ref_margin = inputs["ref_chosen_logps"] - inputs["ref_rejected_logps"]  # (B,)
        margins = self.beta * (chosen - rejected - ref_margin)  # (B,)
        metrics = self._metrics[mode]
        metrics["rewards/margins"].append(self.accelerator.gather(margins.detach()).mean().item())
        metrics["rewards/accuracies"].append(self.accelerator.gather((margins > 0).float()).mean().item())
        metrics["dpo_loss"].append(self.accelerator.gather(losses.detach()).mean().item())
        metrics["preference_weight"].append(self.accelerator.gather(weights.detach()).mean().item())
        return loss
