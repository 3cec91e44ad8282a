"""Figures of fronts, of hypervolume against compute, of attainment surfaces and of pairwise projections, as
plotly figures in the toolkit's one style (:mod:`pareto_align.export.style`).

``front_figure`` picks the view by the number of objectives K: 2-D scatter with attainment staircases (K = 2),
3-D (K = 3: interactive ``Scatter3d``, or a vector projection when ``static``), parallel coordinates (K >= 4).
Points that another point of the same method and seed dominates are faded; baselines are black crosses. With
several seeds a method's line is its median attainment surface and the shaded band lies between its 25% and
75% attainment surfaces (points of different seeds are never pooled into one front).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from pareto_align.export.anytime import COMPUTE_AXES, ReachCost, anytime_curves, compute_axes, step_mean
from pareto_align.export.attainment import PERCENTILES, attainment_surfaces, staircase
from pareto_align.export.parallel import axes_traces, axis_scaler, polylines
from pareto_align.export.plot3d import Projection3D, padded_bounds
from pareto_align.export.runs import Run, SeedGroup, as_runs, labels_in_order, seed_groups
from pareto_align.export.style import (
    BASELINE_COLOR,
    BASELINE_MARKER,
    FIGURE_WIDTH,
    apply_style,
    display_name,
    method_styles,
    objective_title,
    rgba,
)
from pareto_align.front.dominance import non_dominated_mask
from pareto_align.front.schema import Front, Point

FADED_ALPHA = 0.3
BAND_ALPHA = 0.18


def _baselines(runs: Sequence[Run]) -> list[Point]:
    """Baselines of all runs, the same base model listed by several runs shown once."""
    seen: dict[tuple[str, tuple[float, ...]], Point] = {}
    for run in runs:
        for b in run.front.baselines:
            seen.setdefault((b.id, tuple(b.values)), b)
    return list(seen.values())


def _hover(p: Point, label: str) -> str:
    w = f"<br>weights {[round(v, 3) for v in p.weights]}" if p.weights else ""
    return f"{p.id}<br>{label}, seed {p.seed}{w}<br>values {[round(v, 4) for v in p.values]}"


def _split_points(groups: Sequence[SeedGroup]) -> tuple[list[Point], list[Point]]:
    """Points of ``groups`` that are non-dominated / dominated within their own group."""
    front, dominated = [], []
    for g in groups:
        for p, keep in zip(g.points, non_dominated_mask(g.F), strict=True):
            (front if keep else dominated).append(p)
    return front, dominated


def _legend_name(label: str, groups: Sequence[SeedGroup]) -> str:
    n = len(groups)
    name = display_name(label, groups[0].method)
    return f"{name} ({n} seeds)" if n > 1 else name


def _by_method(runs) -> tuple[list[SeedGroup], list[str], dict, dict[str, list[SeedGroup]]]:
    """Seed groups of `runs`, their labels in order, each label's (colour, marker) and its groups."""
    groups = seed_groups(runs)
    labels = labels_in_order(groups)
    styles = method_styles(labels, {g.label: g.method for g in groups}, {g.label: g.run for g in groups})
    return groups, labels, styles, {label: [g for g in groups if g.label == label] for label in labels}


def front_figure(
    fronts: Front | Mapping[str, Front],
    *,
    static: bool = False,
    percentiles: Sequence[float] = PERCENTILES,
    title: str | None = None,
) -> go.Figure:
    """Figure of the points of ``fronts`` (a Front, or run name -> Front sharing objectives).

    ``static=True`` keeps every trace vector-drawable (for PDF/SVG); otherwise K = 3 uses an interactive
    WebGL ``Scatter3d``. ``percentiles`` (low, median, high) are the attainment surfaces drawn for K = 2.
    """
    if len(percentiles) != 3:
        raise ValueError(f"percentiles must be three values (low, median, high), got {list(percentiles)}")
    runs = as_runs(fronts)
    front0 = runs[0].front
    groups, labels, styles, by_label = _by_method(runs)
    titles = [objective_title(o.name, o.direction) for o in front0.objectives]
    baselines = _baselines(runs)
    k = len(titles)
    if k == 1:
        raise ValueError("a front figure needs at least 2 objectives")
    if k == 2:
        fig = _figure_2d(by_label, styles, baselines, front0.reference_point, titles, percentiles)
    elif k == 3 and not static:
        fig = _figure_3d_interactive(by_label, styles, baselines, titles)
    elif k == 3:
        fig = _figure_3d_static(by_label, styles, baselines, titles)
    else:
        fig = _figure_parallel(by_label, styles, baselines, titles)
    if title:
        fig.update_layout(title=dict(text=title, x=0.5, y=0.99, yanchor="top"))
    return fig


