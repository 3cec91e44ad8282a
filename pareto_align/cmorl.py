"""C-MORL (Liu et al., 2024, "C-MORL: Multi-Objective Reinforcement Learning through Efficient Discovery of Pareto
Front"): the arithmetic, apart from any trainer.

Stage 1 trains a grid of linearly scalarized policies and offers every evaluated snapshot to an `Archive` of
non-dominated objective vectors. Selection picks the snapshots in the emptiest parts of the front (largest crowding
distance, NSGA-II), skipping vectors already extended. Stage 2 extends each selected policy pi_r towards each
objective l under the constraints G_j(pi) >= beta * G_j(pi_r) (j != l), with an interior-point log barrier (paper
Eq. 5; reference `ppo.py`):

    maximize  B(pi) = G_l(pi) + (1/t) * mean_{j != l} log(G_j(pi) - beta * G_j(pi_r))

Its policy gradient is a linear scalarization with weight 1 on l and, on each j != l,

    c_j = 1 / (t * (K - 1) * max(G_j - beta * G_j(pi_r), floor))

so an online trainer can take the barrier as per-batch `reward_weights` (with G_j the batch mean). The slack is
clamped at `floor` = 0.001 as the reference clamps it (`clamp(beta*G_r - G, max=-0.001)`). Where the clamp binds
(the constraint is violated or nearly so) the reference's gradient through `clamp` is zero: the barrier stops
pushing exactly when it is needed. Here the coefficient stays at its largest value 1/(t (K-1) floor) instead (the
gradient of log(max(s, floor)) taken as 1/floor where it binds), and `barrier_weights` reports where it binds.

All values are on objectives normalized by stated bounds ((G - lower) / (upper - lower), maximization): the
constraint G_j >= beta * G_j(pi_r) relaxes G_j(pi_r) by (1 - beta) of its distance above `lower`, which means the
same thing whatever the objective's raw units (a raw objective counted negative, like minus a word count, would
make beta * G_j(pi_r) a *stricter* bound).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pareto_align.front.dominance import non_dominated_mask

CLAMP_FLOOR = 1e-3  # the reference's clamp of the barrier's argument


def default_n_select(k: int) -> int:
    """The reference's number of policies selected per round: 5 for two objectives, 6 otherwise."""
    return 5 if k == 2 else 6


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of `F` (n, K): per objective, the gap between a point's two neighbours
    in sorted order divided by the objective's range, summed over objectives; the extremes of an objective are
    infinite. An objective whose range is 0 contributes nothing (the reference divides by zero there). Copies of a
    vector share one place in the front: the first copy (in row order) gets the vector's distance, the others 0,
    so trimming removes copies first and selection never takes a vector twice. Ties in sorted order are broken by
    row order. Returns float array (n,)."""
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"F must have shape (n_points, n_objectives), got shape {F.shape}")
    n = len(F)
    out = np.zeros(n)
    if n == 0:
        return out
    _, first, inverse = np.unique(F, axis=0, return_index=True, return_inverse=True)
    order = np.sort(first)  # distinct vectors, by their first row
    U = F[order]  # (m, K)
    m = len(U)
    distance = np.zeros(m)
    if m <= 2:
        distance[:] = np.inf
    else:
        for k in range(U.shape[1]):
            idx = np.argsort(U[:, k], kind="stable")  # (m,)
            values = U[idx, k]
            span = values[-1] - values[0]
            if span <= 0:
                continue
            gaps = np.zeros(m)
            gaps[1:-1] = (values[2:] - values[:-2]) / span
            gaps[0] = gaps[-1] = np.inf
            distance[idx] += gaps
    out[order] = distance
    return out


@dataclass
class ArchiveEntry:
    """A snapshot offered to the archive: `values` in the training reward's units (K,), its policy's `path`
    (relative to the run dir) and its lineage (stage, the point it belongs to, step, what it extends)."""

    id: str
    values: list[float]
    path: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "values": list(self.values), "path": self.path, "lineage": self.lineage}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArchiveEntry:
        return cls(
            data["id"], [float(v) for v in data["values"]], data.get("path"), dict(data.get("lineage", {}))
        )


class Archive:
    """The non-dominated snapshots so far (maximization), at most `capacity` of them: when full, the entry with
    the smallest crowding distance is removed, one at a time (distances recomputed after each removal), so the
    extremes of every objective stay."""

    def __init__(self, capacity: int = 200, entries: Iterable[ArchiveEntry] = ()) -> None:
        if capacity < 1:
            raise ValueError(f"archive capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.entries: list[ArchiveEntry] = []
        self.offer(*entries)

    def __len__(self) -> int:
        return len(self.entries)

    def F(self) -> np.ndarray:
        """The entries' values (n, K)."""
        if not self.entries:
            return np.empty((0, 0))
        return np.asarray([e.values for e in self.entries], dtype=float)

    def offer(self, *entries: ArchiveEntry) -> None:
        """Add entries, keep the non-dominated ones (copies of a vector are all kept), trim to capacity."""
        ids = {e.id for e in self.entries}
        for e in entries:
            if e.id in ids:
                raise ValueError(f"archive entry {e.id!r} offered twice")
            ids.add(e.id)
        self.entries = [*self.entries, *entries]
        if not self.entries:
            return
        keep = non_dominated_mask(self.F())
        self.entries = [e for e, k in zip(self.entries, keep, strict=True) if k]
        while len(self.entries) > self.capacity:
            cd = crowding_distance(self.F())
            del self.entries[int(np.argmin(cd))]  # ties: the earliest offered goes first

    def to_json(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "entries": [e.to_json() for e in self.entries]}


