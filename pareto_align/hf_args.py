"""Pass-through of user hyper-parameters to Hugging Face argument dataclasses (TrainingArguments, DPOConfig).

The YAML lets users set any field of the underlying TRL/transformers config; unknown names are rejected here, at
config time, with the field's path, rather than deep inside a trainer.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any


def dataclass_field_names(cls: type) -> set[str]:
    """Names of the init fields of a dataclass such as `transformers.TrainingArguments`."""
    return {f.name for f in dataclasses.fields(cls) if f.init}


def check_dataclass_kwargs(cls: type, kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """Raise ValueError naming `where.<key>` for keys that are not fields of `cls`; return kwargs unchanged."""
    known = dataclass_field_names(cls)
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"{where}.{key}: unknown {cls.__name__} field{hint}")
    return kwargs


def hardware_defaults() -> dict[str, Any]:
    """Device fields of a TrainingArguments that the toolkit fills in unless the user set them: the CPU when no
    GPU is visible, full precision. User values are honoured; TrainingArguments refuses what the hardware cannot do."""
    import torch

    return {"use_cpu": not torch.cuda.is_available(), "bf16": False}


def build_dataclass(cls: type, kwargs: dict[str, Any], where: str) -> Any:
    """`cls(**kwargs)`, with the error the dataclass raises (its own validation, TRL's or transformers') turned
    into one line that names `where`: a config mistake surfaces while the YAML is checked, before any work."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, NotImplementedError) as err:
        message = " ".join(str(err).split())
        raise ValueError(f"{where}: {cls.__name__} refuses these values: {message}") from None


def resolved_defaults(cls: type, kwargs: dict[str, Any], exclude: set[str]) -> dict[str, Any]:
    """Every init field of dataclass `cls` with its default, overridden by `kwargs`, minus `exclude`: the effective
    hyper-parameters that a config hash must cover (a changed library default then changes the hash)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in exclude:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    out.update({k: v for k, v in kwargs.items() if k not in exclude})
    return out
