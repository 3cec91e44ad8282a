"""Methods: one module per `method:` value, and a plain mapping from the name to it (contract: methods)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from pareto_align.methods import bon, modpo, morlhf
from pareto_align.methods.base import Job, JobResult, Method, MethodSection, TrainedPolicy

METHODS: dict[str, Method] = {"modpo": modpo, "morlhf": morlhf, "bon": bon}  # type: ignore[dict-item]


def _method_name(value: Any) -> str:
    """The discriminator of the `method:` section; a section without `name` is MODPO, the first method."""
    if isinstance(value, dict):
        return value.get("name", "modpo")
    return getattr(value, "name", "modpo")


MethodConfig = Annotated[
    Annotated[modpo.Config, Tag("modpo")]
    | Annotated[morlhf.Config, Tag("morlhf")]
    | Annotated[bon.Config, Tag("bon")],
    Discriminator(_method_name),
]

__all__ = ["METHODS", "Job", "JobResult", "Method", "MethodConfig", "MethodSection", "TrainedPolicy"]
