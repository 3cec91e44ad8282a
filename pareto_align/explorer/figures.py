"""The explorer's interactive plotly figures: the front (2-D, 3-D, parallel coordinates) and indicator history.

Conventions every figure follows, so that the page and the tests can rely on them:
- the toolkit's one style (``pareto_align.export.style``): a series has its method's colour, as in the paper
  figures, and its run's marker; non-dominated points opaque and large, dominated ones faded; baselines black
  crosses; an objective declared ``min`` is labelled ``−name`` (its values are negated);
- the highlighted point is a separate trace named :data:`HIGHLIGHT_NAME`;
- every point carries its row index (in the :class:`FrontView`) as ``customdata``, so a selection made in the
  browser maps back to rows (:func:`selected_rows`); its hover text gives weights, method, seed and values
  with standard errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go

from pareto_align.explorer.runs import LoadedRun
from pareto_align.explorer.view import FrontView
from pareto_align.export.parallel import polylines
from pareto_align.export.style import (
    BASELINE_COLOR,
    BASELINE_MARKER,
    PALETTE,
    method_styles,
    objective_title,
)
from pareto_align.front.indicators import minmax_scale
from pareto_align.front.schema import Objective

FigureKind = Literal["2d", "3d", "parallel"]
HIGHLIGHT_NAME = "best for preference"
BASELINE_NAME = "baselines"
DOMINATED_OPACITY = 0.25
HIGHLIGHT_COLOR = "gold"


def axis_label(objective: Objective) -> str:
    """Axis title, by the toolkit's one rule (:func:`pareto_align.export.style.objective_title`)."""
    return objective_title(objective.name, objective.direction)


def series_styles(view: FrontView) -> dict[str, tuple[str, str]]:
    """Series -> (colour, marker): the colour of the series' method (the same as in the paper figures), the
    marker of its run."""
    methods: dict[str, str] = {}
    runs: dict[str, str] = {}
    for (run, p), s, base in zip(view.rows, view.series, view.is_baseline, strict=True):
        if not base:
            methods.setdefault(s, p.method)
            runs.setdefault(s, run.label)
    return method_styles(view.series_names, methods, runs)


def figure_kinds(K: int) -> list[FigureKind]:
    """Figures that make sense for K objectives, the default first."""
    if K <= 1:
        return ["parallel"]
    if K == 2:
        return ["2d"]
    if K == 3:
        return ["3d", "parallel", "2d"]
    return ["parallel", "2d"]


def _vec(v: Sequence[float] | None) -> str:
    return "-" if v is None else "(" + ", ".join(f"{x:.3f}" for x in v) + ")"


def hover_text(view: FrontView, i: int) -> str:
    """What hovering on row ``i`` shows: run, id, method, seed, step, weights/direction and values ± stderr."""
    run, p = view.rows[i]
    lines = [f"<b>{run.label} / {p.id}</b>" + (" (baseline)" if view.is_baseline[i] else "")]
    lines.append(f"method: {p.method} · seed: {p.seed} · step: {p.step}")
    pref = [f"weights: {_vec(p.weights)}"]
    if p.direction is not None:
        pref.append(f"direction: {_vec(p.direction)}")
    if p.lambda_ is not None:
        pref.append(f"lambda: {p.lambda_:.3g}")
    lines.append(" · ".join(pref))
    for k, name in enumerate(view.objective_names):
        lines.append(f"{name}: {view.F[i, k]:.4g} ± {view.stderr[i, k]:.2g}")
    lines.append(f"n_samples: {p.n_samples}" + ("" if view.non_dominated[i] else " · dominated"))
    return "<br>".join(lines)


def _color(j: int) -> str:
    """The j-th colour of the shared palette (lines that are not methods, such as the weights of objectives)."""
    return PALETTE[j % len(PALETTE)]


def _groups(view: FrontView) -> Iterable[tuple[str, str, np.ndarray, tuple[str, str], bool]]:
    """(trace name, legend group, rows, (colour, marker), front?) for each series' front, dominated points,
    baselines."""
    styles = series_styles(view)
    for s in view.series_names:
        in_series = (view.series == s) & ~view.is_baseline
        yield s, s, np.flatnonzero(in_series & view.non_dominated), styles[s], True
        yield f"{s} (dominated)", s, np.flatnonzero(in_series & ~view.non_dominated), styles[s], False
    baseline = (BASELINE_COLOR, BASELINE_MARKER)
    yield BASELINE_NAME, BASELINE_NAME, np.flatnonzero(view.is_baseline), baseline, False


def _marker(style: tuple[str, str], front: bool, baseline: bool) -> dict[str, Any]:
    color, symbol = style
    if baseline:
        return {"color": color, "size": 11, "symbol": symbol}
    return {
        "color": color,
        "symbol": symbol,
        "size": 11 if front else 7,
        "line": {"width": 1, "color": "white"},
    }