def _all_values(by_label: Mapping[str, list[SeedGroup]], baselines: Sequence[Point]) -> np.ndarray:
    rows = [p.values for gs in by_label.values() for g in gs for p in g.points] + [
        b.values for b in baselines
    ]
    return np.array(rows, dtype=float)  # (N, K)


def _marker_traces(
    label: str,
    groups: list[SeedGroup],
    style: tuple[str, str],
    coords,  # Point list -> dict of trace coordinates (x, y[, z])
    trace=go.Scatter,
    size: float = 7,
) -> list:
    color, symbol = style
    front, dominated = _split_points(groups)
    traces = []
    for pts, fill, show in ((dominated, rgba(color, FADED_ALPHA), False), (front, color, True)):
        if not pts:
            continue
        traces.append(
            trace(
                **coords(pts),
                mode="markers",
                name=_legend_name(label, groups),
                legendgroup=label,
                showlegend=show,
                marker=dict(color=fill, symbol=symbol, size=size, line=dict(width=0)),
                hovertext=[_hover(p, label) for p in pts],
                hoverinfo="text",
            )
        )
    if traces and not traces[-1].showlegend:  # a method whose every point is dominated still needs its entry
        traces[-1].showlegend = True
    return traces


def _baseline_trace(baselines: Sequence[Point], coords, trace=go.Scatter, size: float = 9) -> list:
    if not baselines:
        return []
    return [
        trace(
            **coords(baselines),
            mode="markers",
            name="baseline" if len(baselines) == 1 else "baselines",
            marker=dict(color=BASELINE_COLOR, symbol=BASELINE_MARKER, size=size),
            hovertext=[f"baseline {b.id}<br>values {[round(v, 4) for v in b.values]}" for b in baselines],
            hoverinfo="text",
        )
    ]


def _xy(pts: Sequence[Point]) -> dict:
    return dict(x=[p.values[0] for p in pts], y=[p.values[1] for p in pts])


def _figure_2d(by_label, styles, baselines, reference_point, titles, percentiles) -> go.Figure:
    fig = go.Figure()
    low, mid, high = sorted(float(p) for p in percentiles)
    for label, groups in by_label.items():
        color, _ = styles[label]
        sets = [g.F for g in groups]
        if len(sets) > 1:
            surfaces = attainment_surfaces(sets, (low, mid, high))
            bx1, by1 = staircase(surfaces[low], reference_point)
            bx2, by2 = staircase(surfaces[high], reference_point)
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([bx1, bx2[::-1]]),
                    y=np.concatenate([by1, by2[::-1]]),
                    fill="toself",
                    fillcolor=rgba(color, BAND_ALPHA),
                    line=dict(width=0),
                    mode="lines",
                    legendgroup=label,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            line = surfaces[mid]
        else:
            line = sets[0]
        sx, sy = staircase(line, reference_point)
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sy,
                mode="lines",
                line=dict(color=color, width=1.6),
                legendgroup=label,
                showlegend=False,
                hoverinfo="skip",
            )
        )
    for label, groups in by_label.items():  # markers on top of every line and band
        for t in _marker_traces(label, groups, styles[label], _xy):
            fig.add_trace(t)
    for t in _baseline_trace(baselines, _xy):
        fig.add_trace(t)
    apply_style(fig)
    # Axis ranges from the points only: staircases run to the reference point, which may lie far away.
    lo, hi = padded_bounds(_all_values(by_label, baselines), pad=0.06)
    fig.update_xaxes(title_text=titles[0], range=[lo[0], hi[0]])
    fig.update_yaxes(title_text=titles[1], range=[lo[1], hi[1]])
    return fig


