"""A vector 3-D scatter: an orthographic projection drawn with 2-D plotly traces.

plotly's ``Scatter3d`` is rendered by WebGL, which kaleido can only embed in a PDF or SVG as a bitmap. Papers
need vector figures, so the static 3-D front is projected here: objective values are scaled into the unit cube,
rotated by an azimuth about the vertical axis and tilted by an elevation, and drawn with the cube's three back
walls, their grid lines, ticks and drop lines from each point to the floor (which carry the depth cue).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from pareto_align.export.style import AXIS_COLOR, GRID_COLOR, TICK_FONT_SIZE

AZIMUTH = 225.0  # degrees: the camera looks from the high corner of objectives 1 and 2 (the front's side)
ELEVATION = 25.0


def nice_ticks(lo: float, hi: float, n: int = 4) -> np.ndarray:
    """Round tick values inside [lo, hi], about ``n`` of them (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    span = hi - lo
    if span <= 0:
        return np.array([lo])
    mag = 10.0 ** math.floor(math.log10(span / n))
    best: np.ndarray | None = None
    for step in (m * mag * f for f in (0.1, 1.0, 10.0) for m in (1, 2, 2.5, 5)):
        start = math.ceil(lo / step - 1e-9) * step
        ticks = np.round(np.arange(start, hi + step * 1e-9, step), 12)
        # closest count to n; on a tie the larger step (fewer, rounder labels), as candidates ascend
        if best is None or abs(len(ticks) - n) <= abs(len(best) - n):
            best = ticks
    assert best is not None
    return best


def tick_text(values: np.ndarray) -> list[str]:
    """Shortest labels that tell the ticks apart."""
    for decimals in range(0, 7):
        labels = [f"{v:.{decimals}f}" for v in values]
        if len(set(labels)) == len(labels) and np.allclose([float(s) for s in labels], values, atol=1e-9):
            return labels
    return [f"{v:g}" for v in values]


def padded_bounds(F: np.ndarray, pad: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per-objective (lower, upper) of ``F`` (n, K), widened by ``pad`` of the span (or 1 when flat)."""
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return lo - pad * span, hi + pad * span


@dataclass(frozen=True)
class Projection3D:
    """Maps objective values (n, 3) to screen coordinates for fixed bounds and view angles."""

    lower: np.ndarray  # (3,)
    upper: np.ndarray  # (3,)
    azimuth: float = AZIMUTH
    elevation: float = ELEVATION

    def unit(self, F: np.ndarray) -> np.ndarray:
        """Values (n, 3) scaled into the unit cube."""
        return (np.asarray(F, dtype=float) - self.lower) / (self.upper - self.lower)

    def project_unit(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit-cube points (n, 3) -> screen x (n,), screen y (n,), depth (n,) (larger = farther)."""
        c = np.atleast_2d(U) - 0.5
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        x1 = c[:, 0] * math.cos(az) - c[:, 1] * math.sin(az)
        y1 = c[:, 0] * math.sin(az) + c[:, 1] * math.cos(az)
        sx = x1
        sy = c[:, 2] * math.cos(el) + y1 * math.sin(el)
        depth = y1 * math.cos(el) - c[:, 2] * math.sin(el)
        return sx, sy, depth

    def project(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Objective values (n, 3) -> screen x, screen y, depth."""
        return self.project_unit(self.unit(F))

    def drop_lines(self, F: np.ndarray) -> tuple[list[float | None], list[float | None]]:
        """Polyline (None-separated) from each point straight down to the floor of the cube."""
        U = self.unit(F)
        floor = U.copy()
        floor[:, 2] = 0.0
        tx, ty, _ = self.project_unit(U)
        bx, by, _ = self.project_unit(floor)
        xs: list[float | None] = []
        ys: list[float | None] = []
        for i in range(len(U)):
            xs += [float(tx[i]), float(bx[i]), None]
            ys += [float(ty[i]), float(by[i]), None]
        return xs, ys

    def _depth_of(self, u: Sequence[float]) -> float:
        return float(self.project_unit(np.array([u], dtype=float))[2][0])

    def frame(self, titles: Sequence[str]) -> tuple[list[go.Scatter], list[dict]]:
        """Back walls with grid lines and tick labels (traces), and the axis titles (layout annotations)."""
        # A wall is at the back when its centre is farther from the camera than the opposite wall's centre.
        back = [
            0.0
            if self._depth_of([0.0 if a == k else 0.5 for a in range(3)])
            > self._depth_of([1.0 if a == k else 0.5 for a in range(3)])
            else 1.0
            for k in range(3)
        ]
        back[2] = 0.0  # seen from above, the floor is always the bottom wall
        segs: list[tuple[np.ndarray, np.ndarray]] = []
        grid: list[tuple[np.ndarray, np.ndarray]] = []
        ticks = [nice_ticks(float(self.lower[k]), float(self.upper[k])) for k in range(3)]
        for wall in range(3):  # the wall perpendicular to axis `wall`, at back[wall]
            a, b = [k for k in range(3) if k != wall]
            for ua in (0.0, 1.0):  # outline
                p, q = np.zeros(3), np.zeros(3)
                p[wall] = q[wall] = back[wall]
                p[a], q[a], p[b], q[b] = ua, ua, 0.0, 1.0
                segs.append((p, q))
                p, q = p.copy(), q.copy()
                p[a], q[a], p[b], q[b] = 0.0, 1.0, ua, ua
                segs.append((p, q))
            for axis, other in ((a, b), (b, a)):  # grid lines at the ticks of both in-wall axes
                for t in ticks[axis]:
                    u = (t - self.lower[axis]) / (self.upper[axis] - self.lower[axis])
                    p, q = np.zeros(3), np.zeros(3)
                    p[wall] = q[wall] = back[wall]
                    p[axis] = q[axis] = u
                    p[other], q[other] = 0.0, 1.0
                    grid.append((p, q))
        labels, titles_at = self._tick_labels(ticks, back)
        traces = [self._segments(grid, GRID_COLOR, 0.6), self._segments(segs, AXIS_COLOR, 0.9), *labels]
        return traces, self.title_annotations(titles, titles_at)

    def _segments(self, segs: list[tuple[np.ndarray, np.ndarray]], color: str, width: float) -> go.Scatter:
        xs: list[float | None] = []
        ys: list[float | None] = []
        for p, q in segs:
            sx, sy, _ = self.project_unit(np.array([p, q]))
            xs += [float(sx[0]), float(sx[1]), None]
            ys += [float(sy[0]), float(sy[1]), None]
        return go.Scatter(
            x=xs, y=ys, mode="lines", line=dict(color=color, width=width), hoverinfo="skip", showlegend=False
        )

    def _tick_labels(
        self, ticks: list[np.ndarray], back: list[float]
    ) -> tuple[list[go.Scatter], list[tuple[float, float]]]:
        """Ticks of x and y on the floor edges nearest the camera, z on the leftmost vertical edge; also where
        each axis title goes (screen coordinates)."""
        center = np.array(self.project_unit(np.array([[0.5, 0.5, 0.5]]))[:2]).ravel()
        traces = []
        titles_at: list[tuple[float, float]] = []
        for k in range(3):
            if k < 2:
                other = 1 - k
                # the floor edge parallel to axis k that is nearer the camera (the opposite of the back wall)
                edge = np.zeros(3)
                edge[other] = 1.0 - back[other]
            else:
                corners = [np.array([x, y, 0.0]) for x in (0.0, 1.0) for y in (0.0, 1.0)]
                edge = min(corners, key=lambda c: float(self.project_unit(c[None])[0][0]))
            us = (ticks[k] - self.lower[k]) / (self.upper[k] - self.lower[k])
            pts = np.repeat(edge[None], len(us) + 1, axis=0)
            pts[:-1, k] = us
            pts[-1, k] = 0.5
            sx, sy, _ = self.project_unit(pts)
            mid = np.array([sx[-1], sy[-1]])
            out = mid - center
            out = out / (np.linalg.norm(out) or 1.0)
            traces.append(
                go.Scatter(
                    x=sx[:-1] + 0.09 * out[0],
                    y=sy[:-1] + 0.09 * out[1],
                    mode="text",
                    text=tick_text(ticks[k]),
                    textfont=dict(size=TICK_FONT_SIZE - 1),
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
            titles_at.append((float(mid[0] + 0.2 * out[0]), float(mid[1] + 0.2 * out[1])))
        return traces, titles_at

    def title_annotations(
        self, titles: Sequence[str], positions: Sequence[tuple[float, float]]
    ) -> list[dict]:
        """Axis titles as annotations (the vertical one rotated, so it never covers its tick labels)."""
        return [
            dict(
                x=x,
                y=y,
                xref="x",
                yref="y",
                text=title,
                showarrow=False,
                textangle=-90 if k == 2 else 0,
                xanchor="right" if k == 2 else "center",
            )
            for k, (title, (x, y)) in enumerate(zip(titles, positions, strict=True))
        ]