def _highlight_trace(trace: type, view: FrontView, i: int, coords: dict[str, int], symbol: str, size: int):
    """The highlighted point as its own trace (2-D or 3-D): ``coords`` maps x/y/z to objective indices."""
    return trace(
        **{axis: [view.F[i, k]] for axis, k in coords.items()},
        mode="markers",
        marker={
            "symbol": symbol,
            "size": size,
            "color": HIGHLIGHT_COLOR,
            "line": {"width": 2, "color": "black"},
        },
        name=HIGHLIGHT_NAME,
        customdata=[i],
        hovertext=[hover_text(view, i)],
        hoverinfo="text",
    )


def _scatter_2d(view: FrontView, axes: Sequence[int], highlight: int | None) -> go.Figure:
    a, b = axes
    fig = go.Figure()
    for name, group, rows, style, front in _groups(view):
        if len(rows) == 0:
            continue
        baseline = name == BASELINE_NAME
        color = style[0]
        if front and len(rows) > 1:
            rows = rows[np.argsort(view.F[rows, a], kind="stable")]  # draw the front as a line left to right
        fig.add_trace(
            go.Scatter(
                x=view.F[rows, a],
                y=view.F[rows, b],
                error_x={"type": "data", "array": view.stderr[rows, a], "visible": True, "thickness": 1},
                error_y={"type": "data", "array": view.stderr[rows, b], "visible": True, "thickness": 1},
                # A line through the front only where it is one: a 2-D projection of K > 2 objectives is not.
                mode="lines+markers" if front and not baseline and view.K == 2 else "markers",
                line={"dash": "dot", "width": 1, "color": color},
                marker=_marker(style, front, baseline),
                opacity=1.0 if front or baseline else DOMINATED_OPACITY,
                name=name,
                legendgroup=group,
                customdata=rows,
                hovertext=[hover_text(view, i) for i in rows],
                hoverinfo="text",
            )
        )
    if highlight is not None:
        fig.add_trace(_highlight_trace(go.Scatter, view, highlight, {"x": a, "y": b}, symbol="star", size=24))
    fig.update_layout(
        xaxis_title=axis_label(view.objectives[a]),
        yaxis_title=axis_label(view.objectives[b]),
        dragmode="select",
    )
    return fig


def _scatter_3d(view: FrontView, axes: Sequence[int], highlight: int | None) -> go.Figure:
    a, b, c = axes
    fig = go.Figure()
    for name, group, rows, style, front in _groups(view):
        if len(rows) == 0:
            continue
        baseline = name == BASELINE_NAME
        marker = _marker(style, front, baseline)
        marker["size"] = 7 if front or baseline else 4
        fig.add_trace(
            go.Scatter3d(
                x=view.F[rows, a],
                y=view.F[rows, b],
                z=view.F[rows, c],
                error_x={"type": "data", "array": view.stderr[rows, a], "visible": True, "thickness": 1},
                error_y={"type": "data", "array": view.stderr[rows, b], "visible": True, "thickness": 1},
                error_z={"type": "data", "array": view.stderr[rows, c], "visible": True, "thickness": 1},
                mode="markers",
                marker=marker,
                opacity=1.0 if front or baseline else DOMINATED_OPACITY,
                name=name,
                legendgroup=group,
                customdata=rows,
                hovertext=[hover_text(view, i) for i in rows],
                hoverinfo="text",
            )
        )
    if highlight is not None:
        fig.add_trace(
            _highlight_trace(
                go.Scatter3d, view, highlight, {"x": a, "y": b, "z": c}, symbol="diamond", size=12
            )
        )
    fig.update_layout(
        height=650,
        scene={
            "xaxis_title": axis_label(view.objectives[a]),
            "yaxis_title": axis_label(view.objectives[b]),
            "zaxis_title": axis_label(view.objectives[c]),
        },
    )
    return fig


def parallel_positions(F: np.ndarray) -> np.ndarray:
    """Each objective of ``F`` (n, K) scaled to [0, 1] over all rows, for the parallel-coordinates axes."""
    return minmax_scale(F)


def _polylines(Y: np.ndarray, rows: np.ndarray) -> tuple[list[float | None], list[float | None], list[Any]]:
    """x, y and row index per vertex of one polyline per row, separated by None (one trace for many lines)."""
    xs, ys = polylines(Y[rows])
    K = Y.shape[1]
    ids: list[Any] = [v for i in rows for v in [int(i)] * K + [None]]
    return xs, ys, ids


