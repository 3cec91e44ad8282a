"""Objective weight grids from pymoo reference directions, and the scalarizations that turn K rewards into one.

Weights are vectors on the simplex, shape (K,), non-negative and summing to 1, in config order. The utility
functions themselves live with the indicators (one implementation for rewards, selection and metrics).
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymoo.util.ref_dirs import get_reference_directions

from pareto_align.front.indicators import linear_utility, tchebycheff_utility

__all__ = ["Scalarization", "scalarize", "weight_grid", "linear_utility", "tchebycheff_utility"]


class Scalarization(BaseModel):
    """How per-objective rewards (maximize convention) become one: `linear` w . r, or `tchebycheff`, the one-sided
    augmented Tchebycheff utility -max_k w_k max(0, z*_k - r_k) + rho sum_k (r_k - z*_k) with the stated ideal
    point z* and rho = 0.01 (front.indicators.tchebycheff_utility, one implementation for training rewards,
    best-of-n selection, the explorer and the indicators). It can reach non-convex parts of a front; a reward past
    z* is never a loss, and a reward vector that dominates another always scores strictly higher."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["linear", "tchebycheff"] = Field("linear", description="Scalarization of the K rewards.")
    ideal: list[float] | None = Field(
        None, description="Tchebycheff ideal point z*, one value per objective in reward units (maximized)."
    )

    @model_validator(mode="after")
    def _check(self):
        if self.kind == "tchebycheff" and self.ideal is None:
            raise ValueError("ideal: required by the tchebycheff scalarization (one value per objective)")
        if self.kind == "linear" and self.ideal is not None:
            raise ValueError("ideal: only used by the tchebycheff scalarization")
        return self


def scalarize(
    rewards: np.ndarray, weights: np.ndarray, scalarization: Scalarization | None = None
) -> np.ndarray:
    """Scalarized rewards (N,) from per-objective rewards (N, K) and weights (K,)."""
    s = scalarization or Scalarization()
    if s.kind == "linear":
        return linear_utility(rewards, weights)
    return tchebycheff_utility(rewards, weights, np.asarray(s.ideal, dtype=float))


@functools.lru_cache(maxsize=32)
def _energy_directions(n_objectives: int, n_points: int | None, seed: int) -> np.ndarray:
    """pymoo's energy directions: an optimization of about a second, deterministic in its arguments, and asked for
    several times per config (checks, plans, `budget.fill`): computed once."""
    return get_reference_directions("energy", n_objectives, n_points, seed=seed)


def weight_grid(kind: str, n_objectives: int, *, n_partitions: int | None = None, n_points: int | None = None,
                seed: int = 0, explicit: list[list[float]] | None = None) -> np.ndarray:  # fmt: skip
    """Weight vectors, (m, K): an explicit list, or pymoo's das-dennis (n_partitions) / energy (n_points) directions."""
    if kind == "explicit":
        grid = np.asarray(explicit, dtype=np.float64)
    elif kind == "das-dennis":
        grid = get_reference_directions("das-dennis", n_objectives, n_partitions=n_partitions)
    elif kind == "energy":
        grid = _energy_directions(n_objectives, n_points, seed).copy()
    else:
        raise ValueError(f"unknown weight grid kind {kind!r} (explicit, das-dennis, energy)")
    grid = np.clip(grid, 0.0, None)  # energy directions can carry -1e-17 round-off
    return grid / grid.sum(axis=1, keepdims=True)
