"""Rebuilding the policy behind any point of a front from its handle (contract: policy handles,
docs/contracts.md).

- checkpoint:  {"kind": "checkpoint", "path": "points/p0/policy"}
               {"kind": "checkpoint", "path": "Qwen/Qwen2.5-0.5B-Instruct", "revision": "<commit>", "hub": true}
               -- a model outside the run (the base policy of a real run), by hub name or absolute path
- soup:        {"kind": "soup", "checkpoints": [...], "coefficients": [...]}  -- weights interpolated on load
- conditioned: {"kind": "conditioned", "path": ..., "direction": [...]}      -- direction written into the prompt
               optional "template" and "condition": how it is written (DPA's integer weights, RiC's desired
               scores; see models/conditioning.py); "conditioning": "svd_lora" | "both" (Panacea): `path` is an
               SVD-LoRA adapter on its base (models/svd_lora.py) merged at lambda = direction (written into the
               prompt too with "both"); with "prompt" (the default) an SVD-LoRA is merged at the simplex centre
- best_of_n:   {"kind": "best_of_n", "path": ..., "n": 8, "reward_model": "reward_model", "weights": [...]}
               -- n candidates sampled from the checkpoint, the best by the scalarized reward model kept; the
               checkpoint may be a model outside the run by hub name, as a checkpoint's ("hub", "revision")
- mixture:     {"kind": "mixture", "checkpoints": [...], "weights": [...]}
               -- specialists combined token by token at decoding time (MOD, see models/mixture.py)

A handle is the typed `PolicyHandle` of the front schema (front/schema.py: its fields, and which kind uses which);
`load_policy` takes it, or a plain mapping that it validates once into it, and calls the loader of its kind in
`POLICY_LOADERS`, one function per kind that reads the handle's typed fields. A new kind is its fields in the schema
and one loader in that table (tests/test_policy_loaders.py holds every kind of the schema to a loader).

Paths are relative to the run directory, and must stay inside it. A checkpoint is either a full model
(config.json + safetensors) or a PEFT LoRA adapter (adapter_config.json), which is merged into its base model on
load; the adapter's base is a path relative to the run directory (the sweep writes it so) or the user's model
name or path, reloaded at the revision the adapter config records (PEFT's `revision` field, written by the
sweep), so LoRA points, soups and mixtures are rebuilt on the base they were trained on. Soups interpolate the
merged weights.

Every model is rebuilt frozen, in the dtype the run's `policy.dtype` asks for (read from the run directory's
config.yaml unless the caller says; "auto", the checkpoint's own, without one): see models/loading.py.

Memory: a soup never holds K full models. LoRA specialists are loaded as named adapters on one base (PEFT's
`load_adapter`) and merged layer by layer (see `models/adapters.py`); full checkpoints are interpolated tensor by
tensor from their files (`soups.interpolate_into`). A mixture loads only the specialists with a non-zero weight,
LoRA ones as adapters on one base (see `models/mixture.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from pydantic import ValidationError
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pareto_align.front.schema import PolicyHandle, as_policy_handle
from pareto_align.models.chat import model_prompt
from pareto_align.models.conditioning import format_conditioned_prompt
from pareto_align.models.generation import Generated, GenerationSettings, generate, scorable_responses
from pareto_align.models.loading import frozen_dtype, load_model, load_tokenizer
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
SVD_LORA_CONFIG = "svd_lora_config.json"  # models/svd_lora.py's CONFIG_NAME (that module imports torch)
Device = str | torch.device | None


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
        """The prompt as this policy's model takes it: in the run's prompt format (`models.chat.model_prompt`: a
        user turn in a chat run), then with the direction written in for a conditioned policy."""
        prompt = model_prompt(prompt, self.handle.get("prompt_format"))
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
        # (N * n,), candidates of a prompt adjacent; in the run's format, as the reward model was trained on them
        repeated = [self.format_prompt(p) for p in prompts for _ in range(self.n)]
        out = generate(self.model, self.tokenizer, repeated, settings, seed=seed)
        candidates = scorable_responses(repeated, out.responses)
        rewards = self.reward_model.score(repeated, candidates).double().numpy()  # (N * n, K)
        utility = scalarize(rewards, np.asarray(self.weights), self.scalarization).reshape(
            len(prompts), self.n
        )
        best = utility.argmax(axis=1)  # (N,), the first of ties
        chosen = [out.responses[i * self.n + j] for i, j in enumerate(best)]
        return Generated(list(prompts), chosen, out.n_tokens)


def _ranking_scorer(records: list[dict[str, Any]], heads, device, dtype: str | None):
    """A best-of-n handle's `scorers` (one record per objective) as one scorer (contract: reward scoring)."""
    from pydantic import TypeAdapter

    from pareto_align.errors import ConfigError
    from pareto_align.scorers.composite import build_scorer
    from pareto_align.scorers.specs import ScorerSpec

    try:
        specs = [TypeAdapter(ScorerSpec).validate_python(r["scorer"]) for r in records]
        where = [f"policy.scorers[{k}].scorer" for k in range(len(records))]
        return build_scorer(specs, [r["name"] for r in records], [r["direction"] for r in records], where,
                            heads=heads, gold=None, device=str(device), dtype=dtype)  # fmt: skip
    except (ValidationError, KeyError, ConfigError) as err:
        raise PolicyLoadError(f"best-of-n scorers cannot be rebuilt: {str(err).splitlines()[0]}") from None


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
    return any((path / name).is_file() for name in ("config.json", ADAPTER_CONFIG, SVD_LORA_CONFIG))


