"""Preference pairs from prompts and scorers (`data.source: prompts`), for a user with prompts and scorers but no
preference data.

The base policy answers each training prompt `responses_per_prompt` times, once per run directory; then each
objective's scorer labels one pair per prompt:
- `bradley_terry`: two distinct responses drawn at random; the first is chosen with probability
  sigmoid((s_a - s_b) / (bt_scale * sd_k)), sd_k the standard deviation of objective k's scores over all responses,
  so that `bt_scale` reads in units of each objective's own spread (Bradley and Terry, 1952; the label model of the
  built-in benchmark and of Coste et al., 2023);
- `best_worst`: the best-scored response against the worst (as UltraFeedback's binarization does).
`label_noise` then flips each label with that probability. Ties carry no preference and give no pair. The pairs are
TRL's preference format (prompt, chosen, rejected) with the `objective` they are about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pareto_align.errors import ConfigError


class PromptPairsConfig(BaseModel):
    """`data.prompts`: the training prompts and how their preference pairs are made."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="Training prompts: a .txt (one per line) or .jsonl (a `prompt` per line).")
    responses_per_prompt: int = Field(
        4, ge=2, description="Responses sampled from the base policy per prompt."
    )
    labeling: Literal["bradley_terry", "best_worst"] = Field(
        "bradley_terry",
        description="bradley_terry: a random pair labelled by sampling the Bradley-Terry model on the score "
        "difference; best_worst: the best-scored response against the worst.",
    )
    bt_scale: float = Field(
        1.0, gt=0, description="Bradley-Terry temperature, in standard deviations of each objective's scores."
    )
    label_noise: float = Field(0.0, ge=0, lt=0.5, description="Probability that a label is flipped.")
    max_new_tokens: int = Field(48, ge=1, description="Longest sampled response, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the base policy's responses.")
    seed: int = Field(0, description="Seed of sampling and labelling: the same seed gives the same pairs.")


def read_prompt_file(path: Path) -> list:
    """Prompts from a .txt (one per line) or a .jsonl file (a `prompt` string or message list per line)."""
    if path.suffix == ".jsonl":
        prompts = []
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict) or "prompt" not in row:
                    raise ConfigError(f"{path}: line {i}: expected a JSON object with a 'prompt' field")
                prompts.append(row["prompt"])
    else:
        prompts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not prompts:
        raise ConfigError(f"{path}: no prompts")
    return prompts


def label_pairs(prompts: list, responses: list[list], scores: np.ndarray, names: list[str],
                config: PromptPairsConfig) -> datasets.Dataset:  # fmt: skip
    """One pair per prompt and objective. `responses` (P, R) and `scores` (P, R, K), maximize convention."""
    rng = np.random.default_rng(config.seed)
    n_prompts, n_responses, k = scores.shape
    spread = scores.reshape(-1, k).std(axis=0)  # (K,)
    spread = np.where(spread > 0, spread, 1.0)
    rows: dict[str, list] = {"prompt": [], "chosen": [], "rejected": [], "objective": []}
    for j, name in enumerate(names):
        for i in range(n_prompts):
            s = scores[i, :, j]  # (R,)
            if config.labeling == "best_worst":
                a, b = int(np.argmax(s)), int(np.argmin(s))
                a_wins = True
            else:
                a, b = (int(x) for x in rng.choice(n_responses, size=2, replace=False))
                p_a = 1.0 / (1.0 + np.exp(-(s[a] - s[b]) / (config.bt_scale * spread[j])))
                a_wins = bool(rng.random() < p_a)
            flip = bool(rng.random() < config.label_noise)
            if s[a] == s[b] or responses[i][a] == responses[i][b]:
                continue  # a tie carries no preference on this objective
            if flip:
                a_wins = not a_wins
            chosen, rejected = (a, b) if a_wins else (b, a)
            rows["prompt"].append(prompts[i])
            rows["chosen"].append(responses[i][chosen])
            rows["rejected"].append(responses[i][rejected])
            rows["objective"].append(name)
    return datasets.Dataset.from_dict(rows)
