"""TRL's GRPOTrainer (or RLOOTrainer) trained over preferences: Panacea's online loop (Zhong et al., 2024).

What changes against TRL, and nothing else:
- each generation batch draws one preference lambda per prompt **group** (`draw_preferences`: all G completions of
  a prompt share it, so the group baseline compares completions of one trade-off; prompts of a batch get different
  ones), and every row carries it: as a `preference` input that reward functions receive (they scalarize with it),
  written into the prompt (`write_preference`, conditioning 'prompt' / 'both'), and as a tensor in the rollout
  (`preference`, shape (B, K)) that TRL shuffles and splits with the batch;
- with `condition_adapter`, every forward pass sets lambda row by row on the SVD-LoRA layers from that tensor:
  generation, the old and reference log-probs, and the loss. The lambda of the update is thus exactly the lambda
  of the generation, row by row, however TRL reorders or chunks the batch (`_get_per_token_logps_and_entropies`
  sets each chunk's rows);
- the KL reference is the policy with its SVD-LoRA switched off (`svd_lora.disabled`), which *is* the base model
  (the adapter is an additive update), instead of a second copy of the base that TRL would load from its path
  (one that would also lack the vocabulary a prompt template may have added). The KL stays outside the
  scalarization, as TRL applies it (`beta`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from trl import GRPOTrainer, RLOOTrainer

from pareto_align.models.svd_lora import disabled, preference, set_preference

# (generation index, prompts, G) -> preferences (prompts * G, K), each prompt's repeated for its G rows
DrawPreferences = Callable[[int, int, int], np.ndarray]


class _AdapterOff:
    """The policy with its SVD-LoRA off: the base model, used as TRL's KL reference without a second copy."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with disabled(self.model):
            return self.model(*args, **kwargs)


class PreferenceConditionedMixin:
    """The Panacea changes (module docstring) on top of TRL's GRPOTrainer or RLOOTrainer (same method names)."""

    def __init__(self, *args: Any, draw_preferences: DrawPreferences,
                 write_preference: Callable[[Any, np.ndarray], Any] | None = None,
                 condition_adapter: bool = True, **kwargs: Any) -> None:  # fmt: skip
        config = kwargs["args"]
        beta = config.beta
        # TRL would load a second copy of the base as the KL reference: the policy with its adapter off is the base
        config.beta = 0.0
        try:
            super().__init__(*args, **kwargs)
        finally:
            config.beta = beta
        self.beta = beta
        self.ref_model = _AdapterOff(self.model) if beta else None
        self.draw_preferences, self.write_preference = draw_preferences, write_preference
        self.condition_adapter = condition_adapter
        self._rows: torch.Tensor | None = None  # (B, K): the preferences of the rows being forwarded
        self._generations = 0  # generation batches drawn so far: the preference stream's position

    # ------------------------------------------------------------------ generation: draw and carry lambda
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        groups = self.num_generations if self.model.training else self.num_generations_eval
        n_local = len(inputs)
        n_global = n_local * self.accelerator.num_processes
        # every process draws the whole batch's preferences and keeps its rows (a group may straddle processes)
        lam_all = self.draw_preferences(self._generations, n_global // groups, groups)  # (n_global, K)
        self._generations += 1
        start = self.accelerator.process_index * n_local
        lam = lam_all[start : start + n_local]  # (B, K)
        inputs = [{**x, "plain_prompt": x["prompt"], "preference": lam[i].tolist(),
                   "prompt": self.write_preference(x["prompt"], lam[i]) if self.write_preference else x["prompt"]}
                  for i, x in enumerate(inputs)]  # fmt: skip
        rows = torch.tensor(lam, dtype=torch.float32, device=self.accelerator.device)  # (B, K)
        self._rows = rows if self.condition_adapter else None
        try:
            with preference(self.model, rows) if self.condition_adapter else nullcontext():
                out = super()._generate_and_score_completions(inputs)
        finally:
            self._rows = None
        out["preference"] = rows  # (B, K), row-aligned: shuffled and split with the rollout
        return out

    # ------------------------------------------------------------------ every forward: lambda row by row
    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, **kwargs):  # fmt: skip
        rows = self._rows
        if rows is None:
            return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep,
                                                              batch_size, **kwargs)  # fmt: skip
        # TRL chunks the rows by batch_size; each chunk gets its own rows' preferences. They stay set after the
        # forward: gradient checkpointing runs the forward again in backward, which must see the same lambda
        # (so a forward with gradients is one chunk: TRL's loss forward is)
        chunk = batch_size or input_ids.size(0)
        if torch.is_grad_enabled() and chunk < input_ids.size(0):
            raise RuntimeError("panacea: a forward with gradients must be one chunk (lambda set per forward)")
        target = model.model if isinstance(model, _AdapterOff) else model
        logps, entropies, aux = [], [], []
        for start in range(0, input_ids.size(0), chunk):
            end = min(start + chunk, input_ids.size(0))
            set_preference(target, rows[start:end])
            lp, ent, ax = super()._get_per_token_logps_and_entropies(
                model, input_ids[start:end], attention_mask[start:end], logits_to_keep, end - start, **kwargs
            )
            logps.append(lp)
            entropies.append(ent)
            aux.append(ax)
        return (torch.cat(logps), None if entropies[0] is None else torch.cat(entropies),
                None if aux[0] is None else torch.stack(aux).mean())  # fmt: skip

    def _compute_loss(self, model, inputs):
        self._rows = inputs["preference"] if self.condition_adapter else None  # (B, K), as at generation
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._rows = None


class PanaceaGRPOTrainer(PreferenceConditionedMixin, GRPOTrainer):
    """GRPOTrainer over preferences (module docstring)."""


class PanaceaRLOOTrainer(PreferenceConditionedMixin, RLOOTrainer):
    """RLOOTrainer over preferences (module docstring)."""


TRAINERS = {"grpo": PanaceaGRPOTrainer, "rloo": PanaceaRLOOTrainer}
