"""How close the reference set is to the true front, on the built-in benchmark where the gold functions are known.

The exact true front of the benchmark is not computable here: it is the set of best achievable *mean* gold vectors
over the held-out prompts, a maximum over all policies. What is known exactly is each gold function's best value
(``GoldScorer.best()``: the cap of a capped count, 0 of a count to minimize), so the *ideal point* ``z*`` bounds
the true front from above in every objective. Two honest numbers follow:

- the gap per objective between the ideal value and the reference set's best value (an upper bound on how far
  the set's best point in that objective is from the true front's);
- ``HV(reference set) / HV({z*})`` with the file's reference point: since every true-front point is dominated by
  ``z*``, ``HV(true front) <= HV({z*})``, so this ratio is a *lower bound* on the share of the true front's
  hypervolume that the reference set attains.
The ideal point is usually not attainable (no response covers every topic word in zero words), so both bounds
are loose; they say how much room is left at most, not how much there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pareto_align.front.indicators import hypervolume
from pareto_align.front.schema import Front


@dataclass(frozen=True)
class TrueFrontBound:
    """The ideal point of the gold functions (K,), the reference set's best value per objective (K,), their gaps,
    and ``HV(reference set) / HV(ideal point)``, a lower bound on the share of the true front's hypervolume."""

    ideal_point: tuple[float, ...]
    reference_best: tuple[float, ...]
    gaps: tuple[float, ...]
    hypervolume_share_lower_bound: float | None

    def record(self) -> dict[str, Any]:
        return {
            "ideal_point": list(self.ideal_point),
            "reference_set_best": list(self.reference_best),
            "gap_per_objective": list(self.gaps),
            "hypervolume_share_lower_bound": self.hypervolume_share_lower_bound,
            "how": "ideal point from GoldScorer.best(); HV(reference set) / HV(ideal point) <= "
            "HV(reference set) / HV(true front)",
        }


def gold_ideal_point(front: Front) -> np.ndarray | None:
    """The ideal point (K,) of the built-in benchmark's gold functions, maximize convention, from the config
    recorded in the front's provenance; None when the run is not on the built-in benchmark with gold scoring."""
    config = front.provenance.get("config") if isinstance(front.provenance, dict) else None
    if not isinstance(config, dict):
        return None
    data = config.get("data") or {}
    objectives = config.get("objectives") or []
    scorer = (config.get("evaluation") or {}).get("scorer", "gold")
    if data.get("source") != "synthetic" or scorer != "gold" or len(objectives) != len(front.objectives):
        return None
    if any(not isinstance(o, dict) or o.get("gold") is None for o in objectives):
        return None
    if [o.get("name") for o in objectives] != front.objective_names:
        return None
    from pareto_align.data.gold import GoldScorer  # torch: only for runs on the built-in benchmark
    from pareto_align.data.world import World, WorldConfig

    world = World(WorldConfig(**((data.get("synthetic") or {}).get("world") or {})))
    scorer_ = GoldScorer(world, [o["gold"] for o in objectives], [o.get("direction", "max") for o in objectives],
                         [o["name"] for o in objectives])  # fmt: skip
    return scorer_.best().numpy().astype(float)


def true_front_bound(front: Front, reference: np.ndarray) -> TrueFrontBound | None:
    """:class:`TrueFrontBound` of the reference set ``reference`` (r, K) against the gold ideal point of ``front``'s
    benchmark; None when the front is not from the built-in benchmark."""
    ideal = gold_ideal_point(front)
    if ideal is None:
        return None
    best = np.asarray(reference, dtype=float).max(axis=0)  # (K,)
    ref_point = np.asarray(front.reference_point, dtype=float)
    hv_ideal = hypervolume(ideal[None, :], ref_point, front.normalization)
    share = hypervolume(reference, ref_point, front.normalization) / hv_ideal if hv_ideal > 0 else None
    return TrueFrontBound(tuple(ideal.tolist()), tuple(best.tolist()), tuple((ideal - best).tolist()), share)