def run_dtype(run_dir: Path) -> str:
    """The `policy.dtype` recorded in a run directory's config.yaml ("auto" without one)."""
    record = Path(run_dir) / "config.yaml"
    if not record.is_file():
        return "auto"
    saved = yaml.safe_load(record.read_text()) or {}
    return str(((saved.get("config") or {}).get("policy") or {}).get("dtype") or "auto")


def _load_weights(path: Path, run_dir: Path, merge: bool = True, dtype: str = "auto") -> PreTrainedModel:
    """A full checkpoint, or a LoRA adapter merged into its base (so generation runs at full-model speed), frozen in
    `dtype` (a `policy.dtype` value; the adapter's float32 update is merged into the base's dtype)."""
    if not (path / ADAPTER_CONFIG).exists():
        return load_model(str(path), dtype, use_safetensors=True)
    from peft import PeftModel

    adapter = json.loads((path / ADAPTER_CONFIG).read_text())
    base_ref = adapter["base_model_name_or_path"]
    base_path = (run_dir / base_ref).resolve()
    if base_path.is_relative_to(run_dir.resolve()) and base_path.exists():  # the run's own copy
        base = load_model(str(base_path), dtype, use_safetensors=True)
    else:  # the user's model by name (or a path outside the run), at the revision the sweep recorded
        base = load_model(base_ref, dtype, revision=adapter.get("revision"), use_safetensors=True)
    peft_model = PeftModel.from_pretrained(base, path)
    return peft_model.merge_and_unload() if merge else peft_model


def _load_svd_lora(path: Path, run_dir: Path, lam: list[float], device, dtype: str = "auto"):
    """A Panacea SVD-LoRA on its base (a path in the run dir, or the user's model by name at the revision its
    config records), merged at preference `lam` (K,) so generation runs at the base model's speed."""
    from pareto_align.models.svd_lora import load_svd_lora, merge_preference, read_svd_lora_config

    config = read_svd_lora_config(path)
    if config.base_model is None:
        raise PolicyLoadError(f"{path}: the SVD-LoRA config names no base model")
    base_path = (run_dir / config.base_model).resolve()
    if base_path.is_relative_to(run_dir.resolve()) and base_path.exists():  # the run's own copy
        base = load_model(str(base_path), dtype, use_safetensors=True)
    else:
        base = load_model(config.base_model, dtype, revision=config.revision, use_safetensors=True)
    try:
        model = merge_preference(load_svd_lora(base, path), lam)
    except ValueError as err:  # a lambda of the wrong length or off the simplex, an adapter that does not fit
        raise PolicyLoadError(f"{run_dir}: {err}") from None
    return _ready(model, path, device)


