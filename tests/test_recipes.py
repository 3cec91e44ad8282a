"""Every recipe under experiments/recipes/ validates, and validating it touches neither the hub nor the disk."""

from __future__ import annotations

from pathlib import Path

import datasets
import huggingface_hub
import pytest
import transformers

from pareto_align.config import load_config

RECIPES = sorted((Path(__file__).resolve().parents[1] / "experiments" / "recipes").glob("*.yaml"))


@pytest.fixture
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"validation tried to load {args[:1]}")

    for owner, name in [(datasets, "load_dataset"), (huggingface_hub, "hf_hub_download"),
                        (huggingface_hub, "snapshot_download"), (transformers.AutoConfig, "from_pretrained"),
                        (transformers.AutoTokenizer, "from_pretrained"),
                        (transformers.AutoModelForCausalLM, "from_pretrained")]:  # fmt: skip
        monkeypatch.setattr(owner, name, refuse)


def test_there_are_recipes_for_the_papers_settings():
    assert {p.stem for p in RECIPES} >= {"pku_saferlhf_modpo", "helpsteer2_dpa", "three_objectives_modpo"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates_without_downloading(path, no_downloads):
    config = load_config(path)
    assert config.policy.model and not Path(config.policy.model).exists()  # a hub name
    assert config.policy.lora is not None  # sized for one GPU
    assert config.data.source == "files" and all(f.hub and f.path is None for f in config.data.files)
    assert config.evaluation.scorer == "reward_model"
