"""TRL's RLOOTrainer with `DynamicGRPOTrainer`'s `batch_weights` hook, and nothing else changed.

`batch_weights`: a function of each training generation's per-objective rewards (N, F), gathered over processes
by TRL, that returns the `reward_weights` (F,) to scalarize *that* batch with (C-MORL's barrier, whose
coefficients depend on the batch's own objective means). RLOO applies `reward_weights` right after
`_calculate_rewards`, before its leave-one-out baseline, so the weights act on the batch they were computed from;
every process computes them from the same gathered rewards, so they agree under DDP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from trl import RLOOTrainer


class DynamicRLOOTrainer(RLOOTrainer):
    """RLOOTrainer whose `reward_weights` can be set per training batch by `batch_weights` (see the module doc)."""

    def __init__(self, *args, batch_weights: Callable[[torch.Tensor], Sequence[float]] | None = None,
                 **kwargs) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.batch_weights = batch_weights

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # (N, F)
        if self.batch_weights is not None and self.model.training:
            self.reward_weights = torch.tensor(list(self.batch_weights(rewards)), dtype=torch.float32)
        return rewards
