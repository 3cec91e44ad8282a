"""Methods: one module per `method:` value, and a plain mapping from the name to it (contract: methods)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Discriminator, Tag

from pareto_align.methods import bon, dpa, mod, modpo, morlhf, ric, soups
from pareto_align.methods.base import Job, JobResult, Method, MethodSection, TrainedPolicy, method_name

METHODS: dict[str, Method] = {
    "modpo": modpo,
    "morlhf": morlhf,
    "bon": bon,
    "soups": soups,
    "mod": mod,  # type: ignore[dict-item]
    "dpa": dpa,
    "ric": ric,
}

MethodConfig = Annotated[
    Annotated[modpo.Config, Tag("modpo")]
    | Annotated[morlhf.Config, Tag("morlhf")]
    | Annotated[bon.Config, Tag("bon")]
    | Annotated[soups.Config, Tag("soups")]
    | Annotated[mod.Config, Tag("mod")]
    | Annotated[dpa.Config, Tag("dpa")]
    | Annotated[ric.Config, Tag("ric")],
    Discriminator(method_name),
]

__all__ = ["METHODS", "Job", "JobResult", "Method", "MethodConfig", "MethodSection", "TrainedPolicy"]
