"""Live generation in the explorer: which policy to generate from, and loading it with a cache key.

For the highlighted point the explorer offers up to three sources, each a policy handle (contract: policy handles,
docs/contracts.md):
- the point's own policy, as stored;
- a *soup re-mixed at exactly the slider's weights*: the run's soup ingredients (one fine-tune per objective,
  in objective order) with the slider weights as interpolation coefficients;
- a *conditioned model at exactly the slider's preference* (DPA, RiC, Panacea): the run's conditioned checkpoint
  with the slider preference written the way the run writes directions (see ``simplex.direction_like``) and through
  the run's template and condition (DPA's integer weights; RiC's desired scores from its preference-to-reward map),
  or, for Panacea's SVD-LoRA, the slider's weights set as the adapter's preference lambda.

Handles stay typed (`PolicyHandle`) from the front to `load_policy`; a :class:`PolicyKey` (the resolved run directory
and the handle) names a loaded policy in the page's cache. torch and transformers are imported only when a policy is
actually loaded, so the page stays quick.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pareto_align.explorer.simplex import direction_like, project_to_simplex
from pareto_align.export.style import display_name
from pareto_align.front.schema import Point, PolicyHandle, as_policy_handle

if TYPE_CHECKING:
    from pareto_align.models.generation import GenerationSettings
    from pareto_align.models.policy import Policy

SourceKind = Literal["stored", "soup", "mixture", "conditioned"]
# Tolerance for "this soup's coefficients are its weights" (shows that ingredient k is objective k's expert).
MATCH_TOLERANCE = 1e-6


class LiveGenerationError(RuntimeError):
    """A policy could not be loaded or sampled; the message names the run and the handle."""


@dataclass(frozen=True)
class LiveSource:
    """A policy the user can generate from: a handle relative to ``run_dir`` and a one-line description."""

    kind: SourceKind
    label: str
    handle: PolicyHandle
    run_dir: Path
    note: str = ""


def _typed(handle: PolicyHandle | Mapping[str, Any]) -> PolicyHandle:
    """A handle as the typed model; a plain mapping (a front.json entry) is validated once, here."""
    try:
        return as_policy_handle(handle)
    except ValueError as err:
        raise LiveGenerationError(f"policy handle: {err}") from None


def _weighted(checkpoints: Sequence[str], weights: Sequence[float]) -> list[str]:
    return [f"{c:.3f}×{p}" for p, c in zip(checkpoints, weights, strict=False)]


def describe_handle(handle: PolicyHandle | Mapping[str, Any]) -> str:
    """A short human description of a handle."""
    handle = _typed(handle)
    kind = handle.kind
    if kind == "checkpoint":
        return f"checkpoint {handle.path}"
    if kind == "soup":
        return "soup " + " + ".join(_weighted(handle.checkpoints or [], handle.coefficients or []))
    if kind == "conditioned":
        d = ", ".join(f"{x:.3f}" for x in handle.direction or [])
        if handle.template:
            from pareto_align.models.conditioning import condition_values

            values = ", ".join(condition_values(handle.direction or [], handle.condition))
            return f"{handle.path} conditioned on ({d}), written as ({values})"
        return f"{handle.path} conditioned on ({d})"
    if kind == "mixture":
        return "decoding-time mixture " + " · ".join(
            _weighted(handle.checkpoints or [], handle.weights or [])
        )
    if kind == "best_of_n":
        w = ", ".join(f"{x:.3f}" for x in handle.weights or [])
        return f"best of {handle.n} from {handle.path} by {handle.reward_model} at weights ({w})"
    return f"policy of kind {kind!r}"


def _soup_ingredients(points: Sequence[Point], preferred: Point, K: int) -> tuple[list[str] | None, str]:
    """Checkpoints to re-mix (one per objective) and a note, or (None, reason)."""
    soups = [p for p in [preferred, *points] if p.policy is not None and p.policy.kind == "soup"]
    if not soups:
        return None, "the run has no soup points"
    fitting = [p for p in soups if len(p.policy.checkpoints or []) == K]  # type: ignore[union-attr]
    if not fitting:
        n = len(soups[0].policy.checkpoints or [])  # type: ignore[union-attr]
        return (
            None,
            f"the run's soups mix {n} checkpoints, not one per objective ({K}), so sliders cannot map onto them",
        )
    for p in fitting:
        # A soup whose coefficients are its weights shows that ingredient k serves objective k.
        coef = np.asarray(p.policy.coefficients, dtype=float)  # type: ignore[union-attr]
        if p.weights is not None and np.allclose(coef, p.weights, atol=MATCH_TOLERANCE):
            return list(p.policy.checkpoints), ""  # type: ignore[union-attr]
    return list(fitting[0].policy.checkpoints), "assumes soup ingredient k is the fine-tune for objective k"  # type: ignore[union-attr]


def run_prompt_format(points: Sequence[Point], point: Point) -> dict[str, str]:
    """The run's prompt format (models/chat.py) as a handle field, from the highlighted point's handle or any
    other point's; empty for a run from before the option (its handles format nothing)."""
    for p in [point, *points]:
        if p.policy is not None and p.policy.prompt_format is not None:
            return {"prompt_format": p.policy.prompt_format}
    return {}


