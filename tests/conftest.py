"""Shared fixtures: everything offline, tiny, and in a temporary benchmark cache."""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402

TINY_SYNTHETIC = {
    "corpus_size": 1500,
    "n_pairs": 240,
    "model": {"hidden_size": 32, "num_layers": 1, "num_heads": 2},
    "pretrain": {"steps": 60, "batch_size": 32, "learning_rate": 3e-3},
}


def tiny_sweep_dict(cache_dir, **overrides) -> dict:
    """A complete sweep config sized for tests: 2 objectives, 2 grid points, a few optimizer steps."""
    config = {
        "name": "tiny",
        "cache_dir": str(cache_dir),
        "objectives": [
            {"name": "helpful", "gold": "topic_coverage"},
            {"name": "length", "gold": "word_count", "direction": "min"},
        ],
        "reference_point": [0.0, -24.0],
        "data": {"synthetic": TINY_SYNTHETIC},
        "reward_model": {"training": {"num_train_epochs": 1, "per_device_train_batch_size": 64}},
        "weights": {"kind": "explicit", "weights": [[1.0, 0.0], [0.3, 0.7]]},
        "method": {"trl": {"max_steps": 4, "per_device_train_batch_size": 8, "logging_steps": 2}},
        "evaluation": {"samples_per_prompt": 2, "max_prompts": 6, "generation": {"max_new_tokens": 12}},
    }
    config.update(overrides)
    return config


@pytest.fixture(autouse=True)
def _sweeps_write_no_png(request, monkeypatch):
    """Sweeps run through the CLI write front.csv and front.html but no front.png here: each PNG starts Chromium
    (about 2.4 s on 2 cores, some 40 sweeps in the suite). The PNG path itself, with a real browser and with failing
    ones, is tested in test_export_figures.py, which keeps it."""
    if request.module.__name__ != "test_export_figures":
        from pareto_align import cli

        monkeypatch.setattr(cli, "FRONT_IMAGE", None)


@pytest.fixture(scope="session")
def benchmark_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("benchmark-cache")


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    """A saved random-init causal LM (hidden 32, 1 layer) and its word-level tokenizer."""
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer

    words = ["a", "b", "c", "d", "e", "f", "g", "h"]
    tok = train_word_tokenizer([" ".join(words)])
    model = build_tiny_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    path = tmp_path_factory.mktemp("tiny-policy")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def standin_dirs(tmp_path_factory) -> dict:
    """Qwen2- and Llama-3-shaped instruct stand-ins saved like hub snapshots (bf16 weights, BPE tokenizer, chat
    template, several end ids): family -> folder (see pareto_align/models/standin.py)."""
    from pareto_align.models.standin import FAMILIES, save_standin

    root = tmp_path_factory.mktemp("standins")
    return {family: str(save_standin(family, root / family)) for family in FAMILIES}


def standin_sweep_dict(model: str, data_dir, cache_dir, method: dict, **policy) -> dict:
    """A sweep on a stand-in (or any model folder) with `pku_files`' data, sized to run a method for a step or two:
    2 objectives, one weight vector, a reward model of one step, 2 held-out prompts x 1 sample of 4 tokens."""
    return {
        "name": "standin",
        "cache_dir": str(cache_dir),
        "objectives": [{"name": "helpful"}, {"name": "harmless"}],
        "reference_point": [-10.0, -10.0],
        "data": {"source": "files", "eval_prompts": str(data_dir / "eval.txt"),
                 "files": [{"path": str(data_dir / "pku.jsonl"), "format": "per_objective_labels",
                            "labels": {"helpful": "better_response_id", "harmless": "safer_response_id"}}]},
        "policy": {"model": model, **policy},
        "reward_model": {"training": {"max_steps": 1, "per_device_train_batch_size": 8}},
        "weights": {"kind": "explicit", "weights": [[0.5, 0.5]]},
        "method": method,
        "evaluation": {"scorer": "reward_model", "samples_per_prompt": 1, "max_prompts": 2,
                       "generation": {"max_new_tokens": 4}},
    }  # fmt: skip


@pytest.fixture(scope="session")
def pku_files(tmp_path_factory):
    """24 PKU-SafeRLHF-shaped rows (pku.jsonl: helpful and harmless labels) and 2 held-out prompts (eval.txt)."""
    from pareto_align.data.examples import pku_rows, write_jsonl

    data = tmp_path_factory.mktemp("pku")
    write_jsonl(pku_rows(24), data / "pku.jsonl")
    (data / "eval.txt").write_text("Explain the weather?\nWrite a list of steps?\n")
    return data