def _figure_3d_interactive(by_label, styles, baselines, titles) -> go.Figure:
    def xyz(pts):
        return dict(x=[p.values[0] for p in pts], y=[p.values[1] for p in pts], z=[p.values[2] for p in pts])

    fig = go.Figure()
    for label, groups in by_label.items():
        for t in _marker_traces(label, groups, styles[label], xyz, trace=go.Scatter3d, size=4):
            fig.add_trace(t)
    for t in _baseline_trace(baselines, xyz, trace=go.Scatter3d, size=5):
        fig.add_trace(t)
    apply_style(fig, height=420)
    fig.update_layout(scene=dict(xaxis_title=titles[0], yaxis_title=titles[1], zaxis_title=titles[2]))
    return fig


def _hidden_axes(fig: go.Figure, equal: bool) -> None:
    fig.update_xaxes(visible=False, showgrid=False)
    fig.update_yaxes(visible=False, showgrid=False)
    if equal:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)


def _figure_3d_static(by_label, styles, baselines, titles) -> go.Figure:
    lo, hi = padded_bounds(_all_values(by_label, baselines), pad=0.04)
    proj = Projection3D(lo, hi)
    frame, annotations = proj.frame(titles)
    fig = go.Figure(frame)
    fig.update_layout(annotations=annotations)

    def screen(pts):
        sx, sy, _ = proj.project(np.array([p.values for p in pts]))
        return dict(x=sx, y=sy)

    for label, groups in by_label.items():
        color, _ = styles[label]
        F = np.vstack([g.F for g in groups])
        dx, dy = proj.drop_lines(F)
        fig.add_trace(
            go.Scatter(
                x=dx,
                y=dy,
                mode="lines",
                line=dict(color=rgba(color, 0.35), width=0.7),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=label,
            )
        )
    for label, groups in by_label.items():
        for t in _marker_traces(label, groups, styles[label], screen, size=6):
            fig.add_trace(t)
    for t in _baseline_trace(baselines, screen):
        fig.add_trace(t)
    apply_style(fig, height=380)
    _hidden_axes(fig, equal=True)
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _figure_parallel(by_label, styles, baselines, titles) -> go.Figure:
    scale, lo, hi = axis_scaler(_all_values(by_label, baselines))
    fig = go.Figure(axes_traces(titles, lo, hi))
    for label, groups in by_label.items():
        color, _ = styles[label]
        front, dominated = _split_points(groups)
        for pts, line_color, width, show in (
            (dominated, rgba(color, FADED_ALPHA), 0.7, False),
            (front, rgba(color, 0.85), 1.1, True),
        ):
            if not pts:
                continue
            xs, ys = polylines(scale(np.array([p.values for p in pts])))
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line=dict(color=line_color, width=width),
                    name=_legend_name(label, groups),
                    legendgroup=label,
                    showlegend=show or not front,
                    hoverinfo="skip",
                )
            )
    if baselines:
        xs, ys = polylines(scale(np.array([b.values for b in baselines])))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="baseline",
                line=dict(color=BASELINE_COLOR, width=1.4, dash="dash"),
            )
        )
    apply_style(fig, width=max(420, 90 * len(titles)))
    _hidden_axes(fig, equal=False)
    fig.update_xaxes(range=[-0.4, len(titles) - 0.6])
    fig.update_yaxes(range=[-0.2, 1.1])
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _history_key(run: Run, entry, groups_of_run: Sequence[SeedGroup]) -> tuple[str, str, int | None]:
    """(label, method, seed) of a history entry: from its ``method``/``seed`` fields when the tracker logged
    them, else from the run when it holds one method (and one seed); else the run name stands for the label."""
    extra = entry.model_extra or {}
    labels = {(g.method): g.label for g in groups_of_run}
    method = extra.get("method")
    if method is None:
        methods = {g.method for g in groups_of_run}
        method = next(iter(methods)) if len(methods) == 1 else run.name or "run"
    label = labels.get(method, method)
    seed = extra.get("seed")
    if seed is None:
        seeds = {g.seed for g in groups_of_run if g.method == method}
        seed = next(iter(seeds)) if len(seeds) == 1 else None
    return label, method, seed


