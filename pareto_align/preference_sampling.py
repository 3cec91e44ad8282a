"""Preference sampling for preference-conditioned training (Panacea, Zhong et al., 2024): which lambda each row
of a batch trains on.

- `sample_preferences`: lambda ~ Dirichlet(alpha, ..., alpha) on the simplex (alpha = 1 is uniform on it, as
  Panacea samples), except that with probability `vertex_prob` a row is a corner e_k, k uniform over the K
  objectives instead: the corners are the specialists' trade-offs, which a uniform draw almost never reaches.
- `group_shared_preferences`: for GRPO/RLOO, one lambda per prompt repeated for its G completions, so the group
  baseline compares completions of one trade-off. Rows come in TRL's order: `RepeatSampler` yields each prompt's
  index `num_generations` times in a row and GRPO groups rewards by `rewards.view(-1, num_generations)`, so rows
  g*G ... g*G + G - 1 are prompt g's group.

Plain numpy on a caller-seeded `np.random.Generator`: the same generator state gives the same draws.
"""

from __future__ import annotations

import numpy as np


def sample_preferences(rng: np.random.Generator, n: int, num_objectives: int, alpha: float = 1.0,
                       vertex_prob: float = 0.0) -> np.ndarray:  # fmt: skip
    """n preference vectors, shape (n, K), each non-negative and summing to 1 (module docstring).

    Every call draws the same random numbers whatever `vertex_prob` is (all Dirichlet rows, a coin and a corner
    per row), so changing `vertex_prob` changes which rows are corners, not the rest of the stream."""
    if n < 0 or num_objectives < 1:
        raise ValueError(f"sample_preferences: need n >= 0 and num_objectives >= 1, got {n} and {num_objectives}")  # fmt: skip
    if not alpha > 0:
        raise ValueError(f"sample_preferences: alpha must be > 0, got {alpha}")
    if not 0.0 <= vertex_prob <= 1.0:
        raise ValueError(f"sample_preferences: vertex_prob must be in [0, 1], got {vertex_prob}")
    dirichlet = rng.dirichlet(np.full(num_objectives, float(alpha)), size=n)  # (n, K)
    is_vertex = rng.random(n) < vertex_prob  # (n,)
    corners = np.eye(num_objectives)[rng.integers(num_objectives, size=n)]  # (n, K)
    return np.where(is_vertex[:, None], corners, dirichlet)  # (n, K)


def group_shared_preferences(rng: np.random.Generator, num_prompts: int, num_generations: int,
                             num_objectives: int, alpha: float = 1.0, vertex_prob: float = 0.0) -> np.ndarray:  # fmt: skip
    """One lambda per prompt, repeated for its `num_generations` completions in adjacent rows (TRL's GRPO order):
    shape (num_prompts * num_generations, K)."""
    if num_generations < 1:
        raise ValueError(f"group_shared_preferences: num_generations must be >= 1, got {num_generations}")
    per_prompt = sample_preferences(rng, num_prompts, num_objectives, alpha, vertex_prob)  # (P, K)
    return np.repeat(per_prompt, num_generations, axis=0)  # (P * G, K)
