"""LoRA specialists as named adapters on one base model (PEFT): soups and decoding-time mixtures without K models.

A PeftModel holding the K specialists' adapters costs one base model plus K small adapters. From it:
- `merge_soup`: theta(lambda) = sum_i lambda_i theta_i of the merged fine-tunes (the `product` interpolation),
  computed layer by layer: each adapter is merged alone into one layer, the layer's merged weights summed in
  float32, the layer restored, and the sum written back in the model's dtype. The result equals interpolating the
  K merged models (what merge_and_unload gives one by one), for any adapter type PEFT can merge (LoRA, DoRA, ...),
  while only one layer's versions are ever held.
- `AdapterSoupMixer`: the explorer's re-mixing for plain LoRA: every adapter active at once, adapter i scaled by
  lambda_i, so the forward pass computes (W0 + sum_i lambda_i s_i B_i A_i) x = theta(lambda) x without merging; a
  slider move only changes K scalars per layer.
- `merged_layer_mixer`: the same for adapters whose merge is not linear in the scale (DoRA) or that carry whole
  modules (modules_to_save): the K merged versions of each adapted layer are held, as `SoupMixer` holds them.
- `AdapterSpecialist`: one specialist of a decoding-time mixture, run by switching the active adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from peft import PeftModel
from peft.tuners.tuners_utils import BaseTunerLayer
from peft.utils import ModulesToSaveWrapper
from transformers import PreTrainedModel

from pareto_align.soups import RunningSoup, SoupMixer, check_coefficients


def _merged_versions(layer: BaseTunerLayer, names: Sequence[str]):
    """For each adapter in turn, the layer's base parameters with that adapter alone merged into them (in place, in
    the model's dtype, as merge_and_unload merges), restored afterwards: yields (name -> parameter) per adapter."""
    base = layer.get_base_layer()
    original = {k: p.detach().clone() for k, p in base.named_parameters()}  # W0 (and bias) of this layer only
    for name in names:
        layer.merge(adapter_names=[name])  # a no-op for an adapter that does not adapt this layer
        yield dict(base.named_parameters())
        for k, p in base.named_parameters():
            p.data.copy_(original[k])
        layer.merged_adapters.clear()  # restored by copy, not by unmerge: no rounding drift


def _saved_versions(wrapper: ModulesToSaveWrapper, names: Sequence[str]):
    """A modules_to_save wrapper's module as each adapter saved it (the original where it saved none), and the
    module that `unload` will put in the model."""
    saved = dict(wrapper.modules_to_save.items())
    versions = [saved.get(n, wrapper.original_module) for n in names]
    return versions, saved[wrapper.active_adapter] if wrapper.active_adapters else wrapper.original_module


@torch.no_grad()
def merge_soup(peft_model: PeftModel, names: Sequence[str], coefficients: Sequence[float]) -> PreTrainedModel:
    """theta(lambda) of the adapters `names` merged into the base, written into the base layer by layer; returns
    the base model, adapters removed."""
    check_coefficients(coefficients, len(names))
    for module in list(peft_model.modules()):
        if isinstance(module, BaseTunerLayer):
            params = dict(module.get_base_layer().named_parameters())
            running = {k: RunningSoup(p.dtype) for k, p in params.items()}
            for merged, c in zip(_merged_versions(module, names), coefficients, strict=True):
                for k, p in merged.items():
                    running[k].add(p.detach(), c)
            for k, p in params.items():
                if (soup := running[k].result()) is not None:
                    p.data.copy_(soup)
        elif isinstance(module, ModulesToSaveWrapper):
            versions, kept = _saved_versions(module, names)
            for k, p in kept.named_parameters():
                running = RunningSoup(p.dtype)
                for v, c in zip(versions, coefficients, strict=True):
                    running.add(v.get_parameter(k).detach(), c)
                if (soup := running.result()) is not None:
                    p.data.copy_(soup)
    return peft_model.unload()


