"""Panacea's SVD-LoRA (Zhong et al., 2024, "Panacea: Pareto Alignment via Preference Adaptation for LLMs",
arXiv 2402.02030): one policy whose singular values hold the preference.

Each target linear layer W0 (out x in) becomes, as in the paper's preference-embedding equation (method section),

    W = W0 + U diag(sigma_1, ..., sigma_r, s * lambda_1, ..., s * lambda_K) V^T

with U (out x (r+K)) and V (in x (r+K)) trainable, the r learned singular values sigma trainable, s one trainable
scalar per layer (it brings lambda, whose entries sum to 1, to the size of the learned singular values), and
lambda the preference: a frozen input on the simplex, not a parameter.

Initialization, as AdaLoRA (Zhang et al., 2023), the SVD-form LoRA that Panacea builds on: U, V ~ N(0, 0.02^2),
sigma = 0, s = 0. The zero diagonal makes the model start exactly as the base for every lambda; the random U, V
make d loss / d sigma_i = sum (x v_i)(g u_i) non-zero at init, so sigma and s move on the first step (U and V get a
zero gradient then, since every diagonal entry that multiplies them is zero, and start moving on the second).
A LoRA-style zero U would leave sigma and s with no gradient at all, so nothing would ever train.

**Per-row preference.** lambda is per row of the batch: the layer computes

    y = base(x) + ((x @ V) * d) @ U^T,   d = [sigma, s * lambda_b]  of shape (B, r+K),

broadcast over the sequence, so rows with different preferences share one forward pass. `set_preference(model,
lam)` stores lambda on every SVD-LoRA layer at once; a 1-D lambda (K,) applies to every row, a 2-D one (B, K)
row by row, and then every targeted layer must see the batch dimension first (true of Llama/Qwen2 attention and
MLP projections). The preference is model state, not an argument of `forward`: one preference per model at a time,
so two threads must not run one model with different preferences at once; `preference(model, lam)` sets it for a
`with` block and restores the previous one.

**Precision.** The wrapped `nn.Linear` stays frozen in its own dtype (bf16 on a GPU); U, V, sigma and s are fp32
master copies, cast to the input's dtype at forward, as the trainer's mixed precision expects.

Saved as `svd_lora.safetensors` (the adapter's tensors only) and `svd_lora_config.json` (its settings), and loaded
back onto a base model by `load_svd_lora`; `merge_preference` folds one lambda into plain `nn.Linear` weights for
full-speed evaluation or export.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from pareto_align.atomic import commit, temp_path_for, write_text_atomic

FORMAT = "pareto_align.svd_lora/1"
WEIGHTS_NAME = "svd_lora.safetensors"
CONFIG_NAME = "svd_lora_config.json"
# Every attention and MLP projection of Llama / Qwen2 / Mistral: the preference then reaches every block, and
# adapting all linear layers is what makes low-rank adapters match full fine-tuning (Dettmers et al., 2023, QLoRA).
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SIMPLEX_TOLERANCE = 1e-4
Preference = torch.Tensor | Sequence[float] | Sequence[Sequence[float]]  # (K,) or (B, K); numpy arrays too


@dataclass(frozen=True)
class SVDLoRAConfig:
    """The settings that rebuild an SVD-LoRA: rank r, number of objectives K, target modules (PEFT-style names:
    a module matches when its dotted name equals a target or ends with "." + target), the std of U and V at init,
    and the base model it was trained on (path or hub name and revision; informational)."""

    rank: int
    num_objectives: int
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    init_std: float = 0.02
    base_model: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        if self.rank < 0 or self.num_objectives < 1:
            raise ValueError(f"SVD-LoRA needs rank >= 0 and num_objectives >= 1, got {self.rank} and {self.num_objectives}")  # fmt: skip
        if not self.target_modules:
            raise ValueError("SVD-LoRA needs at least one target module")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "svd_lora config") -> SVDLoRAConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"format"})
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}")
        return cls(**{k: v for k, v in data.items() if k in known})


def check_preference(lam: Preference, num_objectives: int) -> torch.Tensor:
    """`lam` as an fp32 tensor of shape (K,) or (B, K), refused in one line unless each row has K entries, is
    non-negative and sums to 1 (within 1e-4)."""
    lam = torch.as_tensor(lam, dtype=torch.float32)
    if lam.dim() not in (1, 2) or lam.shape[-1] != num_objectives:
        got = lam.shape[-1] if lam.dim() in (1, 2) else f"shape {tuple(lam.shape)}"
        raise ValueError(f"preference lambda: expected {num_objectives} values per row (K), got {got}")
    rows = lam.reshape(-1, num_objectives)  # (B, K); a 1-D lambda is one row
    bad = ~torch.isfinite(rows).all(dim=1) | (rows < 0).any(dim=1)  # (B,)
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(f"preference lambda: every entry must be finite and non-negative, got {rows[row].tolist()} (row {row})")  # fmt: skip
    sums = rows.sum(dim=1)  # (B,)
    bad = (sums - 1).abs() > SIMPLEX_TOLERANCE  # (B,)
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(f"preference lambda: each row must sum to 1 (the simplex), row {row} sums to {sums[row].item():.6g}")  # fmt: skip
    return lam


class SVDLoRALinear(nn.Module):
    """A frozen `nn.Linear` plus Panacea's preference-conditioned SVD-LoRA update (module docstring)."""

    def __init__(self, base: nn.Linear, rank: int, num_objectives: int, init_std: float = 0.02,
                 generator: torch.Generator | None = None):  # fmt: skip
        super().__init__()
        self.base = base.requires_grad_(False)
        self.rank, self.num_objectives = rank, num_objectives
        width = rank + num_objectives
        device = base.weight.device
        U = torch.randn(base.out_features, width, generator=generator) * init_std  # (out, r+K)
        V = torch.randn(base.in_features, width, generator=generator) * init_std  # (in, r+K)
        self.U = nn.Parameter(U.to(device))
        self.V = nn.Parameter(V.to(device))
        self.sigma = nn.Parameter(torch.zeros(rank, device=device))  # (r,)
        self.s = nn.Parameter(torch.zeros((), device=device))  # ()
        self.lam: torch.Tensor | None = None  # (K,) or (B, K), fp32; set through set_preference
        self.enabled = True  # False: the base layer alone (see `disabled`)

    def diagonal(self) -> torch.Tensor:
        """[sigma, s * lambda]: shape (r+K,) for a shared lambda, (B, r+K) for one per row."""
        if self.lam is None:
            raise RuntimeError("SVD-LoRA layer has no preference: call set_preference(model, lam) first")
        lam = self.lam.to(self.s.device)
        sigma = self.sigma.expand(*lam.shape[:-1], self.rank)  # (r,) or (B, r)
        return torch.cat([sigma, self.s * lam], dim=-1)  # (r+K,) or (B, r+K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return self.base(x)
        d = self.diagonal().to(x.dtype)  # (r+K,) or (B, r+K)
        if d.dim() == 2:
            if x.dim() < 2 or x.shape[0] != d.shape[0]:
                raise ValueError(f"SVD-LoRA: preference has {d.shape[0]} rows but the input batch has shape {tuple(x.shape)}")  # fmt: skip
            d = d.view(d.shape[0], *([1] * (x.dim() - 2)), d.shape[1])  # (B, 1, ..., r+K)
        z = x @ self.V.to(x.dtype)  # (B, ..., r+K)
        return self.base(x) + (z * d) @ self.U.to(x.dtype).T  # (B, ..., out)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, num_objectives={self.num_objectives}"


