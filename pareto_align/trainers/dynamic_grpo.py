"""TRL's GRPOTrainer with the two hooks dynamic reward weighting needs, and nothing else changed.

- `advantage_scale`: a factor on the advantages *after* TRL's normalization (group std, GDPO's normalize-then-sum),
  where a uniform multiplier on the reward would be cancelled. Set between steps; it applies from the next
  generation (buffered batches keep the advantages they were generated with).
- `gradient_probe`: on the optimizer steps it asks for, the per-objective policy gradients over a parameter subset
  from the *same* forward pass as the training loss: one forward, K backward passes through `retain_graph` down
  to the subset's lowest layer, then TRL's own backward. Each objective's advantage is its own reward normalized
  within the group as TRL normalizes the scalarized one (`scale_rewards`), so objectives on different scales
  compare by direction.
- `batch_weights`: a function of each training generation's per-objective rewards (N, F), gathered over
  processes, that returns the `reward_weights` (F,) to scalarize *that* batch with (C-MORL's barrier, whose
  coefficients depend on the batch's own objective means). TRL applies `reward_weights` right after
  `_calculate_rewards`, so the weights it returns act on the batch they were computed from.

The new `reward_weights` a probe sets are read by TRL at its next generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from trl import GRPOTrainer
from trl.trainer.utils import nanstd


class GradientProbe(Protocol):
    """Receives per-objective gradients; the trainer calls `due` before each loss and `observe` when due."""

    def due(self, trainer: DynamicGRPOTrainer) -> bool: ...

    def observe(self, trainer: DynamicGRPOTrainer, grads: torch.Tensor) -> None: ...

    @property
    def parameters(self) -> Sequence[torch.nn.Parameter]: ...


def objective_advantages(
    rewards: torch.Tensor, num_generations: int, scale_rewards: str | bool
) -> torch.Tensor:
    """Per-objective advantages (N, K) from per-objective rewards (N, K) in groups of `num_generations`
    consecutive rows: each objective centred on its group mean and scaled as TRL scales the scalarized reward
    ("group": by the group's std, "batch": by the batch's, "none"/False: not at all)."""
    n, k = rewards.shape
    grouped = rewards.view(-1, num_generations, k)
    centred = (grouped - torch.nanmean(grouped, dim=1, keepdim=True)).view(n, k)
    if scale_rewards in ("group", True):
        std = (
            nanstd(grouped, dim=1, keepdim=True) if num_generations > 1 else torch.zeros_like(grouped[:, :1])
        )
        centred = centred / (std.expand_as(grouped).reshape(n, k) + 1e-4)
    elif scale_rewards == "batch":
        centred = centred / (torch.stack([nanstd(rewards[:, i]) for i in range(k)]) + 1e-4)
    return torch.nan_to_num(centred, nan=0.0)


class DynamicGRPOTrainer(GRPOTrainer):
    """GRPOTrainer with `advantage_scale` and an optional per-objective `gradient_probe` (see the module doc).

    A probe sees the gradients of the first `n_objectives` reward functions (config order; default all of them).
    """

    def __init__(self, *args, n_objectives: int | None = None, gradient_probe: GradientProbe | None = None,
                 batch_weights: Callable[[torch.Tensor], Sequence[float]] | None = None, **kwargs) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.batch_weights = batch_weights
        self.n_objectives = n_objectives or len(self.reward_funcs)
        self.gradient_probe = gradient_probe
        self.advantage_scale = 1.0
        self._rewards_per_func: torch.Tensor | None = None  # gathered over processes, the last generation's
        self._probing = False
        self._probe_logps: torch.Tensor | None = None
        self.probe_seconds = 0.0

    # ------------------------------------------------------------------ generation: advantages
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards
        if self.batch_weights is not None and self.model.training:
            self.reward_weights = torch.tensor(list(self.batch_weights(rewards)), dtype=torch.float32)
        return rewards

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return out
        out["advantages"] = out["advantages"] * self.advantage_scale
        if self.gradient_probe is not None:
            rewards = self._rewards_per_func[:, : self.n_objectives]  # type: ignore[index]
            advantages = objective_advantages(rewards, self.num_generations, self.scale_rewards)
            n_local = len(out["advantages"])
            start = self.accelerator.process_index * n_local
            out["objective_advantages"] = advantages[
                start : start + n_local
            ]  # split and shuffled with the batch
        return out

    # ------------------------------------------------------------------ loss: per-objective gradients
    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        out = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        if self._probing and torch.is_grad_enabled():
            self._probe_logps = out[0]
        return out

    def _compute_loss(self, model, inputs):
        first_micro_batch = self._step % self.current_gradient_accumulation_steps == 0
        self._probing = bool(self.gradient_probe and first_micro_batch and self.gradient_probe.due(self))
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            probing, self._probing = self._probing, False
        if probing and self._probe_logps is not None:
            logps, self._probe_logps = self._probe_logps, None
            self.gradient_probe.observe(self, self._objective_gradients(logps, inputs))  # type: ignore[union-attr]
        return loss

    def _objective_gradients(self, logps: torch.Tensor, inputs) -> torch.Tensor:
        """(K, D) policy gradients of the objectives over the probe's parameters, at the batch's policy:
        g_k = grad of sum_t A_k * log pi(y_t) over the completion tokens, divided by their number."""
        start = time.perf_counter()
        params = list(self.gradient_probe.parameters)  # type: ignore[union-attr]
        mask = inputs["completion_mask"].to(logps.dtype)
        per_sequence = (logps * mask).sum(dim=1) / mask.sum().clamp(min=1.0)  # (B,)
        advantages = inputs["objective_advantages"].to(logps.dtype)  # (B, K)
        rows = []
        for k in range(advantages.shape[1]):
            grads = torch.autograd.grad((advantages[:, k] * per_sequence).sum(), params, retain_graph=True,
                                        allow_unused=True)  # fmt: skip
            rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                                   for g, p in zip(grads, params, strict=True)]))  # fmt: skip
        G = torch.stack(rows)  # (K, D)
        if self.accelerator.num_processes > 1:  # the gradient of the global batch, as DDP averages the loss's
            G = self.accelerator.reduce(G, reduction="mean")
        self.probe_seconds += time.perf_counter() - start
        return G
