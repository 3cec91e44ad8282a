"""Methods: one module per `method:` value, and a plain mapping from the name to it (contract: methods).

The tuple below is the one list of the toolkit's methods: the mapping, the `method:` union and every reader of a
method's facts (`INFO`: display name, colour, BibTeX, hooks) are built from it. The first is the default method.
"""

from __future__ import annotations

from typing import Annotated, Union

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
from pareto_align.methods.base import (
    Job,
    JobResult,
    Method,
    MethodInfo,
    MethodSection,
    TrainedPolicy,
    method_name,
)

_REGISTERED = (modpo, morlhf, dynamic_hv, dynamic_grad, bon, soups, mod, dpa, ric, cmorl, panacea)

METHODS: dict[str, Method] = {module.INFO.name: module for module in _REGISTERED}  # type: ignore[misc]

# the `method:` section: a union of every method's section (`INFO.config`), told apart by its `name` (a missing name is modpo)
MethodConfig = Annotated[
    Union[tuple(Annotated[module.INFO.config, Tag(module.INFO.name)] for module in _REGISTERED)],  # type: ignore[valid-type]  # noqa: UP007
    Discriminator(method_name),
]


def method_info(name: str) -> MethodInfo:
    """The facts of the method called `name` (a `method:` value); KeyError for an unknown name."""
    return METHODS[name].INFO


__all__ = [
    "METHODS",
    "Job",
    "JobResult",
    "Method",
    "MethodConfig",
    "MethodInfo",
    "MethodSection",
    "TrainedPolicy",
    "method_info",
]
