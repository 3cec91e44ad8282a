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
