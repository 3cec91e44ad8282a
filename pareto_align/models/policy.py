"""Rebuilding the policy behind any point of a front from its handle (contract: policy handles, DESIGN.md).

- checkpoint:  {"kind": "checkpoint", "path": "points/p0/policy"}
               {"kind": "checkpoint", "path": "Qwen/Qwen2.5-0.5B-Instruct", "revision": "<commit>", "hub": true}
               -- a model outside the run (the base policy of a real run), by hub name or absolute path
- soup:        {"kind": "soup", "checkpoints": [...], "coefficients": [...]}  -- weights interpolated on load
- conditioned: {"kind": "conditioned", "path": ..., "direction": [...]}      -- direction written into the prompt
               optional "template" and "condition": how it is written (DPA's integer weights, RiC's desired
               scores; see models/conditioning.py)
- best_of_n:   {"kind": "best_of_n", "path": ..., "n": 8, "reward_model": "reward_model", "weights": [...]}
               -- n candidates sampled from the checkpoint, the best by the scalarized reward model kept
- mixture:     {"kind": "mixture", "checkpoints": [...], "weights": [...]}
               -- specialists combined token by token at decoding time (MOD, see models/mixture.py)

Paths are relative to the run directory, and must stay inside it. A checkpoint is either a full model
(config.json + safetensors) or a PEFT LoRA adapter (adapter_config.json), which is merged into its base model on
load; the adapter's base is a path relative to the run directory (the sweep writes it so) or the user's model
name or path. Soups interpolate the merged weights.

Memory: a soup never holds K full models. LoRA specialists are loaded as named adapters on one base (PEFT's
`load_adapter`) and merged layer by layer (see `models/adapters.py`); full checkpoints are interpolated tensor by
tensor from their files (`soups.interpolate_into`). A mixture loads only the specialists with a non-zero weight,
LoRA ones as adapters on one base (see `models/mixture.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pareto_align.models.conditioning import format_conditioned_prompt
from pareto_align.models.generation import Generated, GenerationSettings, generate, scorable_responses
from pareto_align.objectives import Scalarization, scalarize
from pareto_align.soups import (
    SafetensorsCheckpoint,
    SoupMixer,
    check_coefficients,
    interpolate_into,
    interpolate_state_dicts,
)

if TYPE_CHECKING:
    from pareto_align.models.adapters import AdapterSoupMixer

ADAPTER_CONFIG = "adapter_config.json"


class PolicyLoadError(ValueError):
    """A handle that cannot be rebuilt: missing checkpoint, bad kind, path outside the run directory."""


@dataclass
class Policy:
    """A loaded policy. `generate` is how the sweep, the evaluator and the explorer sample from it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    handle: dict[str, Any]
    direction: list[float] | None = field(default=None)
    template: str | None = None  # how a conditioned policy writes its direction (None: "<pref> ... </pref>")
    condition: dict[str, Any] | None = None

    def format_prompt(self, prompt):
        if self.direction is None:
            return prompt
        return format_conditioned_prompt(prompt, self.direction, self.template, self.condition)

    def generate(self, prompts: list, settings: GenerationSettings | None = None, seed: int = 0) -> Generated:
        """One response per prompt (see `models.generation.generate`); prompts as the user wrote them."""
        out = generate(
            self.model, self.tokenizer, [self.format_prompt(p) for p in prompts], settings, seed=seed
        )
        return Generated(list(prompts), out.responses, out.n_tokens)


@dataclass
class BestOfNPolicy(Policy):
    """Best-of-n selection: n candidates per prompt from the model, the one with the highest scalarized reward
    kept. `generate` reports every candidate's tokens in `n_tokens`: they are its cost."""

    reward_model: Any = None  # a Scorer: (prompts, responses) -> (N, K)
    n: int = 1
    weights: list[float] = field(default_factory=list)
    scalarization: Scalarization | None = None

    def generate(self, prompts: list, settings: GenerationSettings | None = None, seed: int = 0) -> Generated:
        repeated = [p for p in prompts for _ in range(self.n)]  # (N * n,), candidates of a prompt adjacent
        out = generate(self.model, self.tokenizer, repeated, settings, seed=seed)
        candidates = scorable_responses(repeated, out.responses)
        rewards = self.reward_model.score(repeated, candidates).double().numpy()  # (N * n, K)
        utility = scalarize(rewards, np.asarray(self.weights), self.scalarization).reshape(
            len(prompts), self.n
        )
        best = utility.argmax(axis=1)  # (N,), the first of ties
        chosen = [out.responses[i * self.n + j] for i, j in enumerate(best)]
        return Generated(list(prompts), chosen, out.n_tokens)


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


