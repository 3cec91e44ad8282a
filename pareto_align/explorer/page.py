"""The explorer page: thin Streamlit code over the tested functions of ``pareto_align.explorer``.

Run directories come from the script's arguments (``streamlit run streamlit_app.py -- RUN_DIR...``). Every
section runs inside :func:`_section`, so that a failure in one (a bad checkpoint, a figure that cannot be drawn)
is a message in the page while the rest keeps working.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from pareto_align.explorer.compare import (
    attainment_table,
    dominated_fraction,
    footing,
    recorded_metrics,
    series_F,
    series_indicators,
)
from pareto_align.explorer.export import figure_html, figure_png, points_csv, points_json
from pareto_align.explorer.figures import (
    figure_kinds,
    front_figure,
    history_figure,
    history_indicators,
    selected_rows,
    trained_points,
    training_figure,
)
from pareto_align.explorer.live import (
    LiveGenerationError,
    PolicyKey,
    default_device,
    describe_handle,
    generate_responses,
    live_sources,
    load_live_policy,
    missing_checkpoints,
    policy_cache_key,
)
from pareto_align.explorer.runs import (
    LoadedRun,
    any_judged,
    compatible_runs,
    load_runs,
    objective_groups,
    scored_by,
)
from pareto_align.explorer.selection import UTILITIES, Choice, best_point
from pareto_align.explorer.simplex import (
    angle_from_weights,
    project_to_simplex,
    rebalance,
    uniform_weights,
    weights_from_angle,
)
from pareto_align.explorer.view import FrontView, build_view, linear_connectivity, restrict
from pareto_align.front.schema import SCORINGS

HIGHLIGHT_KEY = "explorer.highlighted"
ALL_SERIES = "all shown"
# Models kept in memory between interactions (a soup re-mixed at new weights is a new model).
POLICY_CACHE_ENTRIES = 4


def parse_run_dirs(argv: Sequence[str]) -> list[Path]:
    """Run directories from the script arguments (a leading ``--`` is dropped)."""
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    return [Path(a) for a in args if a.strip()]


@contextmanager
def _section(name: str) -> Iterator[None]:
    # The one place that turns any failure into a message: a page must not show a traceback, and one broken
    # section (a checkpoint, a figure) must not take the others down.
    try:
        yield
    except Exception as e:  # noqa: BLE001
        st.error(f"{name}: {type(e).__name__}: {e}")


# --------------------------------------------------------------------------------------------------------------
# preference sliders (state kept on the simplex by callbacks)


def _weight_key(name: str) -> str:
    return f"pref.w.{name}"


def _set_preference(w: np.ndarray, names: Sequence[str]) -> None:
    st.session_state["pref.w"] = [float(x) for x in w]
    for name, x in zip(names, w, strict=True):
        st.session_state[_weight_key(name)] = float(x)
    if len(names) == 2:
        st.session_state["pref.angle"] = float(angle_from_weights(w))


def _on_weight(k: int, names: tuple[str, ...]) -> None:
    w = rebalance(st.session_state["pref.w"], k, st.session_state[_weight_key(names[k])])
    _set_preference(w, names)


def _on_angle(names: tuple[str, ...]) -> None:
    _set_preference(weights_from_angle(st.session_state["pref.angle"]), names)


def preference_sliders(names: tuple[str, ...]) -> np.ndarray:
    """One slider per objective that stays on the simplex (or an angle for two). Returns weights (K,)."""
    if st.session_state.get("pref.names") != names:
        st.session_state["pref.names"] = names
        _set_preference(uniform_weights(len(names)), names)
    if len(names) == 1:
        st.caption(f"One objective ({names[0]}): the best point is its maximum.")
        return np.ones(1)
    mode = "weights"
    if len(names) == 2:
        mode = st.radio("Preference as", ["weights", "angle"], horizontal=True, key="pref.mode")
    if mode == "angle":
        st.slider(
            f"angle (0° = all {names[0]}, 90° = all {names[1]})",
            0.0,
            90.0,
            step=1.0,
            key="pref.angle",
            on_change=_on_angle,
            args=(names,),
        )
    else:
        for k, name in enumerate(names):
            st.slider(
                name,
                0.0,
                1.0,
                step=0.01,
                format="%.2f",
                key=_weight_key(name),
                on_change=_on_weight,
                args=(k, names),
            )
    w = project_to_simplex(st.session_state["pref.w"])
    st.caption("weights: (" + ", ".join(f"{x:.2f}" for x in w) + ")")
    return w


# --------------------------------------------------------------------------------------------------------------
# sections


def show_run_messages(runs: Sequence[LoadedRun]) -> None:
    for run in runs:
        if run.error:
            st.error(f"Run {run.label!r}: {run.error}")
        for notice in run.notices:
            st.warning(f"Run {run.label!r}: {notice}")


def highlighted_panel(view: FrontView, choice: Choice | None, utility: str) -> None:
    if choice is None:
        st.info("No evaluated points to choose from (baselines only).")
        return
    i = choice.row
    run, p = view.rows[i]
    st.markdown(
        f"**Best for your preference** ({utility} utility): `{view.row_key(i)}` · method `{p.method}`"
    )
    values = {
        name: f"{view.F[i, k]:.4g} ± {view.stderr[i, k]:.2g}" for k, name in enumerate(view.objective_names)
    }
    info = {
        "weights": None if p.weights is None else ", ".join(f"{x:.3f}" for x in p.weights),
        "seed": p.seed,
        "step": p.step,
        "policy": describe_handle(p.policy) if p.policy else "none recorded",
    }
    st.dataframe(pd.DataFrame([{**values, **info}]), hide_index=True)
    connectivity = linear_connectivity(p, view.objective_names)
    if connectivity is not None:
        st.markdown(
            "**Linear mode connectivity**: this mix against the straight line between its specialists"
        )
        st.dataframe(pd.DataFrame(connectivity), hide_index=True)
    st.markdown("**Sample responses from the run for this point**")
    if not p.samples:
        st.info(f"Point {p.id!r} stored no sample responses.")
    else:
        records = [
            {
                "prompt": s.prompt,
                "response": s.response,
                **dict(zip(view.objective_names, s.values, strict=True)),
            }
            for s in p.samples
        ]
        st.dataframe(pd.DataFrame(records), hide_index=True)


def front_tab(view: FrontView, choice: Choice | None, w: np.ndarray, utility: str) -> None:
    highlight = choice.row if choice is not None else None
    kinds = figure_kinds(view.K)
    kind = kinds[0]
    axes = None
    if len(kinds) > 1:
        kind = st.radio("Figure", kinds, horizontal=True, key="fig.kind")
    if kind == "2d" and view.K > 2:
        c1, c2 = st.columns(2)
        names = view.objective_names
        a = c1.selectbox("x axis", names, index=0, key="fig.x")
        b = c2.selectbox("y axis", names, index=1, key="fig.y")
        axes = (names.index(a), names.index(b))
    fig = None
    with _section("Front figure"):
        fig = front_figure(view, highlight=highlight, kind=kind, axes=axes)
        event = st.plotly_chart(
            fig,
            key=f"front_chart.{kind}",
            on_select="ignore" if kind == "3d" else "rerun",
            selection_mode=("points", "box", "lasso"),
        )
        picked = selected_rows(_event_points(event))
        st.session_state["explorer.selected"] = [view.row_key(r) for r in picked]
    with _section("Highlighted policy"):
        highlighted_panel(view, choice, utility)
    with _section("Indicators"):
        st.markdown("**Indicators per run** (as recorded in each front file)")
        st.dataframe(recorded_metrics(view.runs), hide_index=True)
    with st.expander("All shown points"):
        st.dataframe(view.table(), hide_index=True)
    lineage = view.lineage()
    if len(lineage):
        with st.expander("C-MORL lineage (which policy each extension extends, towards which objective)"):
            st.dataframe(lineage, hide_index=True)
    if fig is not None:
        with _section("Export"):
            export_panel(view, fig, highlight, w, utility)


def _event_points(event: Any) -> list[dict[str, Any]]:
    try:
        return list(event["selection"]["points"])
    except (KeyError, TypeError, AttributeError):
        return []


def export_panel(view: FrontView, fig: Any, highlight: int | None, w: np.ndarray, utility: str) -> None:
    st.markdown("**Export the current view**")
    keys = st.session_state.get("explorer.selected", [])
    rows = [r for r in (view.index_of(k) for k in keys) if r is not None]
    what = f"{len(rows)} points selected in the figure"
    if not rows:
        rows = [highlight] if highlight is not None else []
        what = "no selection in the figure: the highlighted point"
    st.caption(f"Selected points: {what} (select with box or lasso in the figure).")
    preference = {"weights": [float(x) for x in w], "utility": utility}
    c = st.columns(5)
    c[0].download_button("figure (HTML)", lambda: figure_html(fig), "pareto_front.html", "text/html")
    c[1].download_button(
        "selected (CSV)", points_csv(view, rows), "selected_points.csv", "text/csv", key="dl.sel.csv"
    )
    c[2].download_button(
        "selected (JSON)",
        points_json(view, rows, preference, highlight),
        "selected_points.json",
        "application/json",
        key="dl.sel.json",
    )
    c[3].download_button(
        "all shown (CSV)", points_csv(view), "front_points.csv", "text/csv", key="dl.all.csv"
    )
    if c[4].button("render PNG", key="png.render"):
        with st.spinner("Rendering PNG..."):
            try:
                st.session_state["png.bytes"] = figure_png(fig)
            except Exception as e:  # noqa: BLE001 - kaleido fails in many ways when no browser is available
                st.session_state.pop("png.bytes", None)
                st.error(f"PNG export needs kaleido and a Chrome/Chromium: {type(e).__name__}: {e}")
    if "png.bytes" in st.session_state:
        c[4].download_button("figure (PNG)", st.session_state["png.bytes"], "pareto_front.png", "image/png")


# a key is hashed by what makes it equal to another (PolicyKey.identity), not by the pydantic model inside it
@st.cache_resource(
    max_entries=POLICY_CACHE_ENTRIES, show_spinner=False, hash_funcs={PolicyKey: lambda key: key.identity}
)
def _cached_policy(key: PolicyKey) -> Any:
    return load_live_policy(key, default_device())


def generate_tab(view: FrontView, choice: Choice | None, w: np.ndarray) -> None:
    if choice is None:
        st.info("No evaluated point to generate from.")
        return
    run, point = view.rows[choice.row]
    assert run.front is not None
    sources, reasons = live_sources(run.front.points, point, run.run_dir, w)
    st.markdown(f"Generating around `{view.row_key(choice.row)}` (the highlighted point).")
    for reason in reasons:
        st.caption(reason)
    if not sources:
        st.warning("No policy to generate from for this point.")
        return
    labels = [s.label for s in sources]
    label = st.radio("Policy", labels, key="gen.source")
    source = sources[labels.index(label)] if label in labels else sources[0]
    st.caption(describe_handle(source.handle) + (f" ({source.note})" if source.note else ""))
    missing = missing_checkpoints(source.run_dir, source.handle)
    if missing:
        st.error(
            f"{source.run_dir}: checkpoint {', '.join(missing)} is gone; cannot generate from this policy."
        )
        return
    prompt = st.text_input("Prompt", key="gen.prompt")
    c = st.columns(4)
    n = int(c[0].number_input("responses", 1, 16, 3, key="gen.n"))
    max_new = int(c[1].number_input("max new tokens", 1, 512, 32, key="gen.max_new"))
    temperature = float(c[2].number_input("temperature", 0.05, 5.0, 1.0, step=0.05, key="gen.temp"))
    seed = int(c[3].number_input("seed", 0, 2**31 - 1, 0, key="gen.seed"))
    if st.button("Generate", key="gen.go"):
        from pareto_align.models.generation import GenerationSettings

        key = policy_cache_key(source.run_dir, source.handle)
        with st.spinner(f"Loading {describe_handle(source.handle)} and generating..."):
            try:
                # soups re-mix in memory (the specialists are held once), so they skip the per-key cache
                soup = source.handle.kind == "soup"
                policy = load_live_policy(key, default_device()) if soup else _cached_policy(key)
                settings = GenerationSettings(max_new_tokens=max_new, temperature=temperature)
                start = time.perf_counter()
                responses = generate_responses(policy, prompt, n, settings, seed)
                st.session_state["gen.result"] = {
                    "source": describe_handle(source.handle),
                    "prompt": prompt,
                    "responses": responses,
                    "ms_per_response": 1000 * (time.perf_counter() - start) / n,
                }
            except LiveGenerationError as e:
                st.session_state.pop("gen.result", None)
                st.error(str(e))
    result = st.session_state.get("gen.result")
    if result:
        st.markdown(f"**{result['source']}** · prompt: {result['prompt']!r} · "
                    f"{result.get('ms_per_response', 0):.0f} ms per response")  # fmt: skip
        st.dataframe(pd.DataFrame({"response": result["responses"]}), hide_index=True)


def compare_tab(view: FrontView) -> None:
    names = view.series_names
    if len(names) < 2:
        st.info("Give two runs (or a run with two methods) to compare their fronts.")
        return
    c1, c2 = st.columns(2)
    a = c1.selectbox("A", names, index=0, key="cmp.a")
    b = c2.selectbox("B", names, index=1, key="cmp.b")
    if a == b:
        st.info("Pick two different series.")
        return
    sub = restrict(view, [a, b])
    _, _, warnings = footing(view)
    for warning in warnings:
        st.warning(warning)
    with _section("Overlay"):
        st.plotly_chart(front_figure(sub), key="cmp.chart")
    with _section("Indicators"):
        ref = view.runs[0].front.reference_point if view.runs[0].front else []
        st.markdown(f"**Indicators side by side** (reference point {ref}, from run {view.runs[0].label!r})")
        st.dataframe(series_indicators(view, [a, b]))
    with _section("Attainment"):
        Fa, Fb = series_F(view, a), series_F(view, b)
        m1, m2 = st.columns(2)
        m1.metric("share of B dominated by A", f"{dominated_fraction(Fa, Fb):.0%}")
        m2.metric("share of A dominated by B", f"{dominated_fraction(Fb, Fa):.0%}")
        st.markdown(f"**Points of A ({a}) and the points of B ({b}) each dominates**")
        st.dataframe(attainment_table(view, a, b), hide_index=True)
        st.markdown(f"**Points of B ({b}) and the points of A ({a}) each dominates**")
        st.dataframe(attainment_table(view, b, a), hide_index=True)


def history_tab(view: FrontView) -> None:
    indicators = history_indicators(view.runs)
    if not indicators:
        st.info("The shown runs recorded no indicator history.")
        return
    indicator = st.selectbox("Indicator", indicators, key="hist.indicator")
    st.plotly_chart(history_figure(view.runs, indicator), key="hist.chart")
    trained = trained_points(view.runs)
    if trained:
        st.markdown(
            "**One point while it trained** (online methods; the weights in use move under dynamic weighting)"
        )
        labels = [f"{run.label}: {point_id}" for run, point_id in trained]
        choice = st.selectbox("Point", range(len(trained)), format_func=labels.__getitem__, key="hist.point")
        st.plotly_chart(training_figure(*trained[choice]), key="hist.training")
    with st.expander("History entries"):
        records = [
            {"run": r.label, **e.model_dump(mode="json")}
            for r in view.runs
            if r.front
            for e in r.front.history
        ]
        st.dataframe(pd.DataFrame.from_records(records), hide_index=True)


# --------------------------------------------------------------------------------------------------------------


def main(run_dirs: Sequence[Path] | None = None) -> None:
    """Render the explorer for ``run_dirs`` (default: the script arguments)."""
    st.set_page_config(page_title="Pareto explorer", layout="wide")
    st.title("Pareto explorer")
    run_dirs = list(run_dirs) if run_dirs is not None else parse_run_dirs(sys.argv[1:])
    if not run_dirs:
        st.error(
            "No run directories given. Start the explorer with `pareto-align explore RUN_DIR [RUN_DIR ...]`."
        )
        return
    runs = load_runs(run_dirs)
    show_run_messages(runs)
    if any_judged(runs):  # the front as its evaluation scorer scores it, or as the held-out judges do
        scoring = st.sidebar.radio("Scored by", SCORINGS, horizontal=True, key="runs.scoring",
                                   help="evaluation.judges: the same responses scored by other scorers than the "
                                   "front trained on; runs without judges are hidden under 'judges'.")  # fmt: skip
        runs = scored_by(runs, scoring)
    groups = objective_groups(runs)
    if not groups:
        st.info("Nothing to show yet: none of the given runs has an evaluated point.")
        return
    with st.sidebar:
        st.header("Runs")
        options = list(groups)
        objectives = options[0]
        if len(options) > 1:
            objectives = st.selectbox(
                "Objectives (runs with other objectives cannot be overlaid)",
                options,
                format_func=lambda o: ", ".join(o),
                key="runs.objectives",
            )
        candidates = compatible_runs(runs, objectives)
        labels = [r.label for r in candidates]
        chosen = st.multiselect(
            "Shown runs", labels, default=labels, key=f"runs.shown.{'|'.join(objectives)}"
        )
        shown = [r for r in candidates if r.label in chosen]
        st.header("Preference")
        w = preference_sliders(tuple(objectives))
        utility = st.radio("Utility", UTILITIES, horizontal=True, key="pref.utility")
        normalize = st.checkbox(
            "scale objectives to [0, 1] before scoring",
            value=True,
            key="pref.normalize",
            help="With the runs' declared normalization when they share one, else min-max over the candidates.",
        )
    if not shown:
        st.info("Select at least one run in the sidebar.")
        return
    view = build_view(shown)
    with st.sidebar:
        scope = st.selectbox(
            "Choose the best point among", [ALL_SERIES, *view.series_names], key="pref.scope"
        )
    choice = best_point(view, w, utility, normalize, None if scope == ALL_SERIES else scope)
    st.session_state[HIGHLIGHT_KEY] = view.row_key(choice.row) if choice is not None else None
    front, generate, compare, history = st.tabs(["Front", "Generate", "Compare", "History"])
    with front:
        front_tab(view, choice, w, utility)
    with generate, _section("Live generation"):
        generate_tab(view, choice, w)
    with compare, _section("Comparison"):
        compare_tab(view)
    with history, _section("History"):
        history_tab(view)
