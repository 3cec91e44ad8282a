"""Rebuilding the policy behind any point of a front from its handle (contract: policy handles, DESIGN.md).

- checkpoint:  {"kind": "checkpoint", "path": "points/p0/policy"}
- soup:        {"kind": "soup", "checkpoints": [...], "coefficients": [...]}  -- weights interpolated on load
- conditioned: {"kind": "conditioned", "path": ..., "direction": [...]}      -- direction written into the prompt

Paths are relative to the run directory, and must stay inside it. A checkpoint is either a full model
(config.json + safetensors) or a PEFT LoRA adapter (adapter_config.json), which is merged into its base model on
load; the adapter's base is a path relative to the run directory (the sweep writes it so) or the user's model
name or path. Soups interpolate the merged weights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pareto_align.soups import interpolate_state_dicts

ADAPTER_CONFIG = "adapter_config.json"


class PolicyLoadError(ValueError):
    """A handle that cannot be rebuilt: missing checkpoint, bad kind, path outside the run directory."""


def format_conditioned_prompt(prompt: str, direction: Sequence[float]) -> str:
    """Write a preference direction into the prompt, as directional preference alignment (DPA) conditions on it."""
    return "<pref> " + " ".join(f"{d:.2f}" for d in direction) + " </pref> " + prompt


@dataclass
class Policy:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    handle: dict[str, Any]
    direction: list[float] | None = field(default=None)

    def format_prompt(self, prompt: str) -> str:
        return prompt if self.direction is None else format_conditioned_prompt(prompt, self.direction)


def _resolve(run_dir: Path, rel: str) -> Path:
    path = (run_dir / rel).resolve()
    if not path.is_relative_to(run_dir.resolve()):
        raise PolicyLoadError(f"{run_dir}: policy path '{rel}' points outside the run directory")
    if not is_checkpoint(path):
        raise PolicyLoadError(
            f"{run_dir}: checkpoint '{rel}' is missing (no config.json or {ADAPTER_CONFIG} at {path})"
        )
    return path


def is_checkpoint(path: Path) -> bool:
    """Whether `path` holds a loadable checkpoint: a full model or a LoRA adapter."""
    return (path / "config.json").is_file() or (path / ADAPTER_CONFIG).is_file()


def _load_weights(path: Path, run_dir: Path) -> PreTrainedModel:
    """A full checkpoint, or a LoRA adapter merged into its base (so generation runs at full-model speed)."""
    if not (path / ADAPTER_CONFIG).exists():
        return AutoModelForCausalLM.from_pretrained(path, trust_remote_code=False, use_safetensors=True)
    from peft import PeftModel

    base_ref = json.loads((path / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    base_path = run_dir / base_ref
    base = AutoModelForCausalLM.from_pretrained(
        base_path if base_path.exists() else base_ref, trust_remote_code=False, use_safetensors=True
    )
    return PeftModel.from_pretrained(base, path).merge_and_unload()


def _load_checkpoint(
    path: Path, run_dir: Path, device: str | torch.device | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    model = _load_weights(path, run_dir)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    tokenizer.padding_side = "left"
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_policy(
    handle: Mapping[str, Any], run_dir: str | Path, device: str | torch.device | None = None
) -> Policy:
    """Rebuild the policy of a front point without re-training. `handle` is the point's `policy` entry."""
    run_dir = Path(run_dir)
    handle = dict(handle)
    kind = handle.get("kind")
    if kind == "checkpoint":
        model, tok = _load_checkpoint(_resolve(run_dir, handle["path"]), run_dir, device)
        return Policy(model, tok, handle)
    if kind == "conditioned":
        model, tok = _load_checkpoint(_resolve(run_dir, handle["path"]), run_dir, device)
        return Policy(model, tok, handle, direction=list(handle["direction"]))
    if kind == "soup":
        paths = [_resolve(run_dir, p) for p in handle["checkpoints"]]
        model, tok = _load_checkpoint(paths[0], run_dir, device)
        state_dicts = [model.state_dict()]
        for p in paths[1:]:
            state_dicts.append(_load_weights(p, run_dir).to(model.device).state_dict())
        model.load_state_dict(interpolate_state_dicts(state_dicts, handle["coefficients"]))
        return Policy(model, tok, handle)
    raise PolicyLoadError(
        f"{run_dir}: unknown policy handle kind {kind!r} (expected checkpoint, soup or conditioned)"
    )