def _load_weights(path: Path, run_dir: Path, merge: bool = True) -> PreTrainedModel:
    """A full checkpoint, or a LoRA adapter merged into its base (so generation runs at full-model speed)."""
    if not (path / ADAPTER_CONFIG).exists():
        return AutoModelForCausalLM.from_pretrained(path, trust_remote_code=False, use_safetensors=True)
    from peft import PeftModel

    base_ref = json.loads((path / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    base_path = run_dir / base_ref
    base = AutoModelForCausalLM.from_pretrained(
        base_path if base_path.exists() else base_ref, trust_remote_code=False, use_safetensors=True
    )
    peft_model = PeftModel.from_pretrained(base, path)
    return peft_model.merge_and_unload() if merge else peft_model


def _load_lora_ab_soup(paths: list[Path], coefficients, run_dir: Path, device):
    """Rewarded soups' LoRA interpolation: A and B matrices averaged separately, then merged into the base."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    if not all((p / ADAPTER_CONFIG).is_file() for p in paths):
        raise PolicyLoadError(
            f"{run_dir}: lora_interpolation 'ab' needs LoRA adapters, and a soup checkpoint is a full model"
        )
    peft_model = _load_weights(paths[0], run_dir, merge=False)
    adapters = [load_file(p / "adapter_model.safetensors") for p in paths]
    set_peft_model_state_dict(peft_model, interpolate_state_dicts(adapters, coefficients))
    return _ready(peft_model.merge_and_unload(), paths[0], device)


def _is_adapter(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file()


def _load_adapters(paths: list[Path], run_dir: Path):
    """One base model with every adapter of `paths` loaded on it under its own name (specialists of one base):
    the PeftModel and the adapter names, in the order of `paths`."""
    bases = [json.loads((p / ADAPTER_CONFIG).read_text())["base_model_name_or_path"] for p in paths]
    if len(set(bases)) > 1:
        raise PolicyLoadError(f"{run_dir}: adapters {_relative(paths, run_dir)} were trained on different base "
                              f"models ({sorted(set(bases))}); a soup or mixture needs one base")  # fmt: skip
    # the base, loaded once, with the first adapter under the name "default"
    peft_model = _load_weights(paths[0], run_dir, merge=False)
    names = [peft_model.active_adapter]
    for i, path in enumerate(paths[1:], start=1):
        peft_model.load_adapter(path, adapter_name=f"specialist-{i}")
        names.append(f"specialist-{i}")
    return peft_model, names


def _relative(paths: list[Path], run_dir: Path) -> list[str]:
    return [str(p.relative_to(run_dir.resolve())) for p in paths]


def _specialist_kind(paths: list[Path], run_dir: Path) -> str:
    """'adapters' when every checkpoint is a LoRA adapter, 'full' when none is; a mix of both is refused."""
    adapters = [_is_adapter(p) for p in paths]
    if all(adapters):
        return "adapters"
    if any(adapters):
        raise PolicyLoadError(
            f"{run_dir}: checkpoints {_relative(paths, run_dir)} mix LoRA adapters and full models; "
            "a soup or mixture takes specialists of one kind"
        )
    return "full"


def _load_soup(
    paths: list[Path], coefficients, run_dir: Path, device
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """theta(lambda) built without K models in memory: LoRA adapters on one base, merged layer by layer; full
    checkpoints interpolated tensor by tensor from their files into the first, in its dtype (see soups.py)."""
    from pareto_align.models.adapters import merge_soup

    check_coefficients(coefficients, len(paths))
    if _specialist_kind(paths, run_dir) == "adapters":
        peft_model, names = _load_adapters(paths, run_dir)
        peft_model, tok = _ready(peft_model, paths[0], device)  # merged where it runs (a GPU merges faster)
        return merge_soup(peft_model, names, coefficients).eval(), tok
    model, tok = _load_checkpoint(paths[0], run_dir, device)
    try:
        interpolate_into(model, [SafetensorsCheckpoint(p) for p in paths], coefficients)
    except (ValueError, KeyError, OSError) as err:
        raise PolicyLoadError(f"{run_dir}: soup of {_relative(paths, run_dir)}: {err}") from err
    return model, tok


def load_soup_mixer(
    paths: list[Path], run_dir: Path, device=None
) -> tuple[SoupMixer | AdapterSoupMixer, PreTrainedTokenizerBase]:
    """A mixer over checkpoints, to re-mix theta(lambda) in memory at any coefficients (the explorer's slider):
    plain LoRA adapters on one base re-scaled (one model's memory); other adapters, or full checkpoints, with the
    versions of every tensor that differs held K times (mixing merged adapters averages the products B A, so
    theta(lambda) is exact either way)."""
    from pareto_align.models.adapters import AdapterSoupMixer, is_plain_lora, merged_layer_mixer

    if _specialist_kind(paths, run_dir) == "adapters":
        peft_model, names = _load_adapters(paths, run_dir)
        peft_model, tok = _ready(peft_model, paths[0], device)
        if is_plain_lora(peft_model, names):
            return AdapterSoupMixer(peft_model, names), tok
        return merged_layer_mixer(peft_model, names), tok
    model, tok = _load_checkpoint(paths[0], run_dir, device)
    return SoupMixer.from_checkpoints(model, [SafetensorsCheckpoint(p) for p in paths]), tok


def _load_mixture(handle: dict[str, Any], run_dir: Path, device):
    """MOD's specialists: only those with a non-zero weight are loaded; LoRA specialists as adapters on one base,
    switched per forward pass, unless one alone is active (then merged, so it runs as that specialist alone)."""
    from pareto_align.models.adapters import AdapterSpecialist
    from pareto_align.models.mixture import MixturePolicy

    paths = [_resolve(run_dir, p) for p in handle["checkpoints"]]
    weights = list(handle["weights"])
    active = [i for i, w in enumerate(weights) if w > 0]
    specialists: list = [None] * len(paths)  # weight 0: never run, never loaded
    if len(active) > 1 and _specialist_kind(paths, run_dir) == "adapters":
        peft_model, names = _load_adapters([paths[i] for i in active], run_dir)
        peft_model, tok = _ready(peft_model, paths[active[0]], device)
        for i, name in zip(active, names, strict=True):
            specialists[i] = AdapterSpecialist(peft_model, name)
    else:
        for i in active:
            specialists[i], tok = _load_checkpoint(paths[i], run_dir, device)
    return MixturePolicy(specialists, tok, handle, weights=weights)


def _load_checkpoint(
    path: Path, run_dir: Path, device: str | torch.device | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    return _ready(_load_weights(path, run_dir), path, device)


def _ready(
    model: PreTrainedModel, path: Path, device: str | torch.device | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model on `device` in eval mode, with the checkpoint's tokenizer (left padding, for generation)."""
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    tokenizer.padding_side = "left"
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def _load_hub(
    name: str, revision: str | None, device: str | torch.device | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A model by hub name (or a path outside the run) at `revision`: what a real run's base policy is."""
    try:
        model = AutoModelForCausalLM.from_pretrained(name, revision=revision, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=False)
    except (OSError, ValueError) as err:  # unknown name or revision, offline without a cached copy
        raise PolicyLoadError(
            f"model {name!r} (revision {revision or 'default'}) could not be loaded: {err}"
        ) from err
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
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
    if kind == "checkpoint" and handle.get("hub"):
        model, tok = _load_hub(handle["path"], handle.get("revision"), device)
        return Policy(model, tok, handle)
    if kind == "checkpoint":
        model, tok = _load_checkpoint(_resolve(run_dir, handle["path"]), run_dir, device)
        return Policy(model, tok, handle)
    if kind == "conditioned":
        model, tok = _load_checkpoint(_resolve(run_dir, handle["path"]), run_dir, device)
        return Policy(model, tok, handle, direction=list(handle["direction"]), template=handle.get("template"),
                      condition=handle.get("condition"))  # fmt: skip
    if kind == "best_of_n":
        from pareto_align.models.reward_model import MultiHeadRewardModel

        model, tok = _load_checkpoint(_resolve(run_dir, handle["path"]), run_dir, device)
        rm_path = (run_dir / handle["reward_model"]).resolve()
        if not rm_path.is_relative_to(run_dir.resolve()) or not rm_path.is_dir():
            raise PolicyLoadError(
                f"{run_dir}: reward model '{handle['reward_model']}' is missing or outside the run"
            )
        reward_model = MultiHeadRewardModel.load(rm_path).to(model.device)
        scalarization = Scalarization(**handle["scalarization"]) if handle.get("scalarization") else None
        return BestOfNPolicy(model, tok, handle, reward_model=reward_model, n=int(handle["n"]),
                             weights=list(handle["weights"]), scalarization=scalarization)  # fmt: skip
    if kind == "soup":
        paths = [_resolve(run_dir, p) for p in handle["checkpoints"]]
        if handle.get("lora_interpolation") == "ab":
            model, tok = _load_lora_ab_soup(paths, handle["coefficients"], run_dir, device)
            return Policy(model, tok, handle)
        model, tok = _load_soup(paths, handle["coefficients"], run_dir, device)
        return Policy(model, tok, handle)
    if kind == "mixture":
        return _load_mixture(handle, run_dir, device)  # type: ignore[return-value]
    raise PolicyLoadError(
        f"{run_dir}: unknown policy handle kind {kind!r} (expected checkpoint, soup, conditioned, best_of_n or mixture)"
    )
