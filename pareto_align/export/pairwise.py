"""Method against method over seeds: differences of means, probability of improvement, ratios to a baseline.

No ranking claim without one of these: a table of means says nothing about how often one method beats another
across seeds. Each statistic comes with a percentile-bootstrap interval in which the seeds of the two methods
are resampled independently (they are independent runs; seed i of one method is not paired with seed i of
the other), ``n_resamples`` times from a seeded generator, as in :mod:`pareto_align.export.bootstrap`.

- difference of means ``mean(X) - mean(Y)``;
- probability of improvement ``P(X > Y)`` of Agarwal et al. (2021), "Deep RL at the Edge of the Statistical
  Precipice" (rliable's ``probability_of_improvement``): the Mann-Whitney statistic
  ``1/(n m) sum_ij [x_i > y_j] + 1/2 [x_i = y_j]`` over the seeds of one task; 0.5 means no difference. For a
  metric where lower is better the comparison is flipped, so it always reads "X better than Y";
- ratio of means ``mean(X) / mean(Y)``, used against the linear-scalarization (morlhf) grid.
With one seed on either side there is no interval (``low``/``high`` None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pareto_align.export.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES, Interval
from pareto_align.export.statistics import METRICS, MethodSummary
from pareto_align.export.style import method_key

# Metrics compared pairwise (the quality indicators; compute is reported, not ranked).
PAIRWISE_METRICS: tuple[str, ...] = ("hypervolume", "expected_utility", "igd", "maximum_utility_loss")
LINEAR_METHOD = "linear"  # method_key of morlhf, the linear-scalarization grid every method is held against


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) over seeds, ties counting one half: ``x`` (n,), ``y`` (m,)."""
    x = np.asarray(x, dtype=float)[:, None]  # (n, 1)
    y = np.asarray(y, dtype=float)[None, :]  # (1, m)
    return float(np.mean((x > y) + 0.5 * (x == y)))


def _two_sample_interval(
    x: Sequence[float],
    y: Sequence[float],
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Interval:
    """``statistic`` of (x, y) and its percentile-bootstrap interval, both samples resampled independently.

    ``statistic`` maps resampled arrays x (R, n), y (R, m) to (R,); it is also applied to the data as one
    resample (R = 1) for the point estimate."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.size == 0 or ya.size == 0:
        raise ValueError("a two-sample statistic needs at least one value on each side")
    point = float(statistic(xa[None, :], ya[None, :])[0])
    n = min(xa.size, ya.size)
    if n == 1:
        return Interval(mean=point, low=None, high=None, n=1, confidence=confidence)
    rng = np.random.default_rng(seed)
    xs = xa[rng.integers(0, xa.size, size=(n_resamples, xa.size))]  # (R, n)
    ys = ya[rng.integers(0, ya.size, size=(n_resamples, ya.size))]  # (R, m)
    stats = statistic(xs, ys)  # (R,)
    alpha = 1.0 - confidence
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return Interval(mean=point, low=float(low), high=float(high), n=n, confidence=confidence)


def _difference(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return xs.mean(axis=1) - ys.mean(axis=1)  # (R,)


def _poi(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    gt = xs[:, :, None] > ys[:, None, :]  # (R, n, m)
    eq = xs[:, :, None] == ys[:, None, :]
    return (gt + 0.5 * eq).mean(axis=(1, 2))  # (R,)


def _ratio(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    denominator = ys.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator != 0, xs.mean(axis=1) / np.where(denominator != 0, denominator, 1), np.nan
        )


def difference_interval(
    x, y, confidence=CONFIDENCE, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED
) -> Interval:
    """mean(x) - mean(y) with its independent two-sample bootstrap interval."""
    return _two_sample_interval(x, y, _difference, confidence, n_resamples, seed)


def improvement_interval(
    x, y, confidence=CONFIDENCE, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED
) -> Interval:
    """P(X > Y) (:func:`probability_of_improvement`) with its independent two-sample bootstrap interval."""
    return _two_sample_interval(x, y, _poi, confidence, n_resamples, seed)


def ratio_interval(x, y, confidence=CONFIDENCE, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED) -> Interval:
    """mean(x) / mean(y) with its independent two-sample bootstrap interval (NaN when mean(y) is 0)."""
    iv = _two_sample_interval(x, y, _ratio, confidence, n_resamples, seed)
    if iv.has_interval and not (np.isfinite(iv.low) and np.isfinite(iv.high)):  # type: ignore[arg-type]
        return Interval(mean=iv.mean, low=None, high=None, n=iv.n, confidence=confidence)
    return iv


@dataclass(frozen=True)
class PairwiseComparison:
    """Method ``a`` against method ``b`` on one metric: the difference of means (a - b) and P(a better than b)."""

    a: str
    b: str
    metric: str
    difference: Interval
    probability_of_improvement: Interval

    @property
    def decided(self) -> bool:
        """True when the interval of P(a better than b) excludes 0.5: a difference the seeds support."""
        p = self.probability_of_improvement
        return p.has_interval and (p.low > 0.5 or p.high < 0.5)  # type: ignore[operator]


def _values(summary: MethodSummary, metric: str) -> list[float]:
    return [r.metric(metric) for r in summary.per_seed]


def pairwise_comparisons(
    summaries: Sequence[MethodSummary], metrics: Sequence[str] = PAIRWISE_METRICS
) -> list[PairwiseComparison]:
    """Every ordered pair (a before b in ``summaries``) on every metric that both have finite values for."""
    out = []
    for i, a in enumerate(summaries):
        for b in summaries[i + 1 :]:
            for metric in metrics:
                x, y = _values(a, metric), _values(b, metric)
                if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
                    continue
                if not METRICS[metric]:  # lower is better: "a better than b" means a lower value
                    x_better, y_better = [-v for v in x], [-v for v in y]
                else:
                    x_better, y_better = x, y
                out.append(
                    PairwiseComparison(
                        a.label,
                        b.label,
                        metric,
                        difference_interval(x, y),
                        improvement_interval(x_better, y_better),
                    )
                )
    return out


@dataclass(frozen=True)
class LinearRatio:
    """A method against the linear-scalarization grid (morlhf) of the same comparison: hypervolume ratio and the
    ratios of its compute (policy updates, tokens trained + generated); each mean(method) / mean(morlhf)."""

    label: str
    reference: str
    hypervolume: Interval
    policy_updates: Interval | None
    total_tokens: Interval | None


def linear_ratios(summaries: Sequence[MethodSummary]) -> list[LinearRatio]:
    """Each method's ratios to the first morlhf label of ``summaries``; [] when there is none."""
    linear = next((s for s in summaries if method_key(s.per_seed[0].method) == LINEAR_METHOD), None)
    if linear is None:
        return []
    out = []
    for s in summaries:
        compute = {}
        for metric in ("policy_updates", "total_tokens"):
            y = _values(linear, metric)
            compute[metric] = ratio_interval(_values(s, metric), y) if np.mean(y) > 0 else None
        hv = ratio_interval(_values(s, "hypervolume"), _values(linear, "hypervolume"))
        out.append(LinearRatio(s.label, linear.label, hv, compute["policy_updates"], compute["total_tokens"]))
    return out
