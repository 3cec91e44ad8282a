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

torch and transformers are imported only when a policy is actually loaded, so the page stays quick.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pareto_align.explorer.simplex import direction_like, project_to_simplex
from pareto_align.export.style import display_name
from pareto_align.front.schema import Point

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
    handle: dict[str, Any]
    run_dir: Path
    note: str = ""


def handle_dict(point: Point) -> dict[str, Any] | None:
    """The point's policy handle as a plain dict (None when the point has no policy)."""
    return None if point.policy is None else point.policy.model_dump(exclude_none=True)


def _weighted(checkpoints: Sequence[str], weights: Sequence[float]) -> list[str]:
    return [f"{c:.3f}×{p}" for p, c in zip(checkpoints, weights, strict=False)]


def describe_handle(handle: Mapping[str, Any]) -> str:
    """A short human description of a handle."""
    kind = handle.get("kind")
    if kind == "checkpoint":
        return f"checkpoint {handle.get('path')}"
    if kind == "soup":
        return "soup " + " + ".join(_weighted(handle.get("checkpoints", []), handle.get("coefficients", [])))
    if kind == "conditioned":
        d = ", ".join(f"{x:.3f}" for x in handle.get("direction", []))
        if handle.get("template"):
            from pareto_align.models.conditioning import condition_values

            values = ", ".join(condition_values(handle.get("direction", []), handle.get("condition")))
            return f"{handle.get('path')} conditioned on ({d}), written as ({values})"
        return f"{handle.get('path')} conditioned on ({d})"
    if kind == "mixture":
        return "decoding-time mixture " + " · ".join(
            _weighted(handle.get("checkpoints", []), handle.get("weights", []))
        )
    if kind == "best_of_n":
        w = ", ".join(f"{x:.3f}" for x in handle.get("weights", []))
        return f"best of {handle.get('n')} from {handle.get('path')} by {handle.get('reward_model')} at weights ({w})"
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
    own = handle_dict(point)
    if own is not None:
        sources.append(LiveSource("stored", f"{point.id} as stored ({own['kind']})", own, run_dir))
    else:
        reasons.append(f"point {point.id!r} records no policy handle")
    checkpoints, note = _soup_ingredients(points, point, K)
    if checkpoints is None:
        reasons.append(f"no soup at slider weights: {note}")
    else:
        handle = {
            "kind": "soup",
            "checkpoints": checkpoints,
            "coefficients": [float(x) for x in w],
            **prompt_format,
        }
        sources.append(LiveSource("soup", "soup re-mixed at the slider weights", handle, run_dir, note))
    mixtures = [p for p in [point, *points] if p.policy is not None and p.policy.kind == "mixture"]
    if not mixtures:
        reasons.append("no decoding-time mixture at the slider weights: the run has no MOD points")
    else:
        handle = {"kind": "mixture", "checkpoints": list(mixtures[0].policy.checkpoints),  # type: ignore[union-attr]
                  "weights": [float(x) for x in w], **prompt_format}  # fmt: skip
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
        handle = {"kind": "conditioned", "path": own.path, "direction": [float(x) for x in direction],
                  **prompt_format}  # fmt: skip
        # the run's own way of writing a preference (DPA's integer weights, RiC's desired scores), if it has one
        handle.update({key: getattr(own, key) for key in ("template", "condition", "conditioning")
                       if getattr(own, key) is not None})  # fmt: skip
        what = "desired scores mapped from the slider weights" if (own.condition or {}).get(
            "kind") == "desired_scores" else "the slider direction"  # fmt: skip
        sources.append(LiveSource("conditioned", f"{display_name(conditioned[0].method)} model conditioned on {what}",
                                  handle, run_dir))  # fmt: skip
    return sources, reasons


def policy_cache_key(run_dir: Path, handle: Mapping[str, Any]) -> str:
    """A canonical string naming (run dir, handle): equal policies give equal keys, floats kept exactly."""
    return json.dumps({"run_dir": str(Path(run_dir).resolve()), "handle": dict(handle)}, sort_keys=True)


def missing_checkpoints(run_dir: Path, handle: Mapping[str, Any]) -> list[str]:
    """Checkpoint paths of ``handle`` that are gone (no model or adapter config) or lie outside ``run_dir``."""
    from pareto_align.models.policy import is_checkpoint

    if handle.get("hub"):  # a model by name, outside the run: from_pretrained finds it (or says why not)
        return []
    paths = [handle["path"]] if "path" in handle else list(handle.get("checkpoints", []))
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


def load_live_policy(key: str, device: str | None = None) -> Policy:
    """Load the policy named by a :func:`policy_cache_key`; every failure becomes a :class:`LiveGenerationError`."""
    from pareto_align.models.policy import load_policy

    spec = json.loads(key)
    run_dir, handle = Path(spec["run_dir"]), spec["handle"]
    missing = missing_checkpoints(run_dir, handle)
    if missing:
        raise LiveGenerationError(
            f"{run_dir}: checkpoint {', '.join(missing)} is gone (no model or adapter config); cannot load {describe_handle(handle)}"
        )
    try:
        if handle.get("kind") == "soup" and handle.get("lora_interpolation") != "ab":
            mixer, tokenizer = _soup_mixer(str(run_dir), tuple(handle["checkpoints"]), device)
            from pareto_align.models.policy import Policy

            return Policy(mixer.mix(handle["coefficients"]), tokenizer, handle)  # re-mixed in memory
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