def _parallel(view: FrontView, highlight: int | None) -> go.Figure:
    """Parallel coordinates as polylines, so that lines can be faded and hovered like scatter points."""
    Y = parallel_positions(view.F)  # (n, K)
    texts = [hover_text(view, i) for i in range(len(view))]
    fig = go.Figure()
    extra = (
        [(HIGHLIGHT_NAME, HIGHLIGHT_NAME, np.array([highlight]), (HIGHLIGHT_COLOR, "star"), True)]
        if highlight is not None
        else []
    )
    for name, group, rows, (color, _), front in [*_groups(view), *extra]:
        if len(rows) == 0:
            continue
        xs, ys, ids = _polylines(Y, rows)
        is_highlight = name == HIGHLIGHT_NAME
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                line={
                    "color": color,
                    "width": 6 if is_highlight else 2.5 if front else 1,
                    "dash": "dash" if name == BASELINE_NAME else "solid",
                },
                marker={"size": 5, "color": color},
                opacity=1.0 if front or name == BASELINE_NAME else DOMINATED_OPACITY,
                name=name,
                legendgroup=group,
                customdata=ids,
                hovertext=[None if i is None else texts[i] for i in ids],
                hoverinfo="text",
                connectgaps=False,
            )
        )
    lo, hi = view.F.min(axis=0), view.F.max(axis=0)
    ticks = [f"{axis_label(o)}<br>[{lo[k]:.3g}, {hi[k]:.3g}]" for k, o in enumerate(view.objectives)]
    fig.update_layout(
        xaxis={"tickmode": "array", "tickvals": list(range(view.K)), "ticktext": ticks, "showgrid": True},
        yaxis={"title": "scaled value (0 = worst shown, 1 = best shown)", "range": [-0.05, 1.05]},
        dragmode="select",
    )
    return fig


