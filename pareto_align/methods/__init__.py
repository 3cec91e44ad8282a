"""Methods: one module per `method:` value, and a plain mapping from the name to it (contract: methods)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Discriminator, Tag

from pareto_align.methods import (
    bon,
    cmorl,
    dpa,
    dynamic_grad,
    dynamic_hv,
    mod,
    modpo,
    morlhf,
    panacea,
    ric,
    soups,
)
from pareto_align.methods.base import Job, JobResult, Method, MethodSection, TrainedPolicy, method_name

METHODS: dict[str, Method] = {"modpo": modpo, "morlhf": morlhf, "dynamic_hv": dynamic_hv,  # type: ignore[dict-item]
                               "dynamic_grad": dynamic_grad, "bon": bon, "soups": soups, "mod": mod, "dpa": dpa,
                               "ric": ric, "cmorl": cmorl, "panacea": panacea}  # fmt: skip

MethodConfig = Annotated[
    Annotated[modpo.Config, Tag("modpo")]
    | Annotated[morlhf.Config, Tag("morlhf")]
    | Annotated[dynamic_hv.Config, Tag("dynamic_hv")]
    | Annotated[dynamic_grad.Config, Tag("dynamic_grad")]
    | Annotated[bon.Config, Tag("bon")]
    | Annotated[soups.Config, Tag("soups")]
    | Annotated[mod.Config, Tag("mod")]
    | Annotated[dpa.Config, Tag("dpa")]
    | Annotated[ric.Config, Tag("ric")]
    | Annotated[cmorl.Config, Tag("cmorl")]
    | Annotated[panacea.Config, Tag("panacea")],
    Discriminator(method_name),
]

__all__ = ["METHODS", "Job", "JobResult", "Method", "MethodConfig", "MethodSection", "TrainedPolicy"]
