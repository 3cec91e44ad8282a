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
