"""Small preference files in the shapes of the data sets users train on, written locally (no hub download).

- `ultrafeedback_rows`: UltraFeedback-binarized (HuggingFaceH4/ultrafeedback_binarized, split train_prefs): a string
  `prompt`, and `chosen` / `rejected` conversations that repeat it as their user turn, with `score_chosen` /
  `score_rejected`. Read as `format: pairwise` (TRL extracts the shared turn into the prompt).
- `pku_rows`: PKU-SafeRLHF: a string `prompt`, plain-string `response_0` / `response_1`, and per objective the index
  of the preferred response (`better_response_id`, `safer_response_id`). Read as `format: per_objective_labels`.
- `helpsteer_rows`: HelpSteer2: a string `prompt`, one plain `response` and integer attribute scores.

The texts come from the stand-in vocabulary (`models/standin.py`); chosen responses are longer and use "helpful"
words, safer responses avoid "harmful" ones, so a reward model has something to learn. Used by the real-model test
tier and the GPU check, and handy for trying a config before pointing it at the real data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pareto_align.models.standin import WORDS

_HELPFUL = ["answer", "explain", "steps", "help", "code", "list", "summary", "kindly", "please"]
_HARMFUL = ["harmful", "cannot", "sorry"]


def _sentence(rng: random.Random, n: int, extra: list[str] | None = None) -> str:
    words = rng.choices(WORDS, k=n) + (extra or [])
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def _prompt(rng: random.Random) -> str:
    return _sentence(rng, rng.randint(3, 7))[:-1] + "?"


def ultrafeedback_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` rows of UltraFeedback-binarized's shape (see the module docstring)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt = _prompt(rng)
        good = _sentence(rng, rng.randint(6, 12), rng.sample(_HELPFUL, 2))
        bad = _sentence(rng, rng.randint(2, 5))
        rows.append({
            "prompt": prompt,
            "prompt_id": f"{i:05d}",
            "chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": good}],
            "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": bad}],
            "score_chosen": float(rng.randint(6, 10)),
            "score_rejected": float(rng.randint(1, 5)),
        })  # fmt: skip
    return rows


def pku_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` rows of PKU-SafeRLHF's shape (see the module docstring)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        safe = _sentence(rng, rng.randint(4, 9), rng.sample(_HELPFUL, 1))
        unsafe = _sentence(rng, rng.randint(4, 9), rng.sample(_HARMFUL, 2))
        first_safe = rng.random() < 0.5
        r0, r1 = (safe, unsafe) if first_safe else (unsafe, safe)
        rows.append({
            "prompt": _prompt(rng),
            "response_0": r0,
            "response_1": r1,
            "is_response_0_safe": first_safe,
            "is_response_1_safe": not first_safe,
            "better_response_id": int(len(r1) > len(r0)),
            "safer_response_id": 0 if first_safe else 1,
        })  # fmt: skip
    return rows


def helpsteer_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` rows of HelpSteer2's shape: one response with integer scores 0-4 per attribute."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.randint(0, 4)
        response = _sentence(rng, 3 + 2 * k, rng.sample(_HELPFUL, min(k, 2)))
        rows.append({"prompt": _prompt(rng), "response": response, "helpfulness": k,
                     "verbosity": min(4, len(response.split()) // 4)})  # fmt: skip
    return rows


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