def live_sources(
    points: Sequence[Point], point: Point, run_dir: Path, weights: Sequence[float]
) -> tuple[list[LiveSource], list[str]]:
    """The sources for generating at the highlighted ``point`` of a run (``points``: all the run's points).

    Every handle built here carries the run's prompt format, so the prompt a user types reaches the model as the
    run's training prompts did (a user turn of the chat template in a chat run, plain text otherwise).
    Returns (sources, reasons): each reason says why a kind of source is not offered.
    """
    K = len(point.values)
    w = project_to_simplex(weights)
    prompt_format = run_prompt_format(points, point)
    sources: list[LiveSource] = []
    reasons: list[str] = []
    own = point.policy
    if own is not None:
        sources.append(LiveSource("stored", f"{point.id} as stored ({own.kind})", own, run_dir))
    else:
        reasons.append(f"point {point.id!r} records no policy handle")
    checkpoints, note = _soup_ingredients(points, point, K)
    if checkpoints is None:
        reasons.append(f"no soup at slider weights: {note}")
    else:
        handle = PolicyHandle(
            kind="soup", checkpoints=checkpoints, coefficients=[float(x) for x in w], **prompt_format
        )
        sources.append(LiveSource("soup", "soup re-mixed at the slider weights", handle, run_dir, note))
    mixtures = [p for p in [point, *points] if p.policy is not None and p.policy.kind == "mixture"]
    if not mixtures:
        reasons.append("no decoding-time mixture at the slider weights: the run has no MOD points")
    else:
        handle = PolicyHandle(kind="mixture", checkpoints=list(mixtures[0].policy.checkpoints),  # type: ignore[union-attr]
                              weights=[float(x) for x in w], **prompt_format)  # fmt: skip
        sources.append(LiveSource("mixture", "MOD: specialists mixed token by token at the slider weights", handle,
                                  run_dir))  # fmt: skip
    conditioned = [p for p in [point, *points] if p.policy is not None and p.policy.kind == "conditioned"]
    if not conditioned:
        reasons.append("no DPA model at the slider direction: the run has no conditioned points")
    else:
        examples = [p.policy.direction for p in conditioned if p.policy.direction is not None]  # type: ignore[union-attr]
        own = conditioned[0].policy  # type: ignore[union-attr]
        # an adapter's preference (Panacea's SVD-LoRA) is a lambda on the simplex: the slider's weights themselves
        direction = w if own.conditioning in ("svd_lora", "both") else direction_like(w, examples)
        # the run's own way of writing a preference (DPA's integer weights, RiC's desired scores), if it has one
        handle = PolicyHandle(kind="conditioned", path=own.path, direction=[float(x) for x in direction],
                              template=own.template, condition=own.condition, conditioning=own.conditioning,
                              **prompt_format)  # fmt: skip
        what = "desired scores mapped from the slider weights" if (own.condition or {}).get(
            "kind") == "desired_scores" else "the slider direction"  # fmt: skip
        sources.append(LiveSource("conditioned", f"{display_name(conditioned[0].method)} model conditioned on {what}",
                                  handle, run_dir))  # fmt: skip
    return sources, reasons