def merged_weight(layer: SVDLoRALinear, lam: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """W0 + U diag(sigma, s * lambda) V^T for one preference (K,), computed in fp32 and returned in the base
    weight's dtype: shape (out, in)."""
    lam = check_preference(torch.as_tensor(lam), layer.num_objectives)
    if lam.dim() != 1:
        raise ValueError(f"merged_weight: one preference of shape ({layer.num_objectives},), got shape {tuple(lam.shape)}")  # fmt: skip
    with torch.no_grad():
        lam = lam.to(layer.s.device)
        d = torch.cat([layer.sigma, layer.s * lam])  # (r+K,)
        delta = (layer.U * d) @ layer.V.T  # (out, in)
        return (layer.base.weight.float() + delta).to(layer.base.weight.dtype)


# ---------------------------------------------------------------------------------------------- a whole model
def svd_lora_layers(model: nn.Module) -> Iterator[tuple[str, SVDLoRALinear]]:
    """Every SVD-LoRA layer of `model`, with its dotted name."""
    for name, module in model.named_modules():
        if isinstance(module, SVDLoRALinear):
            yield name, module


def _matches(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def inject_svd_lora(model: nn.Module, config: SVDLoRAConfig, seed: int = 0) -> nn.Module:
    """Freeze every parameter of `model` and wrap each `nn.Linear` named by `config.target_modules` in an
    SVDLoRALinear (in place; returns `model`). U and V are drawn from a generator seeded by `seed`, so the same
    seed gives the same adapter. Refused when no module matches or the model already has SVD-LoRA layers."""
    if any(True for _ in svd_lora_layers(model)):
        raise ValueError("SVD-LoRA: the model already has SVD-LoRA layers")
    model.requires_grad_(False)
    targets = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and _matches(name, config.target_modules)]  # fmt: skip
    if not targets:
        raise ValueError(f"SVD-LoRA: no nn.Linear named by target_modules {list(config.target_modules)}")
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    named_head = [name for name in targets if model.get_submodule(name) is head]
    if named_head:  # trainers read its .weight; a tied head's merge would rewrite the input embeddings too
        raise ValueError(
            f"SVD-LoRA: target_modules name the output head {named_head[0]!r}, which is not supported"
        )
    generator = torch.Generator().manual_seed(seed)
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = SVDLoRALinear(getattr(parent, child), config.rank, config.num_objectives, config.init_std, generator)  # fmt: skip
        setattr(parent, child, layer)
    model.svd_lora_config = config
    return model


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The adapter's parameters (U, V, sigma, s of every layer), by dotted name: what an optimizer should see."""
    return {f"{name}.{p}": getattr(layer, p) for name, layer in svd_lora_layers(model) for p in ("U", "V", "sigma", "s")}  # fmt: skip


def set_preference(model: nn.Module, lam: Preference) -> None:
    """Store lambda, (K,) for every row or (B, K) row by row, on every SVD-LoRA layer of `model` (checked once:
    K values per row, each row on the simplex). Stays until set again."""
    layers = [layer for _, layer in svd_lora_layers(model)]
    if not layers:
        raise ValueError("set_preference: the model has no SVD-LoRA layers")
    lam = check_preference(torch.as_tensor(lam), layers[0].num_objectives)
    on_device: dict[torch.device, torch.Tensor] = {}  # one copy per device (a model split across GPUs)
    for layer in layers:
        device = layer.s.device
        layer.lam = on_device.setdefault(device, lam.to(device))


@contextmanager
def preference(model: nn.Module, lam: Preference) -> Iterator[None]:
    """`set_preference` for the duration of a `with` block; the previous preference comes back afterwards."""
    previous = [(layer, layer.lam) for _, layer in svd_lora_layers(model)]
    set_preference(model, lam)
    try:
        yield
    finally:
        for layer, lam_before in previous:
            layer.lam = lam_before


@contextmanager
def disabled(model: nn.Module) -> Iterator[None]:
    """Every SVD-LoRA layer of `model` computes its base layer alone for a `with` block: the model is then exactly
    the base model (the adapter is an additive update), whatever lambda is set, as a KL reference needs."""
    layers = [layer for _, layer in svd_lora_layers(model)]
    before = [layer.enabled for layer in layers]
    for layer in layers:
        layer.enabled = False
    try:
        yield
    finally:
        for layer, state in zip(layers, before, strict=True):
            layer.enabled = state


def merge_preference(model: nn.Module, lam: torch.Tensor | Sequence[float]) -> nn.Module:
    """Replace every SVD-LoRA layer by a plain `nn.Linear` holding `merged_weight(layer, lam)` (in place; returns
    `model`): the policy at one preference, at full speed, savable with `save_pretrained`."""
    for name, layer in list(svd_lora_layers(model)):
        parent_name, _, child = name.rpartition(".")
        base = layer.base
        base.weight.data = merged_weight(layer, lam)
        setattr(model.get_submodule(parent_name), child, base)
    if hasattr(model, "svd_lora_config"):
        del model.svd_lora_config
    return model


# ---------------------------------------------------------------------------------------------- persistence
def save_svd_lora(model: nn.Module, directory: str | Path) -> Path:
    """Write the adapter's tensors (svd_lora.safetensors, fp32) and its settings (svd_lora_config.json) to
    `directory`, each atomically; the base model's weights are not written."""
    config: SVDLoRAConfig | None = getattr(model, "svd_lora_config", None)
    if config is None:
        raise ValueError("save_svd_lora: the model has no SVD-LoRA (inject_svd_lora first)")
    directory = Path(directory)
    tensors = {name: p.detach().cpu().contiguous() for name, p in trainable_parameters(model).items()}
    tmp = temp_path_for(directory / WEIGHTS_NAME)
    try:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit(tmp, directory / WEIGHTS_NAME)
    write_text_atomic(directory / CONFIG_NAME, json.dumps({"format": FORMAT, **asdict(config)}, indent=2))
    return directory


def read_svd_lora_config(directory: str | Path) -> SVDLoRAConfig:
    """The settings saved in `directory`, refused in one line when missing or not an SVD-LoRA config."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (not a saved SVD-LoRA)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: format {data.get('format')!r} is not {FORMAT!r}")
    return SVDLoRAConfig.from_dict(data, source=str(path))


def load_svd_lora(model: nn.Module, directory: str | Path) -> nn.Module:
    """Inject the SVD-LoRA saved in `directory` into the base `model` and load its tensors (in place; returns
    `model`). Every saved tensor must match a layer of the model by name and shape, and every layer must be saved."""
    config = read_svd_lora_config(directory)
    inject_svd_lora(model, config)
    params = trainable_parameters(model)
    saved = load_file(str(Path(directory) / WEIGHTS_NAME))
    if set(saved) != set(params):
        missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
        raise ValueError(f"{directory}: SVD-LoRA tensors do not fit this model (missing {missing[:3]}, unexpected {extra[:3]})")  # fmt: skip
    with torch.no_grad():
        for name, param in params.items():
            if saved[name].shape != param.shape:
                raise ValueError(f"{directory}: {name} has shape {tuple(saved[name].shape)}, the model needs {tuple(param.shape)}")  # fmt: skip
            param.copy_(saved[name])
    return model
