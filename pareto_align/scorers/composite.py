"""One scorer for K objectives, each scored by its own source (contract: reward scoring).

A source maps (prompts, responses) to a (N, M) tensor: the multi-head reward model's heads (M = K, maximized
already), the benchmark's gold functions (M = K, signed already), a sequence classifier (M outputs), a reward
server, a reward function (M = 1). `ObjectiveScorer` scores each distinct source once per batch, so that a reward
model named by several objectives (ArmoRM's attributes) runs one forward, and assembles the (N, K) matrix in
objective order, negating the raw scores of user scorers of objectives declared `direction: min`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pareto_align.scorers.classifier import load_classifier
from pareto_align.scorers.function import FunctionScorer
from pareto_align.scorers.remote import RemoteScorer
from pareto_align.scorers.specs import FunctionSpec, RemoteSpec, RewardModelSpec, is_user_scorer, spec_kind


@dataclass
class Column:
    """Objective k's column: `output` of `source`'s (N, M) scores, times `sign`."""

    source: Any
    output: int | str | None
    sign: float
    where: str  # the config field that named the scorer, for errors

    def index(self) -> int:
        resolve = getattr(self.source, "column", None)
        return resolve(self.output, self.where) if resolve is not None else int(self.output or 0)


class ObjectiveScorer:
    """(prompts, responses) -> (N, K) float32 on the CPU, objective order, every objective maximized."""

    def __init__(self, names: Sequence[str], columns: Sequence[Column]) -> None:
        self.objective_names = list(names)
        self.columns = list(columns)

    def sources(self) -> list[Any]:
        return list({id(c.source): c.source for c in self.columns}.values())

    def score(self, prompts: Sequence, responses: Sequence) -> torch.Tensor:
        prompts, responses = list(prompts), list(responses)
        scored = {id(s): s.score(prompts, responses) for s in self.sources()}  # each source once: (N, M)
        out = torch.empty((len(prompts), len(self.columns)), dtype=torch.float32)  # (N, K)
        for k, column in enumerate(self.columns):
            out[:, k] = scored[id(column.source)][:, column.index()].float() * column.sign
        return out


def build_scorer(specs: Sequence[Any], names: Sequence[str], directions: Sequence[str], where: Sequence[str], *,
                 heads: Callable[[], Any], gold: Any | None, device: str, dtype: str | None,
                 indices: Sequence[int] | None = None) -> Any:  # fmt: skip
    """The scorer of objectives given each one's spec (None or 'reward_model': its head of `heads()`, the
    multi-head reward model, built only when an objective needs it; 'gold': its column of `gold`). `indices`: the
    objectives' positions in config order, for a scorer of some of them (a judge); None: all of them, in order.
    When every objective is scored by the heads (or every one by gold), that scorer itself is returned."""
    kinds = [spec_kind(s) for s in specs]
    if indices is None and all(k == "reward_model" for k in kinds):
        return heads()
    if indices is None and all(k == "gold" for k in kinds) and gold is not None:
        return gold
    indices = list(range(len(specs))) if indices is None else list(indices)
    head_source = heads() if "reward_model" in kinds else None
    functions: dict[tuple[str, str], FunctionScorer] = {}
    remotes: dict[str, RemoteScorer] = {}
    columns = []
    for k, spec, name, direction, at in zip(indices, specs, names, directions, where, strict=True):
        sign = -1.0 if is_user_scorer(spec) and direction == "min" else 1.0
        if spec_kind(spec) == "reward_model":
            columns.append(Column(head_source, k, 1.0, at))
        elif spec == "gold":
            if gold is None:
                raise ValueError(f"{at}: 'gold' scores are only available on the built-in benchmark")
            columns.append(Column(gold, k, 1.0, at))
        elif isinstance(spec, RewardModelSpec):
            columns.append(Column(load_classifier(spec, at, device, dtype), spec.output, sign, at))
        elif isinstance(spec, RemoteSpec):
            source = remotes.setdefault(spec.model_dump_json(), RemoteScorer(spec, at))
            columns.append(Column(source, spec.output, sign, at))
        elif isinstance(spec, FunctionSpec):
            source = functions.setdefault((spec.function, name), FunctionScorer(spec, name, at))
            columns.append(Column(source, 0, sign, at))
        else:  # pragma: no cover -- the config's union admits nothing else
            raise TypeError(f"{at}: unknown scorer {spec!r}")
    return ObjectiveScorer(names, columns)