def hypervolume_figure(fronts: Front | Mapping[str, Front], target: ReachCost | None = None,
                       budget: int | None = None) -> go.Figure:  # fmt: skip
    """The anytime comparison: each method's hypervolume against the cumulative compute it spent, every method on
    one plot, one panel per compute measure recorded (policy updates; tokens trained + generated), or against the
    count of points evaluated when no compute was recorded (older files). See :mod:`pareto_align.export.anytime`.

    One thin step line per (method, seed); with several seeds a bold line for the mean of their step functions.
    A method whose points come from one model (DPA, RiC, soups after their specialists) pays its cost before its
    first point: its points then stand on one vertical line. `target` (any of `reach_costs`' results): a dashed
    line at the hypervolume the compute-to-reach table measures against. `budget` (a comparison's policy updates per
    seed, every method filled to it): a dotted vertical line there on the policy-updates panel, which spans 0 to it.
    """
    from plotly.subplots import make_subplots

    runs = as_runs(fronts)
    groups, labels, styles, _ = _by_method(runs)
    curves = anytime_curves(runs, groups)
    axes = compute_axes(curves)
    fig = make_subplots(rows=1, cols=len(axes), shared_yaxes=True, horizontal_spacing=0.06)
    for col, axis in enumerate(axes, start=1):
        for label in labels:
            mine = [c for c in curves if c.label == label]
            color, symbol = styles[label]
            n = len(mine)
            name = display_name(label, mine[0].method)
            for c in mine:
                fig.add_trace(go.Scatter(x=c.x(axis), y=c.hypervolume, mode="lines+markers", line_shape="hv",
                                         line=dict(color=rgba(color, 0.35) if n > 1 else color, width=0.9 if n > 1 else 1.6),
                                         marker=dict(symbol=symbol, size=4 if n > 1 else 6, color=color),
                                         name=name, legendgroup=label, showlegend=col == 1 and n == 1),
                              row=1, col=col)  # fmt: skip
            if n > 1:
                x, mean = step_mean(mine, axis)
                fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", line_shape="hv", line=dict(color=color, width=2),
                                         marker=dict(symbol=symbol, size=6, color=color),
                                         name=f"{name} (mean of {n} seeds)", legendgroup=label,
                                         showlegend=col == 1), row=1, col=col)  # fmt: skip
            fig.update_xaxes(title_text=COMPUTE_AXES[axis], row=1, col=col)
        if target is not None:
            reference = display_name(
                target.reference, next(c.method for c in curves if c.label == target.reference)
            )
            fig.add_hline(y=target.target, line=dict(color="grey", width=1, dash="dash"), row=1, col=col,
                          annotation_text=f"{target.fraction:.0%} of {reference}", annotation_position="top left",
                          annotation_font_size=11)  # fmt: skip
        if budget is not None and axis == "policy_updates":
            right = max(budget, max(float(c.x(axis)[-1]) for c in curves))
            fig.add_vline(x=budget, line=dict(color="grey", width=1, dash="dot"), row=1, col=col,
                          annotation_text=f"budget {budget:,}", annotation_position="bottom left",
                          annotation_font_size=11)  # fmt: skip
            fig.update_xaxes(range=[0, 1.03 * right], row=1, col=col)
    apply_style(fig, width=FIGURE_WIDTH * len(axes))
    normalized = runs[0].front.normalization is not None
    fig.update_yaxes(title_text="hypervolume" + (" (normalized)" if normalized else ""), row=1, col=1)
    return fig


