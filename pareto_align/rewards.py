"""Multi-objective rewards for TRL's online trainers (GRPO, RLOO): one reward function per objective.

TRL calls each of its `reward_funcs` on the same batch and combines them with `reward_weights`, logging
`rewards/<name>/mean` for each. `ObjectiveRewards` scores a batch once with any scorer (gold functions, reward-model
heads, an ensemble aggregated by mean / WCO / UWO) and serves column k to the function of objective k, so K
objectives cost one scoring pass. Optional per-objective shaping (PAR) and a Tchebycheff scalarizer come on top:

- PAR (Fu et al., 2025, "Reward Shaping to Mitigate Reward Hacking in RLHF"): r_k <- sigmoid(r_k - r_k(x, y_ref)),
  with y_ref the base policy's response to the same prompt; bounded in (0, 1) and centred at the reference (0.5).
- Raw columns (`raw_columns=True`, with PAR): the K unshaped rewards as K more reward functions at weight 0, named
  `<objective>_raw`, so a method that steers on raw values (C-MORL's barrier) gets them from TRL's own gathered
  `rewards_per_func` while the policy loss uses the shaped ones.
- Tchebycheff: the one-sided augmented form -max_k w_k max(0, z*_k - r_k) + 0.01 sum_k (r_k - z*_k) (z* the stated
  ideal point, in the units of the rewards after shaping; see `objectives.Scalarization`),
  which TRL does not have: it is one more reward function with weight 1, while the K objectives stay logged at
  weight 0 (`reward_weights`), so TRL's own normalization (`scale_rewards`, GDPO's `normalize_then_sum`) applies
  to it unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from pareto_align.evaluate import Scorer
from pareto_align.models.reward_model import MultiHeadRewardModel, aggregate_members
from pareto_align.objectives import Scalarization, scalarize


def par_shaping(rewards: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """PAR: sigmoid(r - r_ref), elementwise over (N, K) rewards and the reference rewards (N, K)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(rewards, dtype=float) - np.asarray(reference, dtype=float))))


class AggregatedRewardModel:
    """A multi-head reward model scored with a chosen ensemble aggregation (mean, wco, uwo with its lambda)."""

    def __init__(self, model: MultiHeadRewardModel, aggregation: str | None = None,
                 uwo_lambda: float | None = None) -> None:  # fmt: skip
        self.model = model
        self.objective_names = model.objective_names
        self.aggregation = aggregation or model.aggregation
        self.uwo_lambda = model.uwo_lambda if uwo_lambda is None else uwo_lambda

    def score(self, prompts: Sequence, responses: Sequence) -> torch.Tensor:
        members = self.model.score_members(prompts, responses)  # (M, N, K)
        return aggregate_members(members, self.aggregation, self.uwo_lambda)  # (N, K)


def as_response(completion: Any) -> Any:
    """A TRL completion as the toolkit's scorers take responses: plain text with its leading space (TRL joins
    prompt and completion as strings), or the message list of a conversational completion."""
    return " " + completion.strip() if isinstance(completion, str) else completion


class ObjectiveRewards:
    """Per-objective reward functions for a TRL trainer over one scorer, scoring each batch once.

    `functions()` are the trainer's `reward_funcs`, `weights()` its `reward_weights`. With `par=True` the dataset
    must carry a `ref_rewards` column (K reference rewards per prompt; TRL passes extra columns to reward functions).
    `generated_tokens` counts the completion tokens scored, for compute accounting. With `raw_columns=True` (PAR
    only) the unshaped rewards follow as K functions at weight 0.
    """

    def __init__(self, scorer: Scorer, names: Sequence[str], weights: Sequence[float],
                 scalarization: Scalarization | None = None, par: bool = False,
                 raw_columns: bool = False) -> None:  # fmt: skip
        if raw_columns and not par:
            raise ValueError("raw_columns: the objectives' own columns are raw already without PAR")
        self.scorer = scorer
        self.names = list(names)
        self.w = np.asarray(weights, dtype=float)  # (K,)
        self.scalarization = scalarization or Scalarization()
        self.par, self.raw_columns = par, raw_columns
        self.generated_tokens = 0
        self.scoring_seconds = 0.0
        self._batch: tuple[list, np.ndarray, np.ndarray] | None = (
            None  # (completions, shaped (N, K), raw (N, K))
        )

    def rewards(self, prompts: list, completions: list, completion_ids: list | None = None,
                ref_rewards: list | None = None, raw: bool = False) -> np.ndarray:  # fmt: skip
        """Per-objective rewards (N, K) of a batch, shaped (PAR) unless `raw`, computed once per batch (TRL passes
        the same lists to every reward function; holding the list keeps its identity unique while it is cached)."""
        if self._batch is None or self._batch[0] is not completions:
            start = time.perf_counter()
            r = self.scorer.score(prompts, [as_response(c) for c in completions]).double().numpy()  # (N, K)
            shaped = r
            if self.par:
                if ref_rewards is None:
                    raise ValueError("PAR shaping needs a 'ref_rewards' column in the training dataset")
                shaped = par_shaping(r, np.asarray(ref_rewards, dtype=float))
            self.scoring_seconds += time.perf_counter() - start
            self.generated_tokens += sum(len(ids) for ids in completion_ids or [])
            self._batch = (completions, shaped, r)
        return self._batch[2] if raw else self._batch[1]

    def _objective(self, k: int) -> Callable[..., list[float]]:
        def reward(prompts, completions, completion_ids=None, ref_rewards=None, **_) -> list[float]:
            return self.rewards(prompts, completions, completion_ids, ref_rewards)[:, k].tolist()

        reward.__name__ = self.names[k]  # TRL logs rewards/<__name__>/mean
        return reward

    def _raw(self, k: int) -> Callable[..., list[float]]:
        def reward(prompts, completions, completion_ids=None, ref_rewards=None, **_) -> list[float]:
            return self.rewards(prompts, completions, completion_ids, ref_rewards, raw=True)[:, k].tolist()

        reward.__name__ = f"{self.names[k]}_raw"
        return reward

    def _tchebycheff(self) -> Callable[..., list[float]]:
        def tchebycheff(prompts, completions, completion_ids=None, ref_rewards=None, **_) -> list[float]:
            r = self.rewards(prompts, completions, completion_ids, ref_rewards)
            return scalarize(r, self.w, self.scalarization).tolist()

        return tchebycheff

    def functions(self) -> list[Callable[..., list[float]]]:
        """The K objective rewards in config order, then the Tchebycheff scalarizer when it is used, then the K raw
        rewards with `raw_columns`."""
        funcs = [self._objective(k) for k in range(len(self.names))]
        funcs += [self._tchebycheff()] if self.scalarization.kind == "tchebycheff" else []
        return funcs + ([self._raw(k) for k in range(len(self.names))] if self.raw_columns else [])

    def weights(self) -> list[float]:
        """`reward_weights`: w for a linear scalarization; 0 per objective and 1 for the Tchebycheff scalarizer;
        0 for each raw column."""
        raw = [0.0] * len(self.names) if self.raw_columns else []
        if self.scalarization.kind == "tchebycheff":
            return [0.0] * len(self.names) + [1.0] + raw
        return self.w.tolist() + raw