def _load_lora_ab_soup(paths: list[Path], coefficients, run_dir: Path, device, dtype: str = "auto"):
    """Rewarded soups' LoRA interpolation: A and B matrices averaged separately, then merged into the base."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    if not all((p / ADAPTER_CONFIG).is_file() for p in paths):
        raise PolicyLoadError(
            f"{run_dir}: lora_interpolation 'ab' needs LoRA adapters, and a soup checkpoint is a full model"
        )
    peft_model = _load_weights(paths[0], run_dir, merge=False, dtype=dtype)
    adapters = [load_file(p / "adapter_model.safetensors") for p in paths]
    set_peft_model_state_dict(peft_model, interpolate_state_dicts(adapters, coefficients))
    return _ready(peft_model.merge_and_unload(), paths[0], device)


def _is_adapter(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file()


def _load_adapters(paths: list[Path], run_dir: Path, dtype: str = "auto"):
    """One base model with every adapter of `paths` loaded on it under its own name (specialists of one base):
    the PeftModel and the adapter names, in the order of `paths`."""
    bases = [json.loads((p / ADAPTER_CONFIG).read_text())["base_model_name_or_path"] for p in paths]
    if len(set(bases)) > 1:
        raise PolicyLoadError(f"{run_dir}: adapters {_relative(paths, run_dir)} were trained on different base "
                              f"models ({sorted(set(bases))}); a soup or mixture needs one base")  # fmt: skip
    # the base, loaded once, with the first adapter under the name "default"
    peft_model = _load_weights(paths[0], run_dir, merge=False, dtype=dtype)
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
    paths: list[Path], coefficients, run_dir: Path, device, dtype: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """theta(lambda) built without K models in memory: LoRA adapters on one base, merged layer by layer; full
    checkpoints interpolated tensor by tensor from their files into the first, in its dtype (see soups.py)."""
    from pareto_align.models.adapters import merge_soup

    check_coefficients(coefficients, len(paths))
    if _specialist_kind(paths, run_dir) == "adapters":
        peft_model, names = _load_adapters(paths, run_dir, dtype)
        peft_model, tok = _ready(peft_model, paths[0], device)  # merged where it runs (a GPU merges faster)
        return merge_soup(peft_model, names, coefficients).eval(), tok
    model, tok = _load_checkpoint(paths[0], run_dir, device, dtype)
    try:
        interpolate_into(model, [SafetensorsCheckpoint(p) for p in paths], coefficients)
    except (ValueError, KeyError, OSError) as err:
        raise PolicyLoadError(f"{run_dir}: soup of {_relative(paths, run_dir)}: {err}") from err
    return model, tok


def load_soup_mixer(
    paths: list[Path], run_dir: Path, device=None, dtype: str | None = None
) -> tuple[SoupMixer | AdapterSoupMixer, PreTrainedTokenizerBase]:
    """A mixer over checkpoints, to re-mix theta(lambda) in memory at any coefficients (the explorer's slider):
    plain LoRA adapters on one base re-scaled (one model's memory); other adapters, or full checkpoints, with the
    versions of every tensor that differs held K times (mixing merged adapters averages the products B A, so
    theta(lambda) is exact either way). `dtype` None: the run's."""
    from pareto_align.models.adapters import AdapterSoupMixer, is_plain_lora, merged_layer_mixer

    dtype = run_dtype(run_dir) if dtype is None else dtype
    if _specialist_kind(paths, run_dir) == "adapters":
        peft_model, names = _load_adapters(paths, run_dir, dtype)
        peft_model, tok = _ready(peft_model, paths[0], device)
        if is_plain_lora(peft_model, names):
            return AdapterSoupMixer(peft_model, names), tok
        return merged_layer_mixer(peft_model, names), tok
    model, tok = _load_checkpoint(paths[0], run_dir, device, dtype)
    return SoupMixer.from_checkpoints(model, [SafetensorsCheckpoint(p) for p in paths]), tok


def _load_checkpoint(
    path: Path, run_dir: Path, device: str | torch.device | None, dtype: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    return _ready(_load_weights(path, run_dir, dtype=dtype), path, device)


def _ready(
    model: PreTrainedModel, path: Path, device: str | torch.device | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model on `device` in eval mode, with the checkpoint's tokenizer (left padding, for generation)."""
    tokenizer = load_tokenizer(str(path))
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def _load_hub(
    name: str, revision: str | None, device: str | torch.device | None, dtype: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A model by hub name (or a path outside the run) at `revision`: what a real run's base policy is."""
    try:
        model = load_model(name, dtype, revision=revision)
        tokenizer = load_tokenizer(name, revision=revision)
    except (OSError, ValueError) as err:  # unknown name or revision, offline without a cached copy
        raise PolicyLoadError(
            f"model {name!r} (revision {revision or 'default'}) could not be loaded: {err}"
        ) from err
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def _sampling_model(
    handle: PolicyHandle, run_dir: Path, device: Device, dtype: str
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model a checkpoint or best-of-n handle names: the user's by hub name (outside the run), or the run's."""
    assert handle.path is not None  # both kinds need it (PolicyHandle checks)
    if handle.hub:
        return _load_hub(handle.path, handle.revision, device, dtype)
    return _load_checkpoint(_resolve(run_dir, handle.path), run_dir, device, dtype)


def _checkpoint_policy(handle: PolicyHandle, run_dir: Path, device: Device, dtype: str) -> Policy:
    model, tok = _sampling_model(handle, run_dir, device, dtype)
    return Policy(model, tok, _as_dict(handle))


def _soup_policy(handle: PolicyHandle, run_dir: Path, device: Device, dtype: str) -> Policy:
    assert handle.checkpoints is not None and handle.coefficients is not None
    paths = [_resolve(run_dir, p) for p in handle.checkpoints]
    load = _load_lora_ab_soup if handle.lora_interpolation == "ab" else _load_soup
    model, tok = load(paths, handle.coefficients, run_dir, device, dtype)
    return Policy(model, tok, _as_dict(handle))


def _conditioned_policy(handle: PolicyHandle, run_dir: Path, device: Device, dtype: str) -> Policy:
    assert handle.path is not None and handle.direction is not None
    path, direction = _resolve(run_dir, handle.path), list(handle.direction)
    conditioning = handle.conditioning or "prompt"
    if (path / SVD_LORA_CONFIG).is_file():
        lam = direction if conditioning != "prompt" else [1.0 / len(direction)] * len(direction)
        model, tok = _load_svd_lora(path, run_dir, lam, device, dtype)
    elif conditioning != "prompt":
        raise PolicyLoadError(f"{run_dir}: conditioning {conditioning!r} needs an SVD-LoRA at {handle.path}")
    else:
        model, tok = _load_checkpoint(path, run_dir, device, dtype)
    # svd_lora: lambda is in the weights alone
    written = None if conditioning == "svd_lora" else direction
    return Policy(model, tok, _as_dict(handle), direction=written, template=handle.template,
                  condition=handle.condition)  # fmt: skip


def _best_of_n_policy(handle: PolicyHandle, run_dir: Path, device: Device, dtype: str) -> Policy:
    from pareto_align.models.reward_model import MultiHeadRewardModel

    assert handle.n is not None and handle.weights is not None
    model, tok = _sampling_model(handle, run_dir, device, dtype)

    def heads():
        rm_path = (run_dir / (handle.reward_model or "reward_model")).resolve()
        if not rm_path.is_relative_to(run_dir.resolve()) or not rm_path.is_dir():
            raise PolicyLoadError(
                f"{run_dir}: reward model '{handle.reward_model}' is missing or outside the run"
            )
        return MultiHeadRewardModel.load(rm_path, dtype=frozen_dtype(dtype)).to(model.device)

    reward_model = _ranking_scorer(handle.scorers, heads, model.device, dtype) if handle.scorers else heads()
    scalarization = Scalarization(**handle.scalarization) if handle.scalarization else None
    return BestOfNPolicy(model, tok, _as_dict(handle), reward_model=reward_model, n=handle.n,
                         weights=list(handle.weights), scalarization=scalarization)  # fmt: skip


def _mixture_policy(handle: PolicyHandle, run_dir: Path, device: Device, dtype: str) -> Policy:
    """MOD's specialists: only those with a non-zero weight are loaded; LoRA specialists as adapters on one base,
    switched per forward pass, unless one alone is active (then merged, so it runs as that specialist alone)."""
    from pareto_align.models.adapters import AdapterSpecialist
    from pareto_align.models.mixture import MixturePolicy

    assert handle.checkpoints is not None and handle.weights is not None
    paths = [_resolve(run_dir, p) for p in handle.checkpoints]
    weights = list(handle.weights)
    active = [i for i, w in enumerate(weights) if w > 0]
    specialists: list = [None] * len(paths)  # weight 0: never run, never loaded
    if len(active) > 1 and _specialist_kind(paths, run_dir) == "adapters":
        peft_model, names = _load_adapters([paths[i] for i in active], run_dir, dtype)
        peft_model, tok = _ready(peft_model, paths[active[0]], device)
        for i, name in zip(active, names, strict=True):
            specialists[i] = AdapterSpecialist(peft_model, name)
    else:
        for i in active:
            specialists[i], tok = _load_checkpoint(paths[i], run_dir, device, dtype)
    return MixturePolicy(specialists, tok, _as_dict(handle), weights=weights)  # type: ignore[return-value]


def _as_dict(handle: PolicyHandle) -> dict[str, Any]:
    """The handle as `Policy.handle` keeps it: the plain dict a front.json entry holds."""
    return handle.model_dump(exclude_none=True)


# (typed handle, run dir, device, dtype) -> the policy; one loader per kind of `PolicyHandle.kind`
PolicyLoader = Callable[[PolicyHandle, Path, Device, str], Policy]
POLICY_LOADERS: dict[str, PolicyLoader] = {
    "checkpoint": _checkpoint_policy,
    "soup": _soup_policy,
    "conditioned": _conditioned_policy,
    "best_of_n": _best_of_n_policy,
    "mixture": _mixture_policy,
}


def policy_handle(handle: PolicyHandle | Mapping[str, Any], run_dir: str | Path = ".") -> PolicyHandle:
    """`handle` as the typed `PolicyHandle`, a plain mapping (a front.json entry, a method's handle) validated once.
    Raises `PolicyLoadError` in one line naming `run_dir` and the field: a kind without a loader, a bad field."""
    kind = handle.kind if isinstance(handle, PolicyHandle) else handle.get("kind")
    if kind not in POLICY_LOADERS:
        *first, last = POLICY_LOADERS
        raise PolicyLoadError(
            f"{run_dir}: unknown policy handle kind {kind!r} (expected {', '.join(first)} or {last})"
        )
    try:
        return as_policy_handle(handle)
    except ValueError as err:
        raise PolicyLoadError(f"{run_dir}: policy handle: {err}") from None


def load_policy(
    handle: PolicyHandle | Mapping[str, Any],
    run_dir: str | Path,
    device: str | torch.device | None = None,
    dtype: str | None = None,
) -> Policy:
    """Rebuild the policy of a front point without re-training, by the loader of its kind (`POLICY_LOADERS`).
    `handle` is the point's `policy` entry, typed or as a plain mapping (validated here); `dtype` (a
    `policy.dtype` value) None takes the run's."""
    run_dir = Path(run_dir)
    typed = policy_handle(handle, run_dir)
    dtype = run_dtype(run_dir) if dtype is None else dtype
    return POLICY_LOADERS[typed.kind](typed, run_dir, device, dtype)