def front_figure(
    view: FrontView,
    highlight: int | None = None,
    kind: FigureKind | None = None,
    axes: Sequence[int] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The front of the shown runs. ``kind`` defaults by the number of objectives (see :func:`figure_kinds`).

    ``axes`` picks the objectives of a 2-D or 3-D scatter (default: the first two or three). ``highlight`` is a
    row index drawn as its own trace (:data:`HIGHLIGHT_NAME`).
    """
    kind = kind or figure_kinds(view.K)[0]
    if kind == "2d":
        axes = tuple(axes) if axes is not None else (0, 1)
        if len(axes) != 2 or view.K < 2:
            raise ValueError(f"a 2-D scatter needs two objective axes, got {axes} for K={view.K}")
        fig = _scatter_2d(view, axes, highlight)
    elif kind == "3d":
        axes = tuple(axes) if axes is not None else (0, 1, 2)
        if len(axes) != 3 or view.K < 3:
            raise ValueError(f"a 3-D scatter needs three objective axes, got {axes} for K={view.K}")
        fig = _scatter_3d(view, axes, highlight)
    elif kind == "parallel":
        fig = _parallel(view, highlight)
    else:
        raise ValueError(f"unknown figure kind {kind!r}; choose 2d, 3d or parallel")
    fig.update_layout(
        title=title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"l": 10, "r": 10, "t": 60 if title else 40, "b": 10},
        hovermode="closest",
    )
    return fig


def selected_rows(points: Iterable[Mapping[str, Any]]) -> list[int]:
    """Row indices of the points of a plotly selection event (from their ``customdata``), sorted, unique."""
    rows: set[int] = set()
    for p in points:
        data = p.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if data is None:
            continue
        try:
            rows.add(int(data))
        except (TypeError, ValueError):
            continue
    return sorted(rows)


def history_indicators(runs: Sequence[LoadedRun]) -> list[str]:
    """Numeric indicators recorded in the runs' history, hypervolume first."""
    names: dict[str, None] = {}
    for run in runs:
        if run.front is None:
            continue
        for entry in run.front.history:
            if entry.hypervolume is not None:
                names.setdefault("hypervolume", None)
            for key, value in (entry.model_extra or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    names.setdefault(key, None)
    first = ["hypervolume"] if "hypervolume" in names else []
    return first + [n for n in names if n != "hypervolume"]


HISTORY_AXES: dict[str, str] = {
    "step": "points evaluated",
    "policy_updates": "policy updates (cumulative, whole run)",
    "tokens": "tokens trained + generated (cumulative, whole run)",
}


def _history_x(entry, axis: str) -> float | None:
    """Where a history entry sits on ``axis``: its step (the sweep counts finished points there), or the run's
    cumulative compute when the sweep recorded it (``cumulative_compute``; older files lack it: None)."""
    if axis == "step":
        return float(entry.step)
    compute = (entry.model_extra or {}).get("cumulative_compute")
    if not isinstance(compute, dict):
        return None
    if axis == "policy_updates":
        return float(compute.get("policy_updates", 0))
    return float(compute.get("trained_tokens", 0) + compute.get("generated_tokens", 0))


def history_axis(runs: Sequence[LoadedRun]) -> str:
    """The x axis of the history figure: cumulative policy updates when every front entry of the shown runs
    recorded its compute and some updates happened, cumulative tokens when only tokens did (best-of-n), else the
    count of points evaluated (older files)."""
    entries = [e for r in runs if r.front is not None for e in r.front.history if not e.training]
    if not entries:
        return "step"
    for axis in ("policy_updates", "tokens"):
        xs = [_history_x(e, axis) for e in entries]
        if all(x is not None for x in xs) and any(xs):
            return axis
    return "step"


def history_series(run: LoadedRun, indicator: str, axis: str = "step") -> tuple[np.ndarray, np.ndarray]:
    """(x, values) of ``indicator`` in a run's history, sorted by x (``axis``: see :data:`HISTORY_AXES`);
    entries without the indicator or without a position on ``axis`` are skipped."""
    if axis not in HISTORY_AXES:
        raise ValueError(f"unknown history axis {axis!r}; choose one of {', '.join(HISTORY_AXES)}")
    steps, values = [], []
    if run.front is not None:
        for entry in run.front.history:
            if entry.training:  # a point's own trajectory while it trained, not the front's
                continue
            value = (
                entry.hypervolume if indicator == "hypervolume" else (entry.model_extra or {}).get(indicator)
            )
            x = _history_x(entry, axis)
            if isinstance(value, int | float) and not isinstance(value, bool) and x is not None:
                steps.append(x)
                values.append(float(value))
    order = np.argsort(np.asarray(steps), kind="stable")
    return np.asarray(steps, dtype=float)[order], np.asarray(values, dtype=float)[order]


def history_figure(runs: Sequence[LoadedRun], indicator: str = "hypervolume") -> go.Figure:
    """One line per run: ``indicator`` against the run's cumulative compute (see :func:`history_axis`), in the
    colour of the run's method when it holds one."""
    axis = history_axis(runs)
    methods = {}
    for run in runs:
        names = {p.method for p in run.front.points} if run.front is not None else set()
        methods[run.label] = names.pop() if len(names) == 1 else run.label
    styles = method_styles([r.label for r in runs], methods)
    fig = go.Figure()
    for run in runs:
        steps, values = history_series(run, indicator, axis)
        if len(steps) == 0:
            continue
        color, symbol = styles[run.label]
        fig.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers", name=run.label,
                                 line={"color": color, "shape": "hv"}, marker={"symbol": symbol}))  # fmt: skip
    fig.update_layout(
        xaxis_title=HISTORY_AXES[axis],
        yaxis_title=indicator,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def trained_points(runs: Sequence[LoadedRun]) -> list[tuple[LoadedRun, str]]:
    """(run, point id) of every point that recorded its own training in the history (online methods)."""
    seen: dict[tuple[int, str], tuple[LoadedRun, str]] = {}
    for j, run in enumerate(runs):
        for entry in run.front.history if run.front else []:
            if entry.training and entry.point_id is not None:
                seen.setdefault((j, entry.point_id), (run, entry.point_id))
    return list(seen.values())


def training_figure(run: LoadedRun, point_id: str) -> go.Figure:
    """One point's training: the hypervolume of the front with the training policy added, the weights in use
    (dynamic weighting changes them while it trains), and the step-size multiplier when the method logged one."""
    from plotly.subplots import make_subplots

    entries = sorted((e for e in run.front.history if e.training and e.point_id == point_id),  # type: ignore[union-attr]
                     key=lambda e: e.step)  # fmt: skip
    hv = [(e.step, e.hypervolume) for e in entries if e.hypervolume is not None]
    weights = [(e.step, e.weights) for e in entries if e.weights is not None]
    mult = [
        (e.step, (e.model_extra or {})["multiplier"])
        for e in entries
        if "multiplier" in (e.model_extra or {})
    ]
    rows = [("hypervolume (front + this policy)", hv), ("weights in use", weights)] + (
        [("multiplier m", mult)] if mult else []
    )
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[title for title, _ in rows])  # fmt: skip
    names = [o.name for o in run.front.objectives]  # type: ignore[union-attr]
    for r, (title, series) in enumerate(rows, start=1):
        if not series:
            continue
        steps = [s for s, _ in series]
        if title == "weights in use":
            W = np.asarray([w for _, w in series], dtype=float)  # (T, K)
            for k, name in enumerate(names):
                fig.add_trace(go.Scatter(x=steps, y=W[:, k], mode="lines", line={"shape": "hv", "color": _color(k)},
                                         name=f"w {name}"), row=r, col=1)  # fmt: skip
        else:
            fig.add_trace(go.Scatter(x=steps, y=[v for _, v in series], mode="lines+markers", name=title,
                                     line={"color": BASELINE_COLOR}, showlegend=False), row=r, col=1)  # fmt: skip
    fig.update_xaxes(title_text="training step", row=len(rows), col=1)
    fig.update_layout(height=220 * len(rows), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0})  # fmt: skip
    return fig
