"""Empirical attainment functions across seeds, via moocore, in the toolkit's maximize convention.

The k%-attainment surface of a method is the boundary of the region of objective space that at least k% of its
seeds reach (a point is reached when some policy of that seed is at least as good in every objective). The
median (50%) surface is the typical front; the 25% and 75% surfaces bound its spread. This replaces pooling the
points of all seeds into one front, which would report the best seed's luck. moocore counts a percentile p as
level ceil(p * n / 100) of n seeds (e.g. with 2 seeds, 25% and 50% both mean "reached by at least one seed").

moocore minimizes, so values are negated on the way in and out (:func:`_to_minimization`). The toolkit's rule
is one place for that flip (``front/indicators``); this helper may move there.
"""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np

PERCENTILES: tuple[float, ...] = (25.0, 50.0, 75.0)
# moocore computes EAFs in 2-D and 3-D only.
MAX_EAF_OBJECTIVES = 3


def _to_minimization(F: np.ndarray) -> np.ndarray:
    """Maximize <-> minimize: negation. Used both ways (it is its own inverse)."""
    return -np.asarray(F, dtype=float)


def attainment_surfaces(
    point_sets: Sequence[np.ndarray], percentiles: Sequence[float] = PERCENTILES
) -> dict[float, np.ndarray]:
    """The ``percentiles`` attainment surfaces of ``point_sets`` (one array (n_i, K) per seed), maximize convention.

    Returns percentile -> array (m, K) of the surface's corner points (non-dominated, maximize convention),
    rows sorted by the first objective. K must be 2 or 3.
    """
    sets = [np.atleast_2d(np.asarray(F, dtype=float)) for F in point_sets if len(F)]
    if not sets:
        raise ValueError("attainment_surfaces needs at least one non-empty point set")
    k = sets[0].shape[1]
    if not 2 <= k <= MAX_EAF_OBJECTIVES:
        raise ValueError(f"attainment surfaces are computed for 2 or 3 objectives, got {k}")
    if any(F.shape[1] != k for F in sets):
        raise ValueError("all point sets must have the same number of objectives")
    points = np.vstack(sets)  # (N, K)
    set_ids = np.concatenate([np.full(len(F), i + 1) for i, F in enumerate(sets)])  # moocore: ids from 1
    pct = [float(p) for p in percentiles]
    if any(not 0 < p <= 100 for p in pct):
        raise ValueError(f"percentiles must be in (0, 100], got {pct}")
    eaf = moocore.eaf(
        _to_minimization(points), set_ids, percentiles=pct
    )  # (M, K + 1), last column = percentile
    out: dict[float, np.ndarray] = {}
    for p in pct:
        surface = _to_minimization(eaf[np.isclose(eaf[:, -1], p), :-1])  # (m, K)
        out[p] = surface[np.lexsort(surface.T[::-1])]
    return out


def staircase(P: np.ndarray, reference_point: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Boundary of the region a 2-D front ``P`` (m, 2) dominates, closed at ``reference_point`` (maximize).

    Returns the polyline ``(x, y)``, each (2m + 1,): from ``(ref_x, y_1)`` along the corners (sorted by x) down
    to ``(x_m, ref_y)``. Only non-dominated corners make steps; dominated rows are ignored.
    """
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[1] != 2 or len(P) == 0:
        raise ValueError(f"staircase needs a non-empty (m, 2) array, got shape {P.shape}")
    rx, ry = float(reference_point[0]), float(reference_point[1])
    # Keep the corners: sort by x descending, keep rows whose y beats every row to their right.
    order = np.lexsort((-P[:, 1], -P[:, 0]))
    corners, best_y = [], -np.inf
    for x, y in P[order]:
        if y > best_y:
            corners.append((x, y))
            best_y = y
    C = np.array(corners[::-1])  # (m', 2), x ascending, y descending
    xs = [rx]
    ys = [C[0, 1]]
    for i, (x, y) in enumerate(C):
        xs.append(x)
        ys.append(y)
        nxt = C[i + 1, 1] if i + 1 < len(C) else ry
        xs.append(x)
        ys.append(nxt)
    return np.array(xs), np.array(ys)
