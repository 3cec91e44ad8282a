"""Explorer logic: run loading with error capture, simplex sliders, utility selection, figures, comparison, export."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pareto_align.explorer.compare import (
    attainment_table,
    dominance_matrix,
    dominated_fraction,
    footing,
    recorded_metrics,
    series_indicators,
)
from pareto_align.explorer.export import figure_html, points_csv, points_json
from pareto_align.explorer.figures import (
    BASELINE_NAME,
    DOMINATED_OPACITY,
    HIGHLIGHT_NAME,
    axis_label,
    figure_kinds,
    front_figure,
    history_figure,
    history_indicators,
    history_series,
    parallel_positions,
    selected_rows,
)
from pareto_align.explorer.runs import (
    LoadedRun,
    compatible_runs,
    load_run,
    load_runs,
    objective_groups,
    run_labels,
)
from pareto_align.explorer.selection import best_point, minmax_scale, utilities
from pareto_align.explorer.simplex import (
    angle_from_weights,
    direction_like,
    project_to_simplex,
    rebalance,
    unit_direction,
    weights_from_angle,
)
from pareto_align.explorer.view import SERIES_SEPARATOR, build_view, restrict
from pareto_align.front.schema import (
    Front,
    HistoryEntry,
    Normalization,
    Objective,
    Point,
    write_front,
)

# ---------------------------------------------------------------------------------------------------------------
# helpers


def _point(pid: str, values, method: str = "m", weights=None, stderr=None) -> Point:
    K = len(values)
    return Point(
        id=pid,
        method=method,
        weights=weights,
        values=list(values),
        stderr=list(stderr) if stderr is not None else [0.01] * K,
        n_samples=10,
    )


def _front(
    values, names=("a", "b"), methods=None, baselines=(), reference_point=None, normalization=None
) -> Front:
    K = len(names)
    methods = methods or ["m"] * len(values)
    return Front(
        objectives=[Objective(name=n) for n in names],
        reference_point=list(reference_point) if reference_point is not None else [0.0] * K,
        normalization=normalization,
        points=[_point(f"p{i}", v, m) for i, (v, m) in enumerate(zip(values, methods, strict=True))],
        baselines=[_point(f"b{i}", v, "base") for i, v in enumerate(baselines)],
    )


def _run(label: str, front: Front) -> LoadedRun:
    return LoadedRun(run_dir=Path("/runs") / label, label=label, front=front)


def _view(values, **kw):
    return build_view([_run("r", _front(values, **kw))])


def _ids(view, rows):
    return [view.rows[i][1].id for i in rows]


# ---------------------------------------------------------------------------------------------------------------
# loading runs: every bad file becomes a message naming the file


@pytest.fixture
def good_run(tmp_path: Path) -> Path:
    run = tmp_path / "good"
    write_front(_front([[1.0, 0.0], [0.0, 1.0]]), run)
    return run


def test_load_good_run(good_run: Path):
    run = load_run(good_run)
    assert run.ok and run.error is None and run.front is not None
    assert run.objective_names == ("a", "b")


def test_load_missing_dir_and_file_is_not_dir(tmp_path: Path):
    run = load_run(tmp_path / "nope")
    assert not run.ok and run.error == f"{tmp_path / 'nope'}: run directory does not exist"
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert "not a directory" in load_run(f).error


def test_load_empty_run_dir(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    run = load_run(tmp_path / "empty")
    assert run.error.startswith(str(tmp_path / "empty" / "front.json"))
    assert "file not found" in run.error and "empty run" in run.error


def test_load_truncated_front(tmp_path: Path, good_run: Path):
    text = (good_run / "front.json").read_text()
    bad = tmp_path / "truncated"
    bad.mkdir()
    (bad / "front.json").write_text(text[: len(text) // 2])
    run = load_run(bad)
    assert run.front is None and run.error.startswith(str(bad / "front.json"))
    assert "truncated" in run.error


def test_load_unknown_version(tmp_path: Path, good_run: Path):
    data = json.loads((good_run / "front.json").read_text())
    data["schema"] = "pareto_align.front/v9"
    bad = tmp_path / "future"
    bad.mkdir()
    (bad / "front.json").write_text(json.dumps(data))
    run = load_run(bad)
    assert run.error.startswith(str(bad / "front.json"))
    assert "unsupported schema version 'v9'" in run.error


def test_load_front_without_points_is_a_notice(tmp_path: Path):
    write_front(_front([]), tmp_path / "nopoints")
    run = load_run(tmp_path / "nopoints")
    assert run.error is None and not run.ok
    assert run.notices and "no evaluated points yet" in run.notices[0]


def test_run_labels_disambiguate_by_parent():
    labels = run_labels([Path("/a/x/run"), Path("/b/x/run"), Path("/c/other")])
    assert labels == ["a/x/run", "b/x/run", "other"]
    assert run_labels([Path("/a/run"), Path("/a/run")]) == ["run", "run (2)"]


def test_load_runs_keeps_going_after_bad_runs(tmp_path: Path, good_run: Path):
    runs = load_runs([tmp_path / "missing", good_run])
    assert [r.ok for r in runs] == [False, True]
    assert [r.label for r in compatible_runs(runs)] == ["good"]


def test_objective_groups_separate_incompatible_runs():
    r1 = _run("r1", _front([[1, 0]], names=("a", "b")))
    r2 = _run("r2", _front([[1, 0, 0]], names=("a", "b", "c")))
    r3 = _run("r3", _front([[0, 1]], names=("a", "b")))
    assert objective_groups([r1, r2, r3]) == {("a", "b"): ["r1", "r3"], ("a", "b", "c"): ["r2"]}
    assert [r.label for r in compatible_runs([r1, r2, r3], ("a", "b", "c"))] == ["r2"]


# ---------------------------------------------------------------------------------------------------------------
# simplex sliders


def test_rebalance_keeps_proportions_of_the_others():
    np.testing.assert_allclose(rebalance([0.5, 0.3, 0.2], 0, 0.8), [0.8, 0.12, 0.08])
    np.testing.assert_allclose(rebalance([0.5, 0.3, 0.2], 2, 0.0), [0.625, 0.375, 0.0])


def test_rebalance_others_zero_share_equally_and_value_is_clipped():
    np.testing.assert_allclose(rebalance([1.0, 0.0, 0.0], 0, 0.4), [0.4, 0.3, 0.3])
    np.testing.assert_allclose(rebalance([0.2, 0.8], 1, 1.7), [0.0, 1.0])
    np.testing.assert_allclose(rebalance([1.0], 0, 0.3), [1.0])
    with pytest.raises(IndexError):
        rebalance([0.5, 0.5], 2, 0.1)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(st.floats(0, 10), min_size=2, max_size=6),
    index=st.integers(0, 5),
    value=st.floats(0, 1),
)
def test_rebalance_stays_on_the_simplex(raw, index, value):
    w = project_to_simplex(raw)
    index = index % len(w)
    out = rebalance(w, index, value)
    assert np.all(out >= 0)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    assert out[index] == pytest.approx(value)


def test_angle_and_weights():
    np.testing.assert_allclose(weights_from_angle(0), [1, 0])
    np.testing.assert_allclose(weights_from_angle(90), [0, 1])
    np.testing.assert_allclose(weights_from_angle(45), [0.5, 0.5])
    c, s = np.cos(np.pi / 3), np.sin(np.pi / 3)
    np.testing.assert_allclose(weights_from_angle(60), [c / (c + s), s / (c + s)])
    for theta in (0.0, 10.0, 33.3, 60.0, 90.0):
        assert angle_from_weights(weights_from_angle(theta)) == pytest.approx(theta)
    with pytest.raises(ValueError, match="angle"):
        weights_from_angle(120)


def test_directions():
    np.testing.assert_allclose(unit_direction([0.5, 0.5]), [2**-0.5, 2**-0.5])
    w = [0.2, 0.8]
    # a run that writes unit directions gets a unit direction, one that writes simplex weights gets weights
    np.testing.assert_allclose(direction_like(w, [[0.6, 0.8]]), unit_direction(w))
    np.testing.assert_allclose(direction_like(w, [[0.3, 0.7]]), w)
    # one-hot examples are both; the DPA convention (unit) is the default
    np.testing.assert_allclose(direction_like(w, [[1.0, 0.0]]), unit_direction(w))
    np.testing.assert_allclose(direction_like(w), unit_direction(w))


# ---------------------------------------------------------------------------------------------------------------
# utility-based selection


def _brute_utilities(F, w, utility, ideal):
    """Independent reference: one Python loop per point."""
    out = []
    for f in np.asarray(F, dtype=float):
        if utility == "linear":
            out.append(sum(wk * fk for wk, fk in zip(w, f, strict=True)))
        else:
            terms = list(zip(w, ideal, f, strict=True))
            out.append(
                -max(wk * max(0.0, zk - fk) for wk, zk, fk in terms)
                + 0.01 * sum(fk - zk for _, zk, fk in terms)
            )
    return np.array(out)


def test_linear_selection_follows_the_weights():
    view = _view([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0], [0.5, 0.5]])
    pick = {
        w: best_point(view, w, "linear", normalize_objectives=False).row
        for w in [(0.5, 0.5), (0.9, 0.1), (0.2, 0.8)]
    }
    assert pick == {(0.5, 0.5): 1, (0.9, 0.1): 0, (0.2, 0.8): 2}


def test_tchebycheff_reaches_a_point_linear_cannot():
    # (0.4, 0.4) lies below the line through (1, 0) and (0, 1): no weights make it linearly best.
    view = _view([[1.0, 0.0], [0.4, 0.4], [0.0, 1.0]])
    for w1 in np.linspace(0, 1, 21):
        assert best_point(view, (w1, 1 - w1), "linear", False).row != 1
    choice = best_point(view, (0.5, 0.5), "tchebycheff", False)
    assert choice.row == 1
    # ideal (1, 1): utilities -max(0.5 (1 - f1), 0.5 (1 - f2)) + 0.01 (f1 - 1 + f2 - 1)
    np.testing.assert_allclose(choice.scores, [-0.51, -0.312, -0.51])


def test_ties_never_pick_a_dominated_point_and_baselines_are_never_picked():
    view = _view([[1.0, 0.0], [1.0, 0.5]], baselines=[[5.0, 5.0]])
    choice = best_point(view, (1.0, 0.0), "linear", False)
    assert choice.row == 1  # ties with p0 on the first objective, but p0 is dominated
    assert _ids(view, choice.candidates) == ["p1"]


def test_normalization_changes_the_choice():
    values = [[100.0, 0.0], [0.0, 1.0], [60.0, 0.7]]
    view = _view(values)
    assert best_point(view, (0.5, 0.5), "linear", normalize_objectives=False).row == 0
    # min-max: (1, 0), (0, 1), (0.6, 0.7) -> 0.5, 0.5, 0.65
    assert best_point(view, (0.5, 0.5), "linear", normalize_objectives=True).row == 2
    # a declared normalization shared by the runs wins over min-max: (1, 0), (0, 0.5), (0.6, 0.35)
    declared = _view(values, normalization=Normalization(method="bounds", lower=[0, 0], upper=[100, 2]))
    assert best_point(declared, (0.5, 0.5), "linear", normalize_objectives=True).row == 0


@settings(max_examples=60, deadline=None)
@given(
    F=st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5)), min_size=1, max_size=12),
    raw_w=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    utility=st.sampled_from(["linear", "tchebycheff"]),
)
def test_selection_matches_brute_force(F, raw_w, utility):
    w = project_to_simplex(raw_w)
    view = _view([list(f) for f in F], names=("a", "b", "c"))
    choice = best_point(view, w, utility, normalize_objectives=False)
    # the choice is non-dominated among all points ...
    chosen = view.F[choice.row]
    assert not any(np.all(g >= chosen) and np.any(g > chosen) for g in view.F)
    # ... and no point at all has a higher utility (both utilities are monotone, so the optimum is on the front);
    # Tchebycheff's ideal point is the best value per objective, the same over all points as over the front.
    u = _brute_utilities(view.F, w, utility, view.F.max(axis=0))
    assert u[choice.row] >= u.max() - 1e-9


def test_scope_limits_the_choice_to_one_series():
    view = build_view(
        [_run("A", _front([[1.0, 0.0], [0.0, 1.0]])), _run("B", _front([[0.9, 0.9], [0.1, 0.1]]))]
    )
    assert view.row_key(best_point(view, (0.5, 0.5), "linear", False).row) == "B/p0"
    assert view.row_key(best_point(view, (0.5, 0.5), "linear", False, series="A").row) in ("A/p0", "A/p1")
    assert best_point(view, (0.5, 0.5), "linear", False, series="nope") is None


def test_minmax_and_utilities():
    np.testing.assert_allclose(minmax_scale(np.array([[0.0, 5.0], [2.0, 5.0]])), [[0, 0], [1, 0]])
    np.testing.assert_allclose(utilities(np.array([[1.0, 2.0]]), [0.25, 0.75], "linear"), [1.75])
    with pytest.raises(ValueError, match="unknown utility"):
        utilities(np.array([[1.0, 2.0]]), [0.5, 0.5], "chebyshev")


# ---------------------------------------------------------------------------------------------------------------
# view: series and per-series dominance


def test_series_and_dominance_within_series():
    front = _front([[1.0, 1.0], [0.5, 0.5], [0.6, 0.6]], methods=["x", "y", "y"], baselines=[[2.0, 2.0]])
    view = build_view([_run("r", front)])
    assert view.series_names == [f"r{SERIES_SEPARATOR}x", f"r{SERIES_SEPARATOR}y"]
    # p2 (0.6, 0.6) is dominated by p0 of the other method but is on its own method's front; p1 is dominated
    assert view.non_dominated.tolist() == [True, False, True, False]
    assert view.is_baseline.tolist() == [False, False, False, True]
    sub = restrict(view, [f"r{SERIES_SEPARATOR}y"])
    assert _ids(sub, range(len(sub))) == ["p1", "p2", "b0"]


def test_view_rejects_runs_with_other_objectives():
    with pytest.raises(ValueError, match="must share objectives"):
        build_view([_run("r1", _front([[1, 0]])), _run("r2", _front([[1, 0]], names=("a", "c")))])


def test_table_has_values_and_stderr_per_objective():
    view = _view([[1.0, 2.0]])
    table = view.table()
    assert table.loc[0, "a"] == 1.0 and table.loc[0, "b stderr"] == 0.01 and table.loc[0, "id"] == "p0"


# ---------------------------------------------------------------------------------------------------------------
# figures


def _trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def test_2d_figure_highlight_faded_dominated_and_hover():
    values = [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [0.3, 0.2]]
    view = _view(values, baselines=[[0.1, 0.1]])
    fig = front_figure(view, highlight=2)
    front, dominated = _trace(fig, "r"), _trace(fig, "r (dominated)")
    assert list(front.customdata) == [1, 2, 0]  # sorted left to right along the first objective
    assert list(dominated.customdata) == [3]
    assert dominated.opacity == DOMINATED_OPACITY and front.opacity == 1.0
    hl = _trace(fig, HIGHLIGHT_NAME)
    assert (hl.x[0], hl.y[0]) == (0.7, 0.7)
    assert list(_trace(fig, BASELINE_NAME).customdata) == [4]
    assert list(front.error_y.array) == [0.01, 0.01, 0.01]
    text = dominated.hovertext[0]
    assert "method: m" in text and "seed: 0" in text and "a: 0.3 ± 0.01" in text and "dominated" in text


def test_3d_and_parallel_figures():
    values = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.2, 0.0, 0.2]]
    view = _view(values, names=("a", "b", "c"))
    fig3 = front_figure(view, highlight=1, kind="3d")
    assert {type(t).__name__ for t in fig3.data} == {"Scatter3d"}
    hl = _trace(fig3, HIGHLIGHT_NAME)
    assert (hl.x[0], hl.y[0], hl.z[0]) == (0.0, 1.0, 0.5)
    figp = front_figure(view, highlight=0, kind="parallel")
    hl = _trace(figp, HIGHLIGHT_NAME)
    expected = parallel_positions(view.F)[0]
    np.testing.assert_allclose([y for y in hl.y if y is not None], expected)
    np.testing.assert_allclose(parallel_positions(view.F)[2], [0.2, 0.0, 0.0])
    assert _trace(figp, "r (dominated)").opacity == DOMINATED_OPACITY
    with pytest.raises(ValueError, match="3-D"):
        front_figure(_view([[1.0, 0.0]]), kind="3d")


def test_2d_projection_axes_and_kinds():
    view = _view([[1.0, 2.0, 3.0]], names=("a", "b", "c"))
    fig = front_figure(view, highlight=0, kind="2d", axes=(2, 0))
    hl = _trace(fig, HIGHLIGHT_NAME)
    assert (hl.x[0], hl.y[0]) == (3.0, 1.0)
    assert fig.layout.xaxis.title.text == "c"
    assert figure_kinds(2) == ["2d"] and figure_kinds(3)[0] == "3d" and figure_kinds(5)[0] == "parallel"
    assert axis_label(Objective(name="length", direction="min")) == "\u2212length"


def test_selected_rows_from_plotly_events():
    points = [{"customdata": 3}, {"customdata": [1]}, {"customdata": 3}, {"x": 1.0}, {"customdata": None}]
    assert selected_rows(points) == [1, 3]


def test_history_indicators_and_series():
    front = _front([[1.0, 0.0]])
    front.history = [
        HistoryEntry(step=20, hypervolume=0.5, expected_utility=0.4, note="x"),
        HistoryEntry(step=10, hypervolume=0.2),
    ]
    run = _run("r", front)
    assert history_indicators([run]) == ["hypervolume", "expected_utility"]
    steps, values = history_series(run, "hypervolume")
    assert steps.tolist() == [10, 20] and values.tolist() == [0.2, 0.5]
    assert history_series(run, "expected_utility")[1].tolist() == [0.4]
    fig = history_figure([run], "hypervolume")
    assert list(fig.data[0].y) == [0.2, 0.5]


# ---------------------------------------------------------------------------------------------------------------
# comparison


def test_dominance_matrix_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    A, B = rng.integers(0, 3, (6, 2)).astype(float), rng.integers(0, 3, (5, 2)).astype(float)
    D = dominance_matrix(A, B)
    for i, j in itertools.product(range(6), range(5)):
        assert D[i, j] == (all(A[i] >= B[j]) and any(A[i] > B[j]))
    assert dominated_fraction(A, B) == pytest.approx(np.mean([any(D[:, j]) for j in range(5)]))
    assert np.isnan(dominated_fraction(A, B[:0]))


def test_attainment_table_and_indicators_side_by_side():
    runs = [
        _run("A", _front([[1.0, 0.5], [0.5, 1.0]])),
        _run("B", _front([[0.9, 0.4], [0.4, 0.4], [1.2, 0.0]])),
    ]
    view = build_view(runs)
    table = attainment_table(view, "A", "B")
    assert table["dominates"].tolist() == [2, 1]
    assert table["dominated ids"].tolist() == ["p0, p1", "p1"]
    assert table["dominated by"].tolist() == [0, 0]
    back = attainment_table(view, "B", "A")
    assert back["dominated by"].tolist() == [1, 2, 0]
    ind = series_indicators(view, ["A", "B"])
    # A: union of [0,1]x[0,0.5] and [0,0.5]x[0,1] = 0.5 + 0.5 - 0.25
    assert ind.loc["hypervolume", "A"] == pytest.approx(0.75)
    # B's front: (0.9, 0.4) and (1.2, 0.0); (1.2, 0.0) is not strictly above the reference point
    assert ind.loc["hypervolume", "B"] == pytest.approx(0.36)
    assert ind.loc["cardinality", "B"] == 2 and ind.loc["n_points", "B"] == 3


def test_footing_warns_when_reference_points_differ():
    view = build_view(
        [_run("A", _front([[1.0, 0.5]])), _run("B", _front([[0.9, 0.4]], reference_point=[-1.0, -1.0]))]
    )
    ref, norm, warnings = footing(view)
    assert ref.tolist() == [0.0, 0.0] and norm is None
    assert len(warnings) == 1 and "'B' declares reference point [-1.0, -1.0]" in warnings[0]


def test_recorded_metrics_per_run():
    from pareto_align.front.indicators import compute_metrics

    front = _front([[1.0, 0.5], [0.5, 1.0]])
    front.metrics = compute_metrics(front)
    table = recorded_metrics([_run("A", front), _run("B", _front([[0.9, 0.4]]))])
    assert table.loc[0, "hypervolume"] == pytest.approx(0.75)
    assert table.loc[1, "hypervolume"] is None or pd.isna(table.loc[1, "hypervolume"])
    assert table["reference_point"].tolist() == ["(0, 0)", "(0, 0)"]


# ---------------------------------------------------------------------------------------------------------------
# export


def test_export_points_round_trip():
    view = _view([[1.0, 0.0], [0.0, 1.0], [0.2, 0.2]])
    table = pd.read_csv(io.BytesIO(points_csv(view, [2, 0])))
    assert table["id"].tolist() == ["p2", "p0"] and table["a"].tolist() == [0.2, 1.0]
    doc = json.loads(points_json(view, [1], {"weights": [0.5, 0.5], "utility": "linear"}, highlighted=1))
    assert doc["highlighted"] == "r/p1" and doc["preference"]["utility"] == "linear"
    assert Point.model_validate(doc["points"][0]["point"]) == view.rows[1][1]
    assert len(json.loads(points_json(view))["points"]) == 3


def test_export_figure_html_is_self_contained():
    html = figure_html(front_figure(_view([[1.0, 0.0]]), highlight=0)).decode()
    assert "<html>" in html and "plotly" in html.lower() and HIGHLIGHT_NAME in html
    assert '<script src="https://cdn.plot.ly' not in html  # plotly.js is embedded, so the file opens offline
