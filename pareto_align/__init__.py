"""pareto_align: multi-objective Pareto alignment of language models.

The public API, imported lazily so that `import pareto_align` stays cheap (TRL alone costs seconds):

    from pareto_align import load_config, run_sweep, read_front, load_policy
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

try:  # the version lives in pyproject.toml only
    __version__ = importlib.metadata.version("pareto-align")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC: dict[str, str] = {
    # configuration and sweeps
    "load_config": "pareto_align.config",
    "SweepConfig": "pareto_align.config",
    "ConfigError": "pareto_align.config",
    "run_sweep": "pareto_align.sweep",
    "METHODS": "pareto_align.methods",
    "Workspace": "pareto_align.workspace",
    "weight_grid": "pareto_align.objectives",
    "Scalarization": "pareto_align.objectives",
    "scalarize": "pareto_align.objectives",
    # data
    "SyntheticConfig": "pareto_align.data.synthetic",
    "load_synthetic_benchmark": "pareto_align.data.synthetic",
    "GoldScorer": "pareto_align.data.gold",
    "DataFileConfig": "pareto_align.data.formats",
    "load_preference_files": "pareto_align.data.loading",
    # models
    "MultiHeadRewardModel": "pareto_align.models.reward_model",
    "load_policy": "pareto_align.models.policy",
    "generate": "pareto_align.models.generation",
    "GenerationSettings": "pareto_align.models.generation",
    "interpolate_state_dicts": "pareto_align.soups",
    # trainers
    "MODPOConfig": "pareto_align.trainers.modpo_config",
    "MODPOTrainer": "pareto_align.trainers.modpo_trainer",
    "modpo_loss": "pareto_align.trainers.modpo_trainer",
    "RewardModelConfig": "pareto_align.trainers.reward_model_config",
    "train_reward_model": "pareto_align.trainers.reward_model_trainer",
    "ObjectiveRewards": "pareto_align.rewards",
    # evaluation and fronts
    "evaluate_policy": "pareto_align.evaluate",
    "Front": "pareto_align.front",
    "FrontTracker": "pareto_align.front",
    "read_front": "pareto_align.front",
    "write_front": "pareto_align.front",
    "hypervolume": "pareto_align.front",
    "expected_utility": "pareto_align.front",
    "sparsity": "pareto_align.front",
    "cardinality": "pareto_align.front",
    "non_dominated_mask": "pareto_align.front",
    "export_runs": "pareto_align.export",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'pareto_align' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
