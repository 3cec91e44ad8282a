"""Reward functions for the scorer tests, with TRL's signature `f(prompts, completions, **kwargs) -> list[float]`."""

from __future__ import annotations

import math

CALLS: list[dict] = []  # one entry per call: its batch size and keyword arguments


def _text(completion) -> str:
    return completion if isinstance(completion, str) else completion[-1]["content"]


def n_words(prompts, completions, **kwargs) -> list[float]:
    """Words in the completion (a length to minimize)."""
    CALLS.append({"n": len(completions), **kwargs})
    return [float(len(_text(c).split())) for c in completions]


def distinct_words(prompts, completions, **kwargs) -> list[float]:
    """Distinct words in the completion."""
    return [float(len(set(_text(c).split()))) for c in completions]


def raises_on_b(prompts, completions, **kwargs) -> list[float]:
    """Fails on any completion that contains the word 'b' (a data-dependent bug)."""
    for c in completions:
        if "b" in _text(c).split():
            raise ValueError("cannot score 'b'")
    return [0.0] * len(completions)


def one_short(prompts, completions, **kwargs) -> list[float]:
    return [0.0] * (len(completions) - 1)


def returns_none(prompts, completions, **kwargs):
    return None


def returns_nan(prompts, completions, **kwargs) -> list[float]:
    return [math.nan] + [0.0] * (len(completions) - 1)


def returns_inf(prompts, completions, **kwargs) -> list[float]:
    return [0.0] * (len(completions) - 1) + [math.inf]


NOT_CALLABLE = 3
