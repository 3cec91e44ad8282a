"""Mean and percentile-bootstrap confidence interval over seeds.

Why our own few lines instead of ``scipy.stats.bootstrap``: papers report 2 to 5 seeds, where scipy warns or
returns NaN for degenerate resamples (all seeds equal); here the rule is explicit and testable by hand. The
method is Efron's percentile bootstrap: resample the per-seed values with replacement ``n_resamples`` times,
take each resample's mean, and report the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those
means (numpy's default linear interpolation). The generator is seeded, so the same input gives the same
interval. With one seed there is no interval: ``low`` and ``high`` are None and tables say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds with its bootstrap interval (``low``/``high`` None when n == 1)."""

    mean: float
    low: float | None
    high: float | None
    n: int
    confidence: float = CONFIDENCE

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None


def bootstrap_ci(
    values: np.ndarray | list[float],
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """Mean of ``values`` (n,) and its percentile-bootstrap interval at level ``confidence``."""
    x = np.asarray(values, dtype=float).ravel()  # (n,)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"bootstrap_ci got non-finite values: {x.tolist()}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean=mean, low=None, high=None, n=1, confidence=confidence)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))  # (R, n)
    means = x[idx].mean(axis=1)  # (R,)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Interval(mean=mean, low=float(low), high=float(high), n=int(x.size), confidence=confidence)
