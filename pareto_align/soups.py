"""Weight interpolation of fine-tuned checkpoints (rewarded soups, Rame et al. 2023).

theta(lambda) = sum_i lambda_i * theta_i, with lambda on the simplex. All checkpoints must share one architecture
(fine-tunes of the same base). Floating-point tensors are interpolated; integer buffers are taken from the first.

Memory: a soup is built one tensor at a time (`interpolate_into`): the K versions of one tensor are read, summed in
float32 and written into the model in its own dtype, so building it costs one model plus a few tensors, never K
models or float32 copies of all of them. Checkpoints are mappings from names to tensors; `SafetensorsCheckpoint`
reads a saved model's tensors lazily, one at a time, for that purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch


def check_coefficients(coefficients: Sequence[float], k: int) -> None:
    """Simplex coefficients, one per checkpoint; a ValueError naming what is wrong otherwise."""
    if len(coefficients) != k or not k:
        raise ValueError(
            f"need one coefficient per checkpoint: {k} checkpoints, {len(coefficients)} coefficients"
        )
    if any(c < 0 for c in coefficients) or abs(sum(coefficients) - 1.0) > 1e-6:
        raise ValueError(f"soup coefficients must be non-negative and sum to 1, got {list(coefficients)}")


def interpolate_state_dicts(
    state_dicts: Sequence[dict[str, torch.Tensor]], coefficients: Sequence[float]
) -> dict[str, torch.Tensor]:
    """Linear interpolation of state dicts with simplex coefficients (non-negative, summing to 1)."""
    check_coefficients(coefficients, len(state_dicts))
    keys = state_dicts[0].keys()
    for i, sd in enumerate(state_dicts[1:], start=1):
        if sd.keys() != keys:
            missing = sorted(set(keys) ^ set(sd.keys()))[:3]
            raise ValueError(f"checkpoint {i} has different parameters from checkpoint 0 (e.g. {missing})")
    soup = {}
    for key in keys:
        first = state_dicts[0][key]
        if not torch.is_floating_point(first):
            soup[key] = first.clone()
            continue
        soup[key] = weighted_sum([sd[key] for sd in state_dicts], coefficients).to(first.dtype)
    return soup


def weighted_sum(tensors: Iterable[torch.Tensor], coefficients: Sequence[float]) -> torch.Tensor:
    """sum_i c_i t_i in float32, accumulated in order (the tensors may come one at a time, from a generator)."""
    acc = None
    for t, c in zip(tensors, coefficients, strict=True):
        term = float(c) * t.float()
        acc = term if acc is None else acc.add_(term)
    return acc


class RunningSoup:
    """sum_i c_i v_i over the K versions of one tensor, given one at a time, each first rounded to `dtype` (the
    model's: a soup at a vertex is then exactly that checkpoint as loaded). Holds the first version, the float32
    sum and the current version only. `result` is None when every version equals the first: the model keeps the
    tensor it holds, untouched by rounding."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.first: torch.Tensor | None = None
        self.sum: torch.Tensor | None = None
        self.differ = False

    def add(self, version: torch.Tensor, coefficient: float) -> None:
        v = version.to(self.dtype)
        if self.first is None:
            # the caller may overwrite `version` once it is added (a layer restored after a merge)
            self.first = v.clone() if v is version else v
        elif not self.differ:
            self.differ = not torch.equal(v, self.first)
        term = float(coefficient) * v.float()
        self.sum = term if self.sum is None else self.sum.add_(term)

    def result(self) -> torch.Tensor | None:
        return self.sum if self.differ else None


@torch.no_grad()
def interpolate_into(
    model: torch.nn.Module, checkpoints: Sequence[Mapping[str, torch.Tensor]], coefficients: Sequence[float]
) -> torch.nn.Module:
    """Write theta(lambda) into `model` in place, tensor by tensor, in the model's dtype and on its device.

    `checkpoints` map the model's state-dict names to tensors (lazy mappings such as `SafetensorsCheckpoint` keep
    one tensor in memory at a time). Tensors equal in every checkpoint are left as the model holds them; a tied
    tensor is written once, under the name the checkpoint stores it by.
    """
    check_coefficients(coefficients, len(checkpoints))
    targets = model.state_dict(keep_vars=True)
    for key in _shared_keys(targets, checkpoints):
        target = targets[key]
        if not torch.is_floating_point(target):
            continue
        running = RunningSoup(target.dtype)
        for ck, c in zip(checkpoints, coefficients, strict=True):
            running.add(ck[key].to(target.device), c)
        if (soup := running.result()) is not None:
            target.copy_(soup)  # cast back to the model's dtype
    return model


def _shared_keys(
    targets: Mapping[str, torch.Tensor], checkpoints: Sequence[Mapping[str, torch.Tensor]]
) -> list[str]:
    """The first checkpoint's names, each present in the model and in every checkpoint."""
    keys = list(checkpoints[0].keys())
    for i, ck in enumerate(checkpoints):
        missing = [k for k in keys if k not in targets or k not in ck]
        if missing:
            raise ValueError(f"checkpoint {i} does not match the model's parameters (e.g. {missing[:3]})")
    return keys


class SafetensorsCheckpoint(Mapping[str, torch.Tensor]):
    """The tensors of a saved model folder (model.safetensors, or shards with their index), read one at a time.

    Each read opens its file and closes it again: the file is memory-mapped while open, and a mapping left open
    would keep every page read so far resident, K whole checkpoints by the end of a soup.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            self.files = {key: folder / name for key, name in weight_map.items()}
        else:
            from safetensors import safe_open

            single = folder / "model.safetensors"
            with safe_open(single, framework="pt") as f:
                self.files = dict.fromkeys(f.keys(), single)

    def __getitem__(self, key: str) -> torch.Tensor:
        from safetensors import safe_open

        with safe_open(self.files[key], framework="pt") as f:
            return f.get_tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


class SoupMixer:
    """theta(lambda) for any lambda, rebuilt in memory: the K versions of every tensor that differs between the
    checkpoints are held (in the model's dtype) and each `mix` writes sum_i lambda_i theta_i into one model in place,
    with no disk access, fast enough for a slider.

    Tensors equal in every checkpoint (integer buffers, the untouched weights of merged LoRA fine-tunes) are held
    once, by the model, and never rewritten. Build it with `from_checkpoints`, or from (target, stack) pairs.
    """

    def __init__(
        self, model: torch.nn.Module, stacked: Sequence[tuple[torch.Tensor, torch.Tensor]], k: int
    ) -> None:
        self.model = model
        self.k = k
        # (model tensor, its K versions (K, *shape) in its dtype), for the tensors that differ
        self.stacked = list(stacked)

    @classmethod
    @torch.no_grad()
    def from_checkpoints(
        cls, model: torch.nn.Module, checkpoints: Sequence[Mapping[str, torch.Tensor]]
    ) -> SoupMixer:
        """A mixer over checkpoints given as name -> tensor mappings (state dicts, or lazy `SafetensorsCheckpoint`s:
        then only the tensors that differ are ever held, K times)."""
        if not checkpoints:
            raise ValueError("a soup needs at least one checkpoint")
        targets = model.state_dict(keep_vars=True)
        stacked = []
        for key in _shared_keys(targets, checkpoints):
            target = targets[key]
            if not torch.is_floating_point(target):
                continue
            first = checkpoints[0][key].to(target.device, target.dtype)
            others = [ck[key].to(target.device, target.dtype) for ck in checkpoints[1:]]
            if all(torch.equal(t, first) for t in others):
                continue
            stacked.append((target, torch.stack([first, *others])))  # (K, *shape)
        return cls(model, stacked, len(checkpoints))

    @torch.no_grad()
    def mix(self, coefficients: Sequence[float]) -> torch.nn.Module:
        """Write theta(lambda) into the model (in place) and return it."""
        check_coefficients(coefficients, self.k)
        for target, stack in self.stacked:
            # sum_i c_i theta_i, summed in float32, written in the model's dtype
            target.copy_(weighted_sum(stack.unbind(0), coefficients))
        return self.model
