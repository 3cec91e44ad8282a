"""`method: soups`: rewarded soups (Rame et al., 2023, "Rewarded soups: towards Pareto-optimal alignment by
interpolating weights fine-tuned on diverse rewards").

One specialist per objective, from the same initialization, trained once (see `_specialists.py`); the front is
the weight interpolation theta(lambda) = sum_i lambda_i theta_i on the lambda grid of `weights`, which costs no
training at all. Each point records the straight line between the specialists' objective vectors at its lambda
(`linear_interpolation` in its metadata): the paper's linear mode connectivity check.

For LoRA specialists (`policy.lora`), `lora_interpolation` chooses how adapters mix:
- `product` (default): the merged updates B_i A_i are averaged, so the soup is exactly theta(lambda) of the
  fine-tuned weights, the object the paper's analysis is about (and what PEFT's `cat` combination computes);
- `ab`: A and B are averaged separately, as the paper's code does; it adds cross terms lambda_i lambda_j B_i A_j
  and is exact only at the specialists themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from pareto_align.front.schema import Front
from pareto_align.methods._specialists import SpecialistsSection, ensure_specialists, mixed_point
from pareto_align.methods.base import Job, JobResult, MethodInfo, grid_jobs

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


class SoupsSection(SpecialistsSection):
    """YAML section `method:` for `name: soups`; the lambda grid is the config's `weights`."""

    name: Literal["soups"] = "soups"
    lora_interpolation: Literal["product", "ab"] = Field(
        "product",
        description="LoRA specialists: average the products B A (exact theta(lambda)) or A and B apart.",
    )

    def check(self, config: SweepConfig) -> None:
        if self.lora_interpolation == "ab" and config.policy.lora is None:
            raise ValueError(
                "method.lora_interpolation: 'ab' mixes LoRA adapters; set policy.lora or use 'product'"
            )
        super().check(config)


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One soup per (lambda, seed) of the grid; a seed's specialists are trained by its first job."""
    return grid_jobs(config)


def run(job: Job, ws: Workspace) -> JobResult:
    method: SoupsSection = ws.config.method  # type: ignore[assignment]
    specialists = ensure_specialists(ws, method, job.seed)
    handle = {"kind": "soup", "checkpoints": [s.path for s in specialists], "coefficients": job.weights}
    if method.lora_interpolation == "ab":
        handle["lora_interpolation"] = "ab"
    return mixed_point(job, specialists, handle)  # mixing weights is free; the specialists are shared


BIBTEX = """@inproceedings{rame2023rewardedsoups,
  title     = {Rewarded soups: towards {Pareto}-optimal alignment by interpolating weights fine-tuned on diverse rewards},
  author    = {Ram{\\\\'e}, Alexandre and Couairon, Guillaume and Shukor, Mustafa and Dancette, Corentin and Gaya, Jean-Baptiste and Soulier, Laure and Cord, Matthieu},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {36},
  year      = {2023},
  eprint    = {2306.04488},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=SoupsSection,
    name="soups",
    display_name="Rewarded soups",
    color="#009E73",
    bibtex=BIBTEX,
    shares_work_within_seed=True,
    shardable=True,
)  # colour: Okabe-Ito bluish green
