"""What `dynamic_hv` and `dynamic_grad` share: a morlhf section (the same online RL run) whose linear weights or
step size adapt while it trains, with mid-run checkpoints so that a killed run resumes with what was in use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from pareto_align.front.schema import Front
from pareto_align.methods._online import OnlineSection
from pareto_align.methods.base import Job, grid_jobs

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig


# one paper, two methods: the export writes the entry once
DYNAMIC_WEIGHTING_BIBTEX = """@misc{lu2025dynamicweighting,
  title     = {Learning to Optimize Multi-Objective Alignment Through Dynamic Reward Weighting},
  author    = {Lu, Yining and Wang, Zilong and Li, Shiyang and Liu, Xin and Yu, Changlong and Yin, Qingyu and Shi, Zhan and Zhang, Zixuan and Jiang, Meng},
  year      = {2025},
  eprint    = {2509.11452},
  archivePrefix = {arXiv}
}"""


class DynamicSection(OnlineSection):
    """An online section (morlhf's fields) plus mid-run checkpoints; the weights are those of a linear scalarization."""

    checkpoint_every: int = Field(
        20,
        ge=0,
        description="Save the trainer's state and the method's (weights in use, buffer) every this many steps, so "
        "a killed run resumes mid-run (0: off; the job then restarts).",
    )

    def check(self, config: SweepConfig) -> None:
        if self.scalarization.kind != "linear":
            raise ValueError(
                f"method.scalarization: {self.name} adapts the weights of a linear scalarization, not "
                f"{self.scalarization.kind!r}"
            )
        super().check(config)


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One online RL run per (starting weight vector, seed), as morlhf."""
    return grid_jobs(config)
