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