def attainment_figure(
    fronts: Front | Mapping[str, Front], percentiles: Sequence[float] = PERCENTILES
) -> go.Figure:
    """K = 2: one panel per method with its low, median and high attainment surfaces over seeds (moocore) as
    staircases, and its points; the same axes in every panel so methods compare at a glance."""
    from plotly.subplots import make_subplots

    low, mid, high = sorted(float(p) for p in percentiles)
    runs = as_runs(fronts)
    front0 = runs[0].front
    if len(front0.objectives) != 2:
        raise ValueError(f"attainment_figure draws 2 objectives, got {len(front0.objectives)}")
    groups, labels, styles, mine = _by_method(runs)
    titles = [objective_title(o.name, o.direction) for o in front0.objectives]
    fig = make_subplots(rows=1, cols=len(labels), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[_legend_name(label, mine[label]) for label in labels])  # fmt: skip
    ref = front0.reference_point
    for col, label in enumerate(labels, start=1):
        color, symbol = styles[label]
        surfaces = attainment_surfaces([g.F for g in mine[label]], (low, mid, high))
        for p, width, dash in ((low, 0.9, "dot"), (mid, 1.8, "solid"), (high, 0.9, "dash")):
            sx, sy = staircase(surfaces[p], ref)
            fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", line=dict(color=color, width=width, dash=dash),
                                     name=f"{p:g}% attainment", legendgroup=f"{p:g}", showlegend=col == 1,
                                     hoverinfo="skip"), row=1, col=col)  # fmt: skip
        F = np.vstack([g.F for g in mine[label]])
        fig.add_trace(go.Scatter(x=F[:, 0], y=F[:, 1], mode="markers", showlegend=False,
                                 marker=dict(color=rgba(color, 0.5), symbol=symbol, size=5)), row=1, col=col)  # fmt: skip
    lo, hi = padded_bounds(np.vstack([g.F for g in groups]), pad=0.06)
    apply_style(fig, width=max(FIGURE_WIDTH, 260 * len(labels)))
    fig.update_xaxes(title_text=titles[0], range=[lo[0], hi[0]])
    fig.update_yaxes(range=[lo[1], hi[1]])
    fig.update_yaxes(title_text=titles[1], row=1, col=1)
    fig.update_layout(margin=dict(t=70))
    return fig


def projection_matrix_figure(fronts: Front | Mapping[str, Front]) -> go.Figure:
    """K >= 3: the matrix of pairwise 2-D projections (objective j against objective i, i < j, lower triangle),
    every method in its colour, points dominated within their own seed faded. Easier to read in print than a
    static 3-D view; a projection of a front is not a front, so no lines join the points."""
    from plotly.subplots import make_subplots

    runs = as_runs(fronts)
    front0 = runs[0].front
    k = len(front0.objectives)
    if k < 3:
        raise ValueError(f"a projection matrix needs at least 3 objectives, got {k}")
    groups, labels, styles, by_label = _by_method(runs)
    titles = [objective_title(o.name, o.direction) for o in front0.objectives]
    n = k - 1
    fig = make_subplots(rows=n, cols=n, horizontal_spacing=0.03, vertical_spacing=0.03,
                        shared_xaxes="columns", shared_yaxes="rows")  # fmt: skip
    lo, hi = padded_bounds(np.vstack([g.F for g in groups]), pad=0.06)
    for row in range(1, n + 1):  # y: objective `row`
        for col in range(1, n + 1):  # x: objective `col - 1`
            i, j = col - 1, row
            if i >= j:
                fig.update_xaxes(visible=False, row=row, col=col)
                fig.update_yaxes(visible=False, row=row, col=col)
                continue
            for label in labels:
                for t in _marker_traces(label, by_label[label], styles[label],
                                        lambda pts, i=i, j=j: dict(x=[p.values[i] for p in pts],
                                                                   y=[p.values[j] for p in pts]), size=5):  # fmt: skip
                    t.showlegend = t.showlegend and row == n and col == 1
                    fig.add_trace(t, row=row, col=col)
            fig.update_xaxes(range=[lo[i], hi[i]], row=row, col=col)
            fig.update_yaxes(range=[lo[j], hi[j]], row=row, col=col)
            if row == n:
                fig.update_xaxes(title_text=titles[i], row=row, col=col)
            if col == 1:
                fig.update_yaxes(title_text=titles[j], row=row, col=col)
    side = 200 * n + 80
    apply_style(fig, width=side, height=side)
    return fig


