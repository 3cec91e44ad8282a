"""Preference sampling for preference-conditioned training (Panacea, Zhong et al., 2024): which lambda each row
of a batch trains on.

- `sample_preferences`: lambda ~ Dirichlet(alpha, ..., alpha) on the simplex (alpha = 1 is uniform on it, as
  Panacea samples), except that with probability `vertex_prob` a row is a corner e_k, k uniform over the K
  objectives instead: the corners are the specialists' trade-offs, which a uniform draw almost never reaches.
- `group_shared_preferences`: for GRPO/RLOO, one lambda per prompt repeated for its G completions, so the group
  baseline compares completions of one trade-off. Rows come in TRL's order: `RepeatSampler` yields each prompt's
  index `num_generations` times in a row and GRPO groups rewards by `rewards.view(-1, num_generations)`, so rows
  g*G ... g*G + G - 1 are prompt g's group.

- `AdaptivePreferences` (`sampling: adaptive`, beyond the papers): the model is evaluated every few steps on a
  coarse grid of lambdas, in training-reward units; each grid lambda's share of the draws follows the gap its
  point leaves in that front (`gap_weights`: NSGA-II crowding distance, as C-MORL selects what to extend, or the
  point's exclusive hypervolume contribution), and a row drawn there is lambda ~ Dirichlet(1 + c * g), whose mode
  is the grid lambda g. A share `uniform_mix` of the rows keeps the base sampler, so no region of the simplex starves.

Plain numpy on a caller-seeded `np.random.Generator`: the same generator state gives the same draws.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from pareto_align.cmorl import crowding_distance
from pareto_align.front.indicators import hypervolume

Gap = Literal["crowding", "hypervolume"]
HV_MARGIN = 0.1  # the hypervolume gap's reference point: each objective's worst value less 10% of its range


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


def gap_weights(values: np.ndarray, gap: Gap = "crowding") -> np.ndarray:
    """Each grid lambda's probability (m,) from the front its evaluations make, `values` (m, K) (maximized), in
    proportion to the gap around its point:

    - `crowding`: NSGA-II crowding distance (cmorl.crowding_distance); the extremes of an objective, infinite
      there, count as the largest finite distance (all equal when none is finite);
    - `hypervolume`: the point's exclusive hypervolume contribution, HV(all) - HV(all but it), against each
      objective's worst value less `HV_MARGIN` of its range (1 where the range is 0); dominated points give 0.

    Lambdas whose evaluations are one vector split its score evenly. Uniform when every score is 0."""
    F = np.asarray(values, dtype=float)
    if F.ndim != 2 or len(F) == 0:
        raise ValueError(f"gap_weights: values must have shape (m, K) with m >= 1, got {F.shape}")
    # lambdas that give one vector share its gap: a model that ignores lambda draws them all alike
    U, inverse, copies = np.unique(F, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if gap == "crowding":
        score = crowding_distance(U)  # (u,)
        finite = score[np.isfinite(score)]
        cap = finite.max() if finite.size and finite.max() > 0 else 1.0
        score = np.where(np.isinf(score), cap, score)
    elif gap == "hypervolume":
        span = U.max(axis=0) - U.min(axis=0)  # (K,)
        reference = U.min(axis=0) - HV_MARGIN * np.where(span > 0, span, 1.0)  # (K,)
        total = hypervolume(U, reference)
        score = np.array([total - hypervolume(np.delete(U, i, axis=0), reference) for i in range(len(U))])
        score = np.clip(score, 0.0, None)  # round-off
    else:
        raise ValueError(f"gap_weights: unknown gap {gap!r} (crowding, hypervolume)")
    score = (score / copies)[inverse]  # (m,)
    if not score.sum() > 0:
        return np.full(len(F), 1.0 / len(F))
    return score / score.sum()  # (m,)


class AdaptivePreferences:
    """The base sampler (Dirichlet(alpha), corners at `vertex_prob`) until `update` gives grid probabilities; then a
    row is, with probability `uniform_mix`, a base draw, else lambda ~ Dirichlet(1 + concentration * g) around a grid
    lambda g drawn by those probabilities (module docstring)."""

    def __init__(self, grid: np.ndarray, alpha: float = 1.0, vertex_prob: float = 0.0, concentration: float = 20.0,
                 uniform_mix: float = 0.3, gap: Gap = "crowding") -> None:  # fmt: skip
        self.grid = np.asarray(grid, dtype=float)  # (m, K)
        if self.grid.ndim != 2 or len(self.grid) == 0:
            raise ValueError(f"AdaptivePreferences: grid must have shape (m, K), got {self.grid.shape}")
        if not concentration > 0 or not 0.0 <= uniform_mix <= 1.0:
            raise ValueError(f"AdaptivePreferences: need concentration > 0 and uniform_mix in [0, 1], got "
                             f"{concentration} and {uniform_mix}")  # fmt: skip
        self.alpha, self.vertex_prob, self.gap = alpha, vertex_prob, gap
        self.concentration, self.uniform_mix = concentration, uniform_mix
        self.probs: np.ndarray | None = None  # (m,), None: not evaluated yet

    def update(self, values: np.ndarray) -> np.ndarray:
        """Grid probabilities (m,) from the model's evaluations at the grid lambdas, `values` (m, K)."""
        if np.shape(values) != self.grid.shape:
            raise ValueError(f"AdaptivePreferences.update: values of shape {np.shape(values)}, the grid is {self.grid.shape}")  # fmt: skip
        self.probs = gap_weights(values, self.gap)
        return self.probs

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n preference vectors (n, K). Before the first `update`, exactly the base sampler's draws."""
        m, k = self.grid.shape
        base = sample_preferences(rng, n, k, self.alpha, self.vertex_prob)  # (n, K)
        if self.probs is None:
            return base
        index = rng.choice(m, size=n, p=self.probs)  # (n,)
        # Dirichlet(1 + c g) by normalized gamma draws
        gamma = rng.gamma(1.0 + self.concentration * self.grid[index])  # (n, K)
        local = gamma / gamma.sum(axis=1, keepdims=True)  # (n, K)
        keep_base = rng.random(n) < self.uniform_mix  # (n,)
        return np.where(keep_base[:, None], base, local)  # (n, K)

    def sample_groups(self, rng: np.random.Generator, num_prompts: int, num_generations: int) -> np.ndarray:
        """One lambda per prompt, repeated for its `num_generations` rows (as `group_shared_preferences`)."""
        return np.repeat(self.sample(rng, num_prompts), num_generations, axis=0)  # (P * G, K)
