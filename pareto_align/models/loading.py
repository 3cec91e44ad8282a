"""Loading causal LMs: the one place that decides in which precision a model's weights sit (contract: real models,
docs/contracts.md), how its tokenizer pads, and on which device a job's models sit (`device`).

The precision policy:
- weights that train load in float32, whatever the checkpoint holds (`trainable=True`): full fine-tuning of a
  policy, the reward model (always fine-tuned in full), a LoRA adapter (PEFT's `autocast_adapter_dtype`, on by
  default, upcasts adapters to float32 on a bf16 base). An optimizer step of 1e-5 on a weight near 0.01 is below
  half a bfloat16 ulp there (about 3.9e-5) and would round away on bf16 master weights. Mixed precision comes from
  the trainer's own flags (`bf16: true` under `method.trl` / `reward_model.training`, on a GPU): autocast over fp32
  master weights.
- frozen models load in `policy.dtype`: the reference, MODPO's margin policies, a LoRA adapter's base (while it
  trains and when merged for evaluation), the base policy where it only samples (baseline, PAR references,
  dynamic_hv's seed vector), the reward model when it scores, and every policy `load_policy` rebuilds for the
  evaluation, specialists, soups, mixtures and the explorer. `auto` keeps the checkpoint's own dtype (bfloat16 for
  most instruct checkpoints; float32 for what the toolkit trained in full), `float32` and `bfloat16` convert.
"""

from __future__ import annotations

from typing import Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pareto_align.models.generation import ensure_pad_token

DtypeSetting = Literal["auto", "float32", "bfloat16"]
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def device() -> str:
    """The device every model of a job sits on: the GPU when one is visible, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def frozen_dtype(setting: str | None) -> torch.dtype | str:
    """`policy.dtype` as `from_pretrained`'s `dtype`: "auto" (the checkpoint's own) or a torch dtype."""
    if setting is None or setting == "auto":
        return "auto"
    if setting not in DTYPES:
        raise ValueError(f"dtype {setting!r}: expected 'auto' or one of {sorted(DTYPES)}")
    return DTYPES[setting]


def load_dtype(setting: str | None, trainable: bool) -> torch.dtype | str:
    """The dtype a model loads in: float32 master weights when they train, `policy.dtype` when frozen."""
    return torch.float32 if trainable else frozen_dtype(setting)


def load_model(
    path: str,
    dtype: str | None = "auto",
    trainable: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
    **kwargs,
) -> PreTrainedModel:
    """A causal LM from a path or hub name, in float32 if `trainable`, else in `dtype` (a `policy.dtype` value)."""
    return AutoModelForCausalLM.from_pretrained(path, dtype=load_dtype(dtype, trainable), revision=revision,
                                                trust_remote_code=trust_remote_code, **kwargs)  # fmt: skip


def load_tokenizer(
    path: str, trust_remote_code: bool = False, revision: str | None = None
) -> PreTrainedTokenizerBase:
    """A tokenizer for generation: left padding, and its eos as pad when it has none (an end id, see generation)."""
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    tokenizer.padding_side = "left"
    return ensure_pad_token(tokenizer)


def load_causal_lm(
    path: str,
    trust_remote_code: bool = False,
    on: str | None = None,
    revision: str | None = None,
    dtype: str | None = "auto",
    trainable: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM (see `load_model`) and its tokenizer (see `load_tokenizer`), on device `on` if given."""
    model = load_model(path, dtype, trainable, trust_remote_code, revision)
    if on is not None:
        model.to(on)
    return model, load_tokenizer(path, trust_remote_code, revision)
