"""One way to evaluate a policy while it trains (contract: evaluation, docs/contracts.md).

`EvaluatingCallback` is the base of every callback that samples and scores the training policy every N steps:
morlhf's history, dynamic_hv's measurements, C-MORL's snapshots, and Panacea's anytime front, corner spread and
adaptive preference sampling. It decides when (`due`) and calls `evaluate_at` on *every* process. Under several
processes `Workspace.evaluate` is a collective (the main process samples and scores, the others receive its
result), so every evaluation must be entered by every process at the same step, or the processes wait for each
other forever. A measurement that is not a collective (one that the main process alone can make) goes through
`on_main`, which hands its result to every process.

`sample_and_score` evaluates a model in training for a method that steers by its own reward: one set of responses
on the held-out prompts, scored by that reward and by the evaluation scorer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from transformers import TrainerCallback

from pareto_align import ranks
from pareto_align.evaluate import Evaluation
from pareto_align.models.policy import Policy

if TYPE_CHECKING:
    from pareto_align.evaluate import Scorer
    from pareto_align.workspace import Workspace

T = TypeVar("T")


class EvaluatingCallback(TrainerCallback):
    """Every `every` steps before the last (with `at_end`, at the last step too; `every` 0: never), unless
    `skip(step)`: `evaluate_at(step, model, **kwargs)` on every process (see the module docstring). `kwargs` are
    the trainer's callback arguments (optimizer, lr_scheduler, ...)."""

    every: int = 0
    at_end: bool = False

    def due(self, step: int, max_steps: int) -> bool:
        if not self.every or self.skip(step):
            return False
        return (step % self.every == 0 and step < max_steps) or (self.at_end and step == max_steps)

    def skip(self, step: int) -> bool:
        """Steps left to another callback that evaluates there anyway."""
        return False

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.due(state.global_step, state.max_steps):
            self.evaluate_at(state.global_step, model, **kwargs)

    def evaluate_at(self, step: int, model, **kwargs: Any) -> None:
        raise NotImplementedError


def on_main(measure: Callable[[], T]) -> T:
    """`measure()` computed by the main process alone and handed to every process (a measurement that is not a
    collective: the others would otherwise each make their own, or none)."""
    return ranks.broadcast(measure() if ranks.is_main() else None)


class _BothScorers:
    """Scores once-generated responses with two scorers side by side: (N, K + K')."""

    def __init__(self, first: Scorer, second: Scorer) -> None:
        self.first, self.second = first, second
        self.objective_names = [*first.objective_names, *second.objective_names]

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        return torch.cat([self.first.score(prompts, responses).float(),
                          self.second.score(prompts, responses).float()], dim=1)  # fmt: skip


def sample_and_score(ws: Workspace, model, tokenizer, samples_per_prompt: int,
                     own: Scorer) -> tuple[Evaluation, Evaluation]:  # fmt: skip
    """The training model on the held-out prompts, one set of responses scored twice: by the method's `own`
    scorer (the training reward's units, what steers it) and by the evaluation scorer (for the history). A
    collective under several processes: every process calls it."""
    both = _BothScorers(own, ws.scorer(ws.config.evaluation.scorer))
    ev = ws.evaluate(Policy(model, tokenizer, {}), samples_per_prompt, scorer=both)
    k = len(own.objective_names)
    halves = []
    for part in (slice(0, k), slice(k, None)):
        samples = [{**s, "values": s["values"][part]} for s in ev.samples]
        halves.append(
            Evaluation(ev.values[part], ev.stderr[part], ev.n_samples, samples, ev.seconds, ev.n_tokens)
        )
    return halves[0], halves[1]
