"""`method: morlhf`: online multi-objective RL with a scalarized reward, one run per (weight vector, seed).

The linear-scalarization baseline of every multi-objective alignment paper (MORLHF in Zhou et al., 2023; Rame et
al., 2023), on TRL's GRPOTrainer or RLOOTrainer. Each objective reaches TRL as its own reward function, in config
order, with the weights as `reward_weights` (see `pareto_align/rewards.py` for the Tchebycheff scalarizer and PAR
shaping). Every `history_every` steps the policy is evaluated on the held-out prompts into front.json's history,
so the front can be watched while it moves; the final policy is the point. The run itself, shared with every
online method, is `_online.train`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pareto_align.front.schema import Front
from pareto_align.methods import _online
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy, grid_jobs

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


class MORLHFSection(_online.OnlineSection):
    """YAML section `method:` for `name: morlhf`."""

    name: Literal["morlhf"] = "morlhf"


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One online RL run per (weight vector, seed): a static grid, planned once."""
    return grid_jobs(config)


def run(job: Job, ws: Workspace) -> JobResult:
    """One online RL run on the scalarized multi-objective reward; the final policy is the point."""
    handle, compute, metadata = _online.train(ws, ws.config.method, job.id, job.weights, job.seed)  # type: ignore[arg-type]
    point = TrainedPolicy(job.id, handle, job.seed, compute, weights=job.weights, step=compute.policy_updates,
                          metadata={"grid_index": job.metadata["grid_index"], **metadata})  # fmt: skip
    return JobResult([point])


# The linear-scalarization baseline: one RLHF run per fixed weighted sum of the rewards (Wu et al., 2023).
BIBTEX = """@inproceedings{wu2023finegrained,
  title     = {Fine-Grained Human Feedback Gives Better Rewards for Language Model Training},
  author    = {Wu, Zeqiu and Hu, Yushi and Shi, Weijia and Dziri, Nouha and Suhr, Alane and Ammanabrolu, Prithviraj and Smith, Noah A. and Ostendorf, Mari and Hajishirzi, Hannaneh},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {36},
  year      = {2023},
  eprint    = {2306.01693},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=MORLHFSection,
    name="morlhf",
    display_name="Linear scalarization",
    color="#56B4E9",
    bibtex=BIBTEX,
    shardable=True,
)  # colour: Okabe-Ito sky blue
