"""Specialists: one policy per objective, trained once per (run directory, seed) and shared by every point of a
soup or a decoding-time mixture. Any trainer of the toolkit trains them: `modpo` with a one-hot weight (DPO on that
objective's preference pairs: with one non-zero weight MODPO's margin is 0 and its loss is DPO's) or `morlhf` with
a one-hot weight (online RL on that objective's reward).

Each specialist lives in points/specialist-<objective>-s<seed>/policy with a `specialist.json` beside it (its
compute and its evaluation), written once the policy is complete, so a resumed run neither retrains it nor loses
its cost. Its compute is shared work: recorded once in the front, named by every point that uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Discriminator, Field, Tag

from pareto_align.atomic import write_text_atomic
from pareto_align.front.schema import Compute
from pareto_align.methods import _online, modpo, morlhf
from pareto_align.methods.base import (
    Job,
    JobResult,
    MethodSection,
    TrainedPolicy,
    UpdatePlan,
    fitting_steps,
    method_name,
)
from pareto_align.models.loading import device
from pareto_align.models.policy import is_checkpoint, load_policy

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace

SpecialistTrainer = Annotated[
    Annotated[modpo.MODPOSection, Tag("modpo")] | Annotated[morlhf.MORLHFSection, Tag("morlhf")],
    Discriminator(method_name),
]


class SpecialistsSection(MethodSection):
    """A method section whose points mix per-objective specialists (soups, decoding-time mixtures)."""

    specialists: SpecialistTrainer = Field(
        default_factory=lambda: modpo.MODPOSection(),
        description="How each specialist is trained: a `modpo` section (DPO on its objective's pairs, the default) "
        "or a `morlhf` section (online RL on its objective's reward), with a one-hot weight.",
    )

    def check(self, config: SweepConfig) -> None:
        try:
            self.specialists.check(config)
        except (
            ValueError
        ) as err:  # its messages name `method.<field>`; here it is `method.specialists.<field>`
            raise ValueError(str(err).replace("method.", "method.specialists.", 1)) from None

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """One specialist per objective, each a run of the specialist trainer's `max_steps`; mixing is free."""
        steps, k = self.specialists.max_steps(), len(config.objectives)
        return None if steps is None else UpdatePlan(k * steps, f"{k} specialists x {steps} max_steps")

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[SpecialistsSection, str]:
        """Each of the K specialists gets `updates // K` steps; mixing them costs no update."""
        k = len(config.objectives)
        steps = fitting_steps(updates, k, f"{k} specialists")
        scaled = self.with_changes(
            specialists=self.specialists.with_max_steps(steps).model_dump(exclude_unset=True)
        )
        changes = "specialists." + self.specialists.max_steps_change(steps)
        return scaled.described(config, updates, changes, f"the {k} specialists share one max_steps")

    def effective(self) -> dict:
        section = self.model_dump(mode="json")
        section["specialists"] = self.specialists.effective()
        return section


@dataclass
class Specialist:
    id: str
    path: str  # checkpoint, relative to the run dir
    compute: Compute
    values: list[float]  # its evaluation (maximize convention), for linear mode connectivity


def ensure_specialists(ws: Workspace, section: SpecialistsSection, seed: int) -> list[Specialist]:
    """The K specialists of `seed`, in objective order, trained (and evaluated) where not already on disk."""
    out = []
    names = ws.config.objective_names
    for k, name in enumerate(names):
        sid = f"specialist-{name}-s{seed}"
        record = ws.run_dir / "points" / sid / "specialist.json"
        if not (record.exists() and is_checkpoint(ws.run_dir / json.loads(record.read_text())["path"])):
            weights = [float(j == k) for j in range(len(names))]
            trainer = section.specialists
            if isinstance(trainer, modpo.MODPOSection):
                handle, compute = modpo.train(ws, trainer, sid, weights, k, seed)
            else:
                handle, compute, _ = _online.train(ws, trainer, sid, weights, seed, history=False)
            ev = ws.evaluate(load_policy(handle, ws.run_dir, device(), ws.config.policy.dtype))
            ws.log(f"specialist {name} (seed {seed}): " + ", ".join(f"{v:.2f}" for v in ev.values))
            write_text_atomic(record, json.dumps({"path": handle["path"], "values": ev.values,
                                                  "compute": compute.model_dump(mode="json")}))  # fmt: skip
        data = json.loads(record.read_text())
        out.append(Specialist(sid, data["path"], Compute.model_validate(data["compute"]), data["values"]))
    return out


def mixed_point(job: Job, specialists: list[Specialist], handle: dict, inference_token_cost: int = 0,
                **metadata) -> JobResult:  # fmt: skip
    """The job's point that mixes `specialists` (a soup or a decoding-time mixture): it uses their compute, recorded
    once as shared work, and pays nothing itself beyond `inference_token_cost`."""
    ids = [s.id for s in specialists]
    metadata = {"grid_index": job.metadata["grid_index"], "specialists": ids,
                "linear_interpolation": linear_interpolation(specialists, job.weights), **metadata}  # fmt: skip
    point = TrainedPolicy(job.id, handle, job.seed, Compute(shared=ids), weights=job.weights, metadata=metadata,
                          inference_token_cost=inference_token_cost)  # fmt: skip
    return JobResult([point], shared=shared_compute(specialists))


def linear_interpolation(specialists: list[Specialist], weights: list[float]) -> list[float]:
    """sum_i lambda_i v_i: the straight line (plane) between the specialists' objective vectors at `weights`; a
    soup at or above it shows linear mode connectivity (Rame et al., 2023)."""
    V = np.array([s.values for s in specialists])  # (K, K): specialist i's objective vector
    return (np.asarray(weights) @ V).tolist()


def shared_compute(specialists: list[Specialist]) -> dict[str, Compute]:
    """The specialists' compute, keyed by their ids (their own shared entries, e.g. PAR's reference, stay apart)."""
    return {s.id: s.compute.model_copy(update={"shared": []}) for s in specialists}