def select(archive: Archive, n: int, extended: Iterable[Sequence[float]] = ()) -> list[ArchiveEntry]:
    """Up to `n` entries by decreasing crowding distance (ties in archive order), skipping those whose objective
    vector was already extended (as the reference does, by value) and copies of a vector already selected."""
    seen = {tuple(float(v) for v in x) for x in extended}
    if not archive.entries:
        return []
    cd = crowding_distance(archive.F())
    chosen = []
    for i in np.argsort(-cd, kind="stable"):
        entry = archive.entries[int(i)]
        key = tuple(float(v) for v in entry.values)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(entry)
        if len(chosen) == n:
            break
    return chosen


def normalize(
    values: Sequence[float] | np.ndarray, lower: Sequence[float], upper: Sequence[float]
) -> np.ndarray:
    """(G - lower) / (upper - lower) per objective, over the last axis."""
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    return (np.asarray(values, dtype=float) - lo) / (hi - lo)


def _slack(G: np.ndarray, G_ref: np.ndarray, objective: int, beta: float) -> np.ndarray:
    G, G_ref = np.asarray(G, dtype=float), np.asarray(G_ref, dtype=float)
    if G.shape != G_ref.shape or G.ndim != 1 or len(G) < 2:
        raise ValueError(
            f"G and G_ref must be vectors of K >= 2 objectives, got shapes {G.shape}, {G_ref.shape}"
        )
    if not 0 <= objective < len(G):
        raise ValueError(f"objective {objective} out of range for K = {len(G)}")
    return G - beta * G_ref  # (K,)


def barrier_value(G: Sequence[float], G_ref: Sequence[float], objective: int, beta: float = 0.9, t: float = 20.0,
                  floor: float = CLAMP_FLOOR) -> float:  # fmt: skip
    """B = G_l + (1/t) * mean_{j != l} log(max(G_j - beta * G_ref_j, floor)) for objective vectors G, G_ref (K,)."""
    s = _slack(np.asarray(G), np.asarray(G_ref), objective, beta)
    others = np.arange(len(s)) != objective
    return float(G[objective] + np.log(np.maximum(s[others], floor)).mean() / t)


def barrier_weights(G: Sequence[float], G_ref: Sequence[float], objective: int, beta: float = 0.9,
                    t: float = 20.0, floor: float = CLAMP_FLOOR) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """dB/dG: weights (K,) with 1 on `objective` and c_j = 1 / (t (K-1) max(G_j - beta G_ref_j, floor)) on the
    others, and a boolean mask (K,) of the constrained objectives where the clamp binds (slack <= floor; False
    at `objective`)."""
    s = _slack(np.asarray(G), np.asarray(G_ref), objective, beta)
    k = len(s)
    weights = 1.0 / (t * (k - 1) * np.maximum(s, floor))  # (K,)
    weights[objective] = 1.0
    binds = s <= floor
    binds[objective] = False
    return weights, binds