def trajectory_figure(fronts: Front | Mapping[str, Front]) -> go.Figure | None:
    """Each point's objective vector over its own training (the history's training entries, ending at the
    point), one panel per objective, coloured by method: a thin line per point and, for the points of a method
    that start from the same weights (its seeds), a bold line for their mean at the steps they share. None when
    no front logged a training entry."""
    from plotly.subplots import make_subplots

    runs = as_runs(fronts)
    groups = seed_groups(runs)
    curves: dict[tuple[str, tuple], list[np.ndarray]] = defaultdict(list)  # (label, weights) -> [(T, 1 + K)]
    methods: dict[str, str] = {}
    for run in runs:
        mine = [g for g in groups if g.run == run.name]
        final = {p.id: p for p in run.front.points}
        per_point: dict[str, list] = defaultdict(list)
        for entry in run.front.history:
            values = (entry.model_extra or {}).get("values")
            if entry.training and entry.point_id is not None and values is not None:
                per_point[entry.point_id].append((entry, values))
        for point_id, rows in per_point.items():
            label, method, _ = _history_key(run, rows[0][0], mine)
            methods[label] = method
            steps = [[e.step, *v] for e, v in rows]
            point = final.get(point_id)
            if point is not None:
                steps.append([point.step, *point.values])
            weights = tuple(point.weights or ()) if point is not None else ()
            curves[(label, weights)].append(np.array(sorted(steps)))
    if not curves:
        return None
    objectives = runs[0].front.objectives
    fig = make_subplots(rows=1, cols=len(objectives), horizontal_spacing=0.08,
                        subplot_titles=[objective_title(o.name, o.direction) for o in objectives])  # fmt: skip
    styles = method_styles(list(methods), methods)
    shown: set[str] = set()
    for (label, weights), cs in curves.items():
        color, _ = styles[label]
        name = display_name(label, methods[label])
        common = sorted(set.intersection(*(set(c[:, 0].tolist()) for c in cs)))
        hover = f"{name}, weights {[round(w, 3) for w in weights]}" if weights else name
        for k in range(len(objectives)):
            for c in cs:
                fig.add_trace(go.Scatter(x=c[:, 0], y=c[:, 1 + k], mode="lines", legendgroup=label, name=name,
                                         hovertext=hover, showlegend=len(cs) == 1 and label not in shown,
                                         line=dict(color=rgba(color, 0.35) if len(cs) > 1 else color, width=0.9)),
                              row=1, col=k + 1)  # fmt: skip
            if len(cs) == 1:
                shown.add(label)
            if len(cs) > 1 and common:
                at = [dict(zip(c[:, 0].tolist(), c[:, 1 + k].tolist(), strict=True)) for c in cs]
                mean = [np.mean([a[s] for a in at]) for s in common]
                fig.add_trace(go.Scatter(x=common, y=mean, mode="lines", legendgroup=label, hovertext=hover,
                                         name=f"{name} (mean of {len(cs)} seeds per start)",
                                         showlegend=label not in shown, line=dict(color=color, width=2)),
                              row=1, col=k + 1)  # fmt: skip
                shown.add(label)
    apply_style(fig, width=max(420, 300 * len(objectives)))
    fig.update_xaxes(title_text="training step")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0),
                      margin=dict(t=50, b=110))  # fmt: skip
    return fig
