"""Policy -> objective vector: sample on held-out prompts, score per objective, mean and standard error."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from pareto_align.models.chat import model_prompt
from pareto_align.models.generation import GenerationSettings, scorable_responses
from pareto_align.models.policy import Policy


class Scorer(Protocol):
    """Contract: reward scoring. (prompts, responses) -> (N, K) in objective order, every objective maximized; a
    tensor on the CPU (a reward model scores on its device and copies the result once), so callers take `.numpy()`."""

    objective_names: list[str]

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor: ...


@dataclass
class Evaluation:
    values: list[float]  # (K,) mean per objective
    stderr: list[float]  # (K,) standard error of the mean
    n_samples: int
    samples: list[dict] = field(default_factory=list)  # a few {prompt, response, values} for the explorer
    seconds: float = 0.0
    n_tokens: int = 0
    judged: tuple[list[float], list[float]] | None = (
        None  # the held-out judges' (values, stderr), when judged
    )

    def judged_point(self) -> dict | None:
        """`Point.judged` of this evaluation (None without judges)."""
        return None if self.judged is None else {"values": self.judged[0], "stderr": self.judged[1]}


def _prompt_text(prompt) -> str:
    """A conversational prompt (message list) as readable text, for the stored examples."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def evaluate_policy(
    policy: Policy,
    prompts: Sequence,
    scorer: Scorer,
    settings: GenerationSettings,
    samples_per_prompt: int,
    seed: int,
    n_examples: int = 6,
    judge: tuple[Sequence[int], Scorer] | None = None,
) -> Evaluation:
    """Sample `samples_per_prompt` responses per prompt from `policy` and score them.

    Every policy is sampled with the same seed, so that differences between points come from the policies. The
    policy formats its own prompts (a conditioned policy writes its direction into them; best-of-n samples and
    ranks several candidates), while the scorer sees the user's prompt. `judge` (objective indices, scorer): the
    same responses are scored a second time, those objectives' columns by the judge (`evaluation.judges`).
    """
    start = time.perf_counter()
    # in the run's prompt format (a no-op on the sweep's held-out prompts, which are read in it): the scorer
    # takes the prompt as the policy's model did
    prompt_format = (getattr(policy, "handle", None) or {}).get("prompt_format")
    repeated = [model_prompt(p, prompt_format) for p in prompts for _ in range(samples_per_prompt)]
    out = policy.generate(repeated, settings, seed=seed)
    responses = scorable_responses(repeated, out.responses)
    scores = scorer.score(repeated, responses).double().numpy()  # (N, K)
    judged = None
    if judge is not None:
        indices, judge_scorer = judge
        judged = scores.copy()  # (N, K): objectives without a judge keep their evaluation score
        judged[:, list(indices)] = judge_scorer.score(repeated, responses).double().numpy()
    n = scores.shape[0]
    examples = [
        {"prompt": _prompt_text(repeated[i]), "response": responses[i].strip(), "values": scores[i].tolist(),
         **({"judged": judged[i].tolist()} if judged is not None else {})}
        for i in range(0, n, samples_per_prompt)[:n_examples]
    ]  # fmt: skip
    return Evaluation(
        values=scores.mean(axis=0).tolist(),
        stderr=_stderr(scores).tolist(),
        n_samples=n,
        samples=examples,
        seconds=time.perf_counter() - start,
        n_tokens=out.n_tokens,
        judged=None if judged is None else (judged.mean(axis=0).tolist(), _stderr(judged).tolist()),
    )


def _stderr(scores: np.ndarray) -> np.ndarray:
    """Standard error of the mean of each column of (N, K) scores, (K,)."""
    n = scores.shape[0]
    return scores.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(scores.shape[1])
