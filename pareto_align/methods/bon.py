"""`method: bon`: best-of-n, the training-free front.

For each weight vector w the policy samples n responses from the base policy and keeps the one with the highest
scalarized reward-model score. Nothing is trained, so its cost is the tokens it generates: n per response.
The KL divergence of best-of-n from the base policy is at most log n - (n - 1) / n (Beirami et al., 2024,
"Theoretical guarantees on the best-of-n alignment policy"), recorded per point; Yang et al. (2024, "Asymptotics
of Language Model Alignment") show that best-of-n matches KL-constrained RL asymptotically.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from pareto_align.front.schema import Compute, Front
from pareto_align.methods.base import (
    Job,
    JobResult,
    MethodInfo,
    MethodSection,
    TrainedPolicy,
    UpdatePlan,
    check_ideal,
    grid_jobs,  # fmt: skip
)
from pareto_align.objectives import Scalarization
from pareto_align.scorers.specs import is_user_scorer, scorer_record

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


def kl_bound(n: int) -> float:
    """Upper bound on KL(best-of-n || base): log n - (n - 1) / n (Beirami et al., 2024, Theorem 1)."""
    return math.log(n) - (n - 1) / n


class BestOfNSection(MethodSection):
    """YAML section `method:` for `name: bon`."""

    name: Literal["bon"] = "bon"
    n: int = Field(
        16, ge=1, description="Candidates sampled from the base policy per response; the best is kept."
    )
    scalarization: Scalarization = Field(
        default_factory=Scalarization,
        description="How the K scores rank candidates: linear (w . r) or tchebycheff (with ideal).",
    )
    reward_source: Literal["objectives", "reward_model"] = Field(
        "objectives",
        description="What ranks candidates: each objective's own `scorer` (its reward-model head where it names "
        "none), or the multi-head reward model's heads for every objective.",
    )

    def check(self, config: SweepConfig) -> None:
        check_ideal(self.scalarization, len(config.objectives))
        gold = [i for i, o in enumerate(config.objectives) if o.scorer == "gold"]
        if self.reward_source == "objectives" and gold:
            raise ValueError(f"method.reward_source: objectives[{gold[0]}].scorer 'gold' cannot rank a best-of-n "
                             "policy that the explorer rebuilds; use reward_source 'reward_model'")  # fmt: skip

    def planned_updates(self, config: SweepConfig) -> UpdatePlan:
        return UpdatePlan(0, "no training: its cost is generated tokens, n per response")

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[BestOfNSection, str]:
        """Nothing to scale: best-of-n spends generated tokens, not policy updates."""
        why = f"its cost is generated tokens, n = {self.n} per response"
        return self, f"left as is: trains nothing (0 policy updates per seed; {why})"


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One job per weight vector. Nothing is trained, so a training seed changes nothing: the first seed only."""
    first = config.seeds[0]
    return [job for job in grid_jobs(config) if job.seed == first]


def prepare(ws: Workspace) -> None:
    """Shared products built before distributed jobs start: the reward model, when a selection ranks by it."""
    if ws.uses_heads(ws.config.method.reward_source):
        ws.reward_model  # noqa: B018


def ranking(ws: Workspace, method: BestOfNSection) -> dict[str, Any]:
    """What ranks the candidates, as the handle names it: the reward model (relative to the run dir), and the
    objectives' scorers when any is not a head of it (`load_policy` rebuilds them)."""
    out: dict[str, Any] = {}
    if ws.uses_heads(method.reward_source):
        ws.reward_model  # noqa: B018 -- trained (once per run dir) before the handle names it
        out["reward_model"] = "reward_model"
    if method.reward_source == "objectives" and any(is_user_scorer(o.scorer) for o in ws.config.objectives):
        out["scorers"] = [{"name": o.name, "direction": o.direction, "scorer": scorer_record(o.scorer)}
                          for o in ws.config.objectives]  # fmt: skip
    return out


def run(job: Job, ws: Workspace) -> JobResult:
    """The selection policy's handle: base checkpoint, n, what ranks, the weights (no training)."""
    method: BestOfNSection = ws.config.method  # type: ignore[assignment]
    handle = {
        "kind": "best_of_n",
        **ws.base_reference(),  # the run's copy, or the user's model by hub name at its revision
        "n": method.n,
        **ranking(ws, method),
        "weights": job.weights,
    }
    if method.scalarization.kind != "linear":
        handle["scalarization"] = method.scalarization.model_dump()
    point = TrainedPolicy(job.id, handle, job.seed, Compute(), weights=job.weights, inference_token_cost=1,
                          metadata={"grid_index": job.metadata["grid_index"], "n": method.n,
                                    "kl_bound": kl_bound(method.n), "scalarization": method.scalarization.kind})  # fmt: skip
    return JobResult([point])


BIBTEX = """@misc{beirami2024bon,
  title     = {Theoretical guarantees on the best-of-n alignment policy},
  author    = {Beirami, Ahmad and Agarwal, Alekh and Berant, Jonathan and D'Amour, Alexander and Eisenstein, Jacob and Nagpal, Chirag and Suresh, Ananda Theertha},
  year      = {2024},
  eprint    = {2401.01879},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=BestOfNSection,
    name="bon",
    display_name="Best-of-n",
    color="#999933",
    bibtex=BIBTEX,
    prepare=prepare,
    shardable=True,
)  # colour: Tol muted olive
