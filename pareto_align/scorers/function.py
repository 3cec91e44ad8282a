"""A reward function as an objective's scorer: TRL's signature, `f(prompts, completions, **kwargs) -> list[float]`.

Called once per batch, never once per response, with `objective=<name>` among its keyword arguments. Completions
are what TRL's GRPOTrainer passes: the response text of a plain prompt, and `[{"role": "assistant", "content":
...}]` for a conversational one (prompts are then message lists).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch

from pareto_align.errors import ScorerError
from pareto_align.models.chat import as_chat_completion, is_conversational
from pareto_align.scorers.specs import FunctionSpec


def load_function(spec: FunctionSpec, where: str) -> Callable[..., Any]:
    """The callable a `function:` scorer names; ScorerError naming `where` when it cannot be had."""
    try:
        if spec.is_file:
            path = spec.source_file()
            name = f"pareto_align_reward_fn_{abs(hash(str(path)))}"
            module = sys.modules.get(name)
            if module is None:
                module_spec = importlib.util.spec_from_file_location(name, path)
                if module_spec is None or module_spec.loader is None:
                    raise ImportError(f"cannot import {path}")
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                sys.modules[name] = module
        else:
            module = importlib.import_module(spec.target)
    except FileNotFoundError:
        raise ScorerError(f"{where}.function: file {spec.target} does not exist") from None
    except Exception as err:  # noqa: BLE001 -- the user's module: any error is theirs to see, in one line
        raise ScorerError(
            f"{where}.function: importing {spec.target} failed: {type(err).__name__}: {err}"
        ) from None
    fn = getattr(module, spec.name, None)
    if fn is None:
        raise ScorerError(f"{where}.function: {spec.target} has no attribute {spec.name!r}")
    if not callable(fn):
        raise ScorerError(f"{where}.function: {spec.function} is not callable")
    return fn


def trl_completions(prompts: Sequence, responses: Sequence) -> list:
    """Responses as TRL passes completions to reward functions: text without the toolkit's leading space for a
    plain prompt, an assistant message list for a conversational one."""
    return [
        as_chat_completion(r) if is_conversational(p) else (r.lstrip() if isinstance(r, str) else r)
        for p, r in zip(prompts, responses, strict=True)
    ]


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class FunctionScorer:
    """One objective scored by a reward function: (prompts, responses) -> (N, 1), raw (before the direction)."""

    def __init__(self, spec: FunctionSpec, objective: str, where: str) -> None:
        self.spec, self.objective, self.where = spec, objective, where
        self.fn = load_function(spec, where)
        self.n_outputs = 1

    def _call(self, prompts: list, completions: list) -> Any:
        return self.fn(prompts, completions, objective=self.objective)

    def _first_failing_row(self, prompts: list, completions: list) -> int | None:
        for i in range(len(prompts)):
            try:
                self._call(prompts[i : i + 1], completions[i : i + 1])
            except Exception:  # noqa: BLE001
                return i
        return None

    def score(self, prompts: Sequence, responses: Sequence) -> torch.Tensor:
        prompts, completions = list(prompts), trl_completions(prompts, responses)
        try:
            out = self._call(prompts, completions)
        except Exception as err:  # noqa: BLE001 -- reported in one line with the row that fails
            row = self._first_failing_row(prompts, completions)
            at = (
                f" (first failing row {row}: prompt {_short(prompts[row])}, completion {_short(completions[row])})"
                if row is not None
                else ""
            )
            raise ScorerError(
                f"{self.where}.function: {self.spec.function} raised {type(err).__name__}: {err}{at}"
            ) from None
        return torch.tensor(self._checked(out, len(prompts)), dtype=torch.float32)[:, None]  # (N, 1)

    def _checked(self, out: Any, n: int) -> list[float]:
        fn = self.spec.function
        if out is None:
            raise ScorerError(f"{self.where}.function: {fn} returned None; expected a list of {n} floats")
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().tolist()
        try:
            values = list(out)
        except TypeError:
            raise ScorerError(
                f"{self.where}.function: {fn} returned {type(out).__name__}; expected a list of {n} floats"
            ) from None
        if len(values) != n:
            raise ScorerError(
                f"{self.where}.function: {fn} returned {len(values)} values for {n} completions"
            )
        floats = []
        for i, v in enumerate(values):
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ScorerError(
                    f"{self.where}.function: {fn} returned {v!r} at row {i}; expected a float"
                ) from None
            if not math.isfinite(f):
                raise ScorerError(
                    f"{self.where}.function: {fn} returned {f} at row {i}; rewards must be finite"
                )
            floats.append(f)
        return floats