def is_plain_lora(peft_model: PeftModel, names: Sequence[str]) -> bool:
    """Whether every adapter is plain LoRA (no DoRA or other variant, no saved modules): the forward pass of adapters
    scaled by lambda_i is then linear in lambda, theta(lambda) itself."""
    from peft.tuners.lora import LoraLayer

    if any(peft_model.peft_config[n].peft_type != "LORA" for n in names):
        return False
    for module in peft_model.modules():
        if isinstance(module, ModulesToSaveWrapper):
            return False
        if isinstance(module, BaseTunerLayer) and (
            not isinstance(module, LoraLayer) or any(n in module.lora_variant for n in names)
        ):
            return False
    return True


class AdapterSoupMixer:
    """theta(lambda) for plain LoRA adapters on one base, re-mixed without touching a weight: all adapters active,
    adapter i's scale s_i multiplied by lambda_i (PEFT's `set_scale`). Costs one base and K adapters."""

    def __init__(self, peft_model: PeftModel, names: Sequence[str]) -> None:
        from peft.tuners.lora import LoraLayer

        self.model = peft_model
        self.names = list(names)
        self.k = len(self.names)
        self.layers = [m for m in peft_model.modules() if isinstance(m, LoraLayer)]

    def mix(self, coefficients: Sequence[float]) -> PeftModel:
        """Scale adapter i by lambda_i on every layer it adapts; returns the model."""
        check_coefficients(coefficients, self.k)
        # an adapter of weight 0 is not run at all
        active = [n for n, c in zip(self.names, coefficients, strict=True) if c > 0]
        self.model.base_model.set_adapter(active, inference_mode=True)
        for layer in self.layers:
            for name, c in zip(self.names, coefficients, strict=True):
                layer.set_scale(name, float(c))  # alpha / r (or / sqrt r), times lambda_i
        return self.model


@torch.no_grad()
def merged_layer_mixer(peft_model: PeftModel, names: Sequence[str]) -> SoupMixer:
    """A `SoupMixer` over the K merged versions of every adapted layer (and saved module), for adapters that
    `AdapterSoupMixer` cannot scale; the adapters are removed from the model it mixes."""
    stacked = []
    for module in list(peft_model.modules()):
        if isinstance(module, BaseTunerLayer):
            params = dict(module.get_base_layer().named_parameters())
            versions = {k: [] for k in params}
            for merged in _merged_versions(module, names):
                for k, p in merged.items():
                    versions[k].append(p.detach().clone())
            stacked += [(params[k], torch.stack(v)) for k, v in versions.items() if not _all_equal(v)]
        elif isinstance(module, ModulesToSaveWrapper):
            versions, kept = _saved_versions(module, names)
            for k, p in kept.named_parameters():
                v = [m.get_parameter(k).detach().clone() for m in versions]
                if not _all_equal(v):
                    stacked.append((p, torch.stack(v)))
    model = peft_model.unload()
    return SoupMixer(model, stacked, len(names))


def _all_equal(tensors: Sequence[torch.Tensor]) -> bool:
    return all(torch.equal(t, tensors[0]) for t in tensors[1:])


class AdapterSpecialist:
    """One specialist of a decoding-time mixture whose adapter sits, with the others', on one base model: calling it
    runs the base with its adapter active and restores the adapter that was active before."""

    def __init__(self, peft_model: PeftModel, name: str) -> None:
        self.peft_model = peft_model
        self.name = name

    def activate(self) -> PeftModel:
        """The shared model with this specialist's adapter active (to drive `generate`)."""
        self.peft_model.set_adapter(self.name, inference_mode=True)
        return self.peft_model

    def __call__(self, **inputs: Any):
        previous = self.peft_model.active_adapter
        self.peft_model.set_adapter(self.name, inference_mode=True)
        try:
            return self.peft_model(**inputs)
        finally:
            self.peft_model.set_adapter(previous, inference_mode=True)
