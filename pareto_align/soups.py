"""Weight interpolation of fine-tuned checkpoints (rewarded soups, Rame et al. 2023).

theta(lambda) = sum_i lambda_i * theta_i, with lambda on the simplex. All checkpoints must share one architecture
(fine-tunes of the same base). Floating-point tensors are interpolated; integer buffers are taken from the first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def interpolate_state_dicts(
    state_dicts: Sequence[dict[str, torch.Tensor]], coefficients: Sequence[float]
) -> dict[str, torch.Tensor]:
    """Linear interpolation of state dicts with simplex coefficients (non-negative, summing to 1)."""
    if len(state_dicts) != len(coefficients) or not state_dicts:
        raise ValueError(
            f"need one coefficient per checkpoint: {len(state_dicts)} checkpoints, {len(coefficients)} coefficients"
        )
    if any(c < 0 for c in coefficients) or abs(sum(coefficients) - 1.0) > 1e-6:
        raise ValueError(f"soup coefficients must be non-negative and sum to 1, got {list(coefficients)}")
    keys = state_dicts[0].keys()
    for i, sd in enumerate(state_dicts[1:], start=1):
        if sd.keys() != keys:
            missing = sorted(set(keys) ^ set(sd.keys()))[:3]
            raise ValueError(f"checkpoint {i} has different parameters from checkpoint 0 (e.g. {missing})")
    soup = {}
    for key in keys:
        first = state_dicts[0][key]
        if not torch.is_floating_point(first):
            soup[key] = first.clone()
            continue
        acc = torch.zeros_like(first, dtype=torch.float32)
        for sd, c in zip(state_dicts, coefficients, strict=True):
            acc += float(c) * sd[key].to(torch.float32)
        soup[key] = acc.to(first.dtype)
    return soup


class SoupMixer:
    """theta(lambda) for any lambda, rebuilt in memory: the K checkpoints' parameters are held once and each `mix`
    writes sum_i lambda_i theta_i into one model in place, with no disk access, fast enough for a slider.

    Tensors equal in every checkpoint (a LoRA soup's untouched weights, integer buffers) are held once and never
    rewritten, so mixing merged LoRA fine-tunes costs only their target modules. `model` must hold checkpoint 0.
    """

    def __init__(self, model: torch.nn.Module, state_dicts: Sequence[dict[str, torch.Tensor]]) -> None:
        if not state_dicts:
            raise ValueError("a soup needs at least one checkpoint")
        self.model = model
        self.k = len(state_dicts)
        self.stacked: dict[str, torch.Tensor] = {}  # key -> (K, *shape), float32, the tensors that differ
        for key, first in state_dicts[0].items():
            if not torch.is_floating_point(first):
                continue
            others = [sd[key] for sd in state_dicts[1:]]
            if all(t is first or torch.equal(t, first) for t in others):
                continue
            self.stacked[key] = torch.stack([first.float(), *(t.float() for t in others)])
        self.targets = model.state_dict(keep_vars=True)  # tied weights appear under each of their names

    @torch.no_grad()
    def mix(self, coefficients: Sequence[float]) -> torch.nn.Module:
        """Write theta(lambda) into the model (in place) and return it."""
        if len(coefficients) != self.k:
            raise ValueError(
                f"need one coefficient per checkpoint: {self.k} checkpoints, {len(coefficients)} coefficients"
            )
        if any(c < 0 for c in coefficients) or abs(sum(coefficients) - 1.0) > 1e-6:
            raise ValueError(f"soup coefficients must be non-negative and sum to 1, got {list(coefficients)}")
        for key, stack in self.stacked.items():
            c = torch.tensor(coefficients, dtype=stack.dtype, device=stack.device)  # (K,)
            target = self.targets[key]
            target.copy_(torch.tensordot(c, stack, dims=1).to(target.dtype))  # sum_i c_i theta_i
        return self.model
