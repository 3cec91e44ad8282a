"""Parallel coordinates drawn with 2-D plotly lines (vector output; plotly's ``Parcoords`` is WebGL).

One vertical axis per objective, in config order; each policy is a polyline across them. Every axis is scaled
to the [min, max] of the values shown, with those two numbers printed at its ends; up is better on every axis
(values are in the maximize convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from pareto_align.export.style import AXIS_COLOR, TICK_FONT_SIZE
from pareto_align.front.indicators import minmax_scale


def axis_scaler(F_all: np.ndarray):
    """Function mapping values (n, K) to [0, 1] per objective, from the bounds of ``F_all`` (N, K); a constant
    objective sits in the middle (0.5). Returns (scale, lower (K,), upper (K,))."""
    lo, hi = F_all.min(axis=0), F_all.max(axis=0)

    def scale(F: np.ndarray) -> np.ndarray:
        return minmax_scale(F, lo, hi, constant=0.5)

    return scale, lo, hi


def polylines(U: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """None-separated polyline coordinates of the rows of ``U`` (n, K) across axes x = 0 .. K-1."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for row in U:
        xs += [*range(len(row)), None]
        ys += [*map(float, row), None]
    return xs, ys


def axes_traces(titles: Sequence[str], lo: np.ndarray, hi: np.ndarray) -> list[go.Scatter]:
    """Vertical axes, the min/max value at each axis' ends, and objective names underneath."""
    k = len(titles)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for i in range(k):
        xs += [i, i, None]
        ys += [0.0, 1.0, None]
    lines = go.Scatter(
        x=xs, y=ys, mode="lines", line=dict(color=AXIS_COLOR, width=1), hoverinfo="skip", showlegend=False
    )
    tops = go.Scatter(
        x=list(range(k)),
        y=[1.05] * k,
        mode="text",
        text=[f"{hi[i]:.3g}" for i in range(k)],
        textfont=dict(size=TICK_FONT_SIZE - 1),
        hoverinfo="skip",
        showlegend=False,
    )
    bottoms = go.Scatter(
        x=list(range(k)),
        y=[-0.05] * k,
        mode="text",
        text=[f"{lo[i]:.3g}" for i in range(k)],
        textfont=dict(size=TICK_FONT_SIZE - 1),
        hoverinfo="skip",
        showlegend=False,
    )
    names = go.Scatter(
        x=list(range(k)), y=[-0.14] * k, mode="text", text=list(titles), hoverinfo="skip", showlegend=False
    )
    return [lines, tops, bottoms, names]
