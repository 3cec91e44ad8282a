"""The prompt sets shipped with the package (pareto_align/data/tasks)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from pareto_align.data.tasks import TASKS_DIR, load_task, task_path

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"advice", "explanation", "how_to", "rewriting", "opinion", "creative", "complaint_reply",
         "recommendation", "message", "venting", "comparison"}  # fmt: skip


def test_assistant_prompts_are_several_hundred_distinct_requests_of_stated_kinds():
    train, held_out = load_task("assistant", "train"), load_task("assistant", "eval")
    assert len(train) >= 300 and len(held_out) >= 64
    for rows in (train, held_out):
        assert all(set(r) == {"prompt", "kind"} and r["prompt"].strip() == r["prompt"] != "" for r in rows)
        assert set(Counter(r["kind"] for r in rows)) == KINDS  # every kind in both splits
    prompts = [r["prompt"] for r in train + held_out]
    assert len(set(p.lower() for p in prompts)) == len(prompts)  # no duplicates, none shared by the splits
    assert min(Counter(r["kind"] for r in held_out).values()) >= 5


def test_the_files_read_as_held_out_prompts_and_ship_with_the_package():
    from pareto_align.data.scored_pairs import read_prompt_file

    path = task_path("assistant", "eval")
    assert read_prompt_file(path) == [r["prompt"] for r in load_task("assistant", "eval")]
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package_root = ROOT / "pareto_align"
    shipped = {p for pattern in patterns["pareto_align"] for p in package_root.glob(pattern)}
    assert {path, task_path("assistant", "train")} <= shipped and path.is_relative_to(TASKS_DIR)
    with pytest.raises(ValueError, match="unknown prompt set"):
        task_path("assistant", "test")
