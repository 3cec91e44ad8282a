"""`method: mod`: multi-objective decoding (Shi et al., 2024, "Decoding-Time Language Model Alignment with
Multiple Objectives"), on the same specialists as `soups`.

The point at weights w samples each token from the normalized product of the specialists' next-token
distributions raised to w (the reverse-KL case of the paper; see `models/mixture.py`). Nothing is trained beyond
the specialists; the cost is paid at decoding time, one forward pass per specialist with a non-zero weight for
every token: the point's `generated_tokens` count token-forwards (its evaluation's tokens times that number).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pareto_align.front.schema import Front
from pareto_align.methods._specialists import SpecialistsSection, ensure_specialists, mixed_point
from pareto_align.methods.base import Job, JobResult, MethodInfo, grid_jobs

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


class MODSection(SpecialistsSection):
    """YAML section `method:` for `name: mod`; the weight grid is the config's `weights`."""

    name: Literal["mod"] = "mod"


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One mixture per (weight vector, seed); a seed's specialists are trained by its first job."""
    return grid_jobs(config)


def run(job: Job, ws: Workspace) -> JobResult:
    method: MODSection = ws.config.method  # type: ignore[assignment]
    specialists = ensure_specialists(ws, method, job.seed)
    handle = {"kind": "mixture", "checkpoints": [s.path for s in specialists], "weights": job.weights}
    active = sum(w > 0 for w in job.weights)
    return mixed_point(job, specialists, handle, inference_token_cost=active, forward_passes_per_token=active)


BIBTEX = """@inproceedings{shi2024mod,
  title     = {Decoding-Time Language Model Alignment with Multiple Objectives},
  author    = {Shi, Ruizhe and Chen, Yifang and Hu, Yushi and Liu, Alisa and Hajishirzi, Hannaneh and Smith, Noah A. and Du, Simon S.},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {37},
  year      = {2024},
  eprint    = {2406.18853},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=MODSection,
    name="mod",
    display_name="MOD",
    color="#332288",
    bibtex=BIBTEX,
    shares_work_within_seed=True,
    shardable=True,
)  # colour: Tol muted indigo