@dataclass(frozen=True)
class PolicyKey:
    """What names a loaded policy in the explorer's cache: the resolved run directory and the typed handle.

    Hashable, and equal for equal policies: two keys compare by ``identity``, the run directory and the handle's
    canonical JSON (keys sorted, each float written as its shortest exact repr, so 0.1 and 0.1000000001 differ).
    The handle is a copy, so the key cannot change under a cache. Build one with :func:`policy_cache_key`.
    """

    run_dir: Path = field(compare=False)
    handle: PolicyHandle = field(compare=False)
    identity: tuple[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        run_dir, handle = Path(self.run_dir).resolve(), self.handle.model_copy(deep=True)
        canonical = json.dumps(handle.model_dump(mode="json", exclude_none=True), sort_keys=True)
        object.__setattr__(self, "run_dir", run_dir)
        object.__setattr__(self, "handle", handle)
        object.__setattr__(self, "identity", (str(run_dir), canonical))


def policy_cache_key(run_dir: Path, handle: PolicyHandle | Mapping[str, Any]) -> PolicyKey:
    """The key naming (run dir, handle); a plain mapping is validated into the typed handle here."""
    return PolicyKey(Path(run_dir), _typed(handle))


def missing_checkpoints(run_dir: Path, handle: PolicyHandle | Mapping[str, Any]) -> list[str]:
    """Checkpoint paths of ``handle`` that are gone (no model or adapter config) or lie outside ``run_dir``."""
    from pareto_align.models.policy import is_checkpoint

    handle = _typed(handle)
    if handle.hub:  # a model by name, outside the run: from_pretrained finds it (or says why not)
        return []
    paths = [handle.path] if handle.path is not None else list(handle.checkpoints or [])
    root = Path(run_dir).resolve()
    missing = []
    for rel in paths:
        p = (root / rel).resolve()
        if not p.is_relative_to(root) or not is_checkpoint(p):
            missing.append(str(rel))
    return missing


def default_device() -> str | None:
    """'cuda' when a GPU is visible, else None (CPU)."""
    import torch

    return "cuda" if torch.cuda.is_available() else None


def load_live_policy(key: PolicyKey, device: str | None = None) -> Policy:
    """Load the policy named by a :class:`PolicyKey`; every failure becomes a :class:`LiveGenerationError`."""
    from pareto_align.models.policy import load_policy

    run_dir, handle = key.run_dir, key.handle
    missing = missing_checkpoints(run_dir, handle)
    if missing:
        raise LiveGenerationError(
            f"{run_dir}: checkpoint {', '.join(missing)} is gone (no model or adapter config); cannot load {describe_handle(handle)}"
        )
    try:
        if handle.kind == "soup" and handle.lora_interpolation != "ab":
            mixer, tokenizer = _soup_mixer(str(run_dir), tuple(handle.checkpoints or ()), device)
            from pareto_align.models.policy import Policy

            # re-mixed in memory; the handle kept as load_policy keeps it
            return Policy(mixer.mix(handle.coefficients), tokenizer, handle.model_dump(exclude_none=True))
        return load_policy(handle, run_dir, device=device)
    except Exception as e:  # noqa: BLE001
        # A damaged checkpoint fails deep inside transformers/safetensors with library-specific exception types
        # (SafetensorError, HeaderTooLarge, ...); the user needs the run and the handle, not the type.
        raise LiveGenerationError(f"{run_dir}: cannot load {describe_handle(handle)}: {e}") from None


@functools.lru_cache(maxsize=2)
def _soup_mixer(run_dir: str, checkpoints: tuple[str, ...], device: str | None):
    """The specialists of a soup held in memory once; a slider move only re-mixes them (`SoupMixer`)."""
    from pareto_align.models.policy import _resolve, load_soup_mixer

    return load_soup_mixer([_resolve(Path(run_dir), p) for p in checkpoints], Path(run_dir), device)


def generate_responses(
    policy: Policy, prompt: str, n: int = 1, settings: GenerationSettings | None = None, seed: int = 0
) -> list[str]:
    """``n`` sampled responses of ``policy`` to ``prompt`` (conditioned policies get their direction in it)."""
    if not prompt.strip():
        raise LiveGenerationError("type a prompt first")
    if n < 1:
        raise LiveGenerationError(f"number of responses must be >= 1, got {n}")
    try:
        out = policy.generate([prompt] * n, settings, seed=seed)
    except (ValueError, RuntimeError, IndexError) as e:
        raise LiveGenerationError(f"generation failed: {e}") from None
    return out.responses
