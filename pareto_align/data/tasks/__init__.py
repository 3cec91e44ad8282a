"""Prompt sets shipped with the package: requests without responses, for runs that score with functions or reward
models (`scorer:` per objective) and label their own preference pairs.

`assistant`: requests people make of a small assistant, written for this toolkit (not drawn from any dataset), in
11 kinds of 34 each: advice, explanation, how_to, rewriting (the text to rewrite is in the request), opinion,
creative, complaint_reply (answer a customer's or neighbour's complaint), recommendation, message (write an email
or text for a situation), venting (frustration or sadness, sometimes in rough words, that asks for support),
comparison. `train.jsonl` holds 308, `eval.jsonl` 66 held out (6 per kind, drawn by a seeded shuffle). One JSON
object a line: `prompt` (a string; the chat template wraps it as a user turn in a chat run) and `kind`. The files
are what `data.eval_prompts` and prompt files read (`prompt` field).
"""

from __future__ import annotations

import json
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
TASKS = ("assistant",)
SPLITS = ("train", "eval")


def task_path(task: str, split: str) -> Path:
    """The JSONL file of a shipped prompt set's split."""
    if task not in TASKS or split not in SPLITS:
        raise ValueError(f"unknown prompt set {task!r}/{split!r}; shipped: {list(TASKS)} x {list(SPLITS)}")
    return TASKS_DIR / task / f"{split}.jsonl"


def load_task(task: str, split: str) -> list[dict[str, str]]:
    """A shipped prompt set's rows, in file order: `prompt` and `kind`."""
    return [json.loads(line) for line in task_path(task, split).read_text().splitlines() if line.strip()]
