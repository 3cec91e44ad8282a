"""The comparison report: indicators against the reference set, pairwise statistics, ratios to the morlhf grid,
anytime curves, the true-front bound, the Markdown summary, comparison folders, and one style for the explorer
and the exporter. Hand-made fronts only (no training)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from pareto_align import cli
from pareto_align.explorer.figures import front_figure as explorer_front_figure
from pareto_align.explorer.figures import history_figure
from pareto_align.explorer.runs import LoadedRun
from pareto_align.explorer.view import build_view
from pareto_align.export import export_runs
from pareto_align.export.anytime import AnytimeCurve, ReachCost, anytime_curves, reach_costs, step_mean
from pareto_align.export.figures import attainment_figure, front_figure, projection_matrix_figure
from pareto_align.export.markdown import _reaching_seeds
from pareto_align.export.pairwise import (
    difference_interval,
    improvement_interval,
    linear_ratios,
    pairwise_comparisons,
    probability_of_improvement,
    ratio_interval,
)
from pareto_align.export.runs import COMPARISON_RECORD, ExportError, as_runs, expand_run_dirs, seed_groups
from pareto_align.export.statistics import reference_set, seed_indicators, summarize
from pareto_align.export.style import KNOWN_METHOD_COLORS, PALETTE, method_key, method_styles
from pareto_align.export.truth import gold_ideal_point, true_front_bound
from pareto_align.front import write_front
from pareto_align.front.indicators import default_eu_weights, hypervolume, igd, maximum_utility_loss
from pareto_align.front.schema import Compute, Front, HistoryEntry, Objective, Point, RunCompute


def pt(pid, values, method="modpo", seed=0, updates=0, tokens=0, shared=()) -> Point:
    return Point(id=pid, method=method, seed=seed, values=list(values), stderr=[0.0] * len(values), n_samples=1,
                 compute=Compute(policy_updates=updates, trained_tokens=tokens, shared=list(shared)))  # fmt: skip


def front(points, ref=(0.0, 0.0), names=("a", "b"), **kw) -> Front:
    return Front(
        objectives=[Objective(name=n) for n in names], reference_point=list(ref), points=list(points), **kw
    )


# --- indicators against a reference set ------------------------------------------------------------------------


def test_igd_and_maximum_utility_loss_hand_computed():
    F = np.array([[1.0, 3.0], [3.0, 1.0]])
    R = np.array([[1.0, 3.0], [2.0, 2.5], [3.0, 1.0]])
    # IGD: mean over R of the distance to the nearest point of F: 0, |(2,2.5)-(1,3)| = sqrt(1.25), 0.
    assert igd(F, R) == pytest.approx(np.sqrt(1.25) / 3)
    # MUL over w in {(.5,.5), (1,0), (0,1)}: R's best 2.25, 3, 3; F's best 2, 3, 3 -> max loss 0.25.
    W = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    assert maximum_utility_loss(F, R, W) == pytest.approx(0.25)
    assert maximum_utility_loss(R, R, W) == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        maximum_utility_loss(F[:0], R, W)


def test_seed_indicators_against_the_union_of_every_method():
    # modpo {(1,3),(3,1)}; dpa {(2,2.5)} and a dominated (1,1). Reference set = all three non-dominated points.
    f = front(
        [pt("a", (1, 3)), pt("b", (3, 1)), pt("c", (2, 2.5), method="dpa"), pt("d", (1, 1), method="dpa")]
    )
    groups = seed_groups(as_runs(f))
    R = reference_set(groups)
    np.testing.assert_allclose(R, [[1, 3], [2, 2.5], [3, 1]])
    W = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    rows = {g.label: seed_indicators(g, f.reference_point, None, W, R) for g in groups}
    # HV wrt (0,0): modpo 1*3 + 2*1 = 5; reference set 1*3 + 1*2.5 + 1*1 = 6.5; dpa 2*2.5 = 5.
    assert rows["modpo"].hypervolume_relative == pytest.approx(5 / 6.5)
    assert rows["dpa"].hypervolume_relative == pytest.approx(5 / 6.5)
    assert rows["modpo"].igd == pytest.approx(np.sqrt(1.25) / 3)
    # dpa: distances of R to (2,2.5): sqrt(1 + .25), 0, sqrt(1 + 2.25)
    assert rows["dpa"].igd == pytest.approx((np.sqrt(1.25) + np.sqrt(3.25)) / 3)
    assert rows["modpo"].maximum_utility_loss == pytest.approx(0.25)
    assert rows["dpa"].maximum_utility_loss == pytest.approx(1.0)  # w=(1,0): 3 vs 2 (w=(0,1): 3 vs 2.5)


# --- pairwise statistics ----------------------------------------------------------------------------------------


def test_probability_of_improvement_hand_computed_and_against_mann_whitney():
    x, y = [1.0, 2.0, 3.0], [2.0, 2.0, 0.0]
    # x>y pairs: 1>0; 2=2 twice (1/2 each), 2>0; 3 beats all three: 1 + 2 + 3 = 6 of 9
    assert probability_of_improvement(x, y) == pytest.approx(6 / 9)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 5).astype(float), rng.integers(0, 4, 4).astype(float)
    u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    assert probability_of_improvement(a, b) == pytest.approx(u / (len(a) * len(b)))


def test_two_sample_intervals():
    x, y = [1.0, 2.0, 3.0], [2.0, 2.0, 0.0]
    d = difference_interval(x, y)
    assert d.mean == pytest.approx(2.0 - 4 / 3)
    assert -1.0 <= d.low <= d.mean <= d.high <= 3.0  # bounded by the most extreme resamples (1-2, 3-0)
    p = improvement_interval(x, y)
    assert p.mean == pytest.approx(6 / 9) and 0.0 <= p.low <= p.mean <= p.high <= 1.0
    assert improvement_interval([5.0, 6.0], [1.0, 2.0]).low == 1.0  # every resample separates them
    r = ratio_interval([2.0, 4.0], [1.0, 2.0])
    assert r.mean == pytest.approx(2.0) and 1.0 <= r.low <= r.high <= 4.0
    single = difference_interval([1.0], [0.0, 2.0])
    assert single.mean == 0.0 and not single.has_interval


def test_improvement_interval_counts_a_tie_as_half_a_win_in_every_resample():
    # Soups and MOD share their specialists, so their extreme points (and with them whole seeds) coincide.
    tied = improvement_interval([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert (tied.mean, tied.low, tied.high) == (0.5, 0.5, 0.5)  # every resample is all ties: exactly 1/2
    # x = (1, 2) against y = (1, 1): a resample of x is {1,1} (P = 1/2) with probability 1/4, {1,2} (P = 3/4)
    # with 1/2, {2,2} (P = 1) with 1/4, so the 2.5% and 97.5% quantiles are 1/2 and 1. Ties as wins give [1, 1].
    half = improvement_interval([1.0, 2.0], [1.0, 1.0])
    assert (half.mean, half.low, half.high) == (0.75, 0.5, 1.0)
    # "lower is better" is read by negating both sides: ties stay ties, and P(x better) = 1 - P(y better)
    flipped = improvement_interval([-1.0, -2.0], [-1.0, -1.0])
    assert (flipped.mean, flipped.low, flipped.high) == (0.25, 0.0, 0.5)


def test_improvement_interval_against_an_independent_loop_over_the_same_resamples():
    from pareto_align.export.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_RESAMPLES

    x, y = [0.3, 0.5, 0.5, 0.7], [0.5, 0.5, 0.2]  # three values shared: ties in most resamples
    rng = np.random.default_rng(BOOTSTRAP_SEED)  # the draws the interval makes: x's indices, then y's
    ix = rng.integers(0, len(x), size=(N_RESAMPLES, len(x)))
    iy = rng.integers(0, len(y), size=(N_RESAMPLES, len(y)))
    xa, ya = np.array(x), np.array(y)
    per_resample = [probability_of_improvement(xa[i], ya[j]) for i, j in zip(ix, iy, strict=True)]
    low, high = np.quantile(per_resample, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    p = improvement_interval(x, y)
    # x>y: 0.3>0.2, 0.5>0.2 twice, 0.7 beats all 3; 0.5=0.5 four times, one half each: (1 + 2 + 3 + 2) / 12
    assert p.mean == pytest.approx(8 / 12)
    assert (p.low, p.high) == pytest.approx((low, high))
    assert p.low < 0.5 < p.high


def _pairwise_of_twins(seed_shift: float) -> list:
    """Two methods with the very same points on every seed (a soup and MOD at their shared ends); the points move
    by ``seed_shift`` per seed."""
    pts = []
    for s in range(3):
        for method in ("soups", "mod"):
            ends = [(1.0 + seed_shift * s, 2.0), (2.0, 1.0 + seed_shift * s)]
            pts += [pt(f"{method}{s}{i}", v, method, s) for i, v in enumerate(ends)]
    f = front(pts)
    W, _ = default_eu_weights(2)
    groups = seed_groups(as_runs(f))
    R = reference_set(groups)
    summaries = summarize([seed_indicators(g, f.reference_point, None, W, R) for g in groups])
    comps = pairwise_comparisons(summaries)
    assert {c.metric for c in comps} == {"hypervolume", "expected_utility", "igd", "maximum_utility_loss"}
    return comps


def test_methods_with_identical_seeds_are_never_called_different():
    # higher and lower is better alike: every seed ties every seed, so P is 1/2 in every resample
    for c in _pairwise_of_twins(seed_shift=0.0):
        p = c.probability_of_improvement
        assert (p.mean, p.low, p.high) == (0.5, 0.5, 0.5), c.metric
        assert not c.decided
    for c in _pairwise_of_twins(seed_shift=0.5):  # seed i ties seed i; the other pairs split evenly
        p = c.probability_of_improvement
        assert p.mean == 0.5 and p.low < 0.5 < p.high and not c.decided, c.metric


def _two_methods(n_seeds=3):
    """modpo: HV 4 + seed at (0,0) reference; morlhf (linear grid): HV 2; modpo twice the policy updates."""
    pts = []
    for s in range(n_seeds):
        v = np.sqrt(4.0 + s)
        pts.append(pt(f"m{s}", (v, v), "modpo", s, updates=200, tokens=1000))
        pts.append(pt(f"l{s}", (1.0, 2.0), "morlhf", s, updates=100, tokens=1000))
    return front(pts)


def test_pairwise_and_ratios_to_the_linear_grid():
    f = _two_methods()
    W, _ = default_eu_weights(2)
    groups = seed_groups(as_runs(f))
    R = reference_set(groups)
    summaries = summarize([seed_indicators(g, f.reference_point, None, W, R) for g in groups])
    comps = {(c.a, c.metric): c for c in pairwise_comparisons(summaries)}
    hv = comps[("modpo", "hypervolume")]
    assert hv.difference.mean == pytest.approx(5.0 - 2.0)
    assert hv.probability_of_improvement.mean == 1.0 and hv.decided
    igd_c = comps[("modpo", "igd")]  # lower is better: P(modpo better) reads the flipped comparison
    assert igd_c.probability_of_improvement.mean == 1.0
    ratios = {r.label: r for r in linear_ratios(summaries)}
    assert ratios["morlhf"].hypervolume.mean == pytest.approx(1.0)
    assert ratios["modpo"].hypervolume.mean == pytest.approx(5.0 / 2.0)
    assert ratios["modpo"].policy_updates.mean == pytest.approx(2.0)
    assert ratios["modpo"].total_tokens.mean == pytest.approx(1.0)
    assert linear_ratios([s for s in summaries if s.label == "modpo"]) == []


def test_pairs_in_order_a_metric_one_side_lacks_and_ratios_to_a_grid_without_compute():
    """Edges of the pairwise statistics (what mutation testing found unchecked)."""
    import itertools

    from pareto_align.export.bootstrap import CONFIDENCE, Interval

    with pytest.raises(ValueError) as err:
        difference_interval([], [1.0])
    assert str(err.value) == "a two-sample statistic needs at least one value on each side"
    assert difference_interval([1.0], [0.0, 2.0]) == Interval(0.0, None, None, n=1, confidence=CONFIDENCE)
    assert difference_interval([1.0], [0.0, 2.0], confidence=0.8).confidence == 0.8
    d = difference_interval([1.0, 2.0, 3.0], [1.0, 2.0])
    assert (d.mean, d.n, d.confidence) == (0.5, 2, CONFIDENCE)
    # a quarter of the resamples of y = (0, 1) are (0, 0), of mean 0: no ratio there, so no interval
    assert ratio_interval([1.0, 2.0], [0.0, 1.0]) == Interval(3.0, None, None, n=2, confidence=CONFIDENCE)
    assert ratio_interval([1.0, 2.0], [0.0, 1.0], confidence=0.8).confidence == 0.8
    with np.errstate(over="ignore"):  # a quarter of the ratios overflow to inf: the upper end is not finite
        assert not ratio_interval([1e300, 1e300], [1e-10, 1.0]).has_interval

    def summaries(morlhf_updates):
        """Three methods, two seeds; the reference set's indicators (IGD, MUL) for modpo only."""
        pts = []
        for s in range(2):
            pts += [pt(f"m{s}", (2.0 + s, 2.0), "modpo", s, updates=200, tokens=1000),
                    pt(f"l{s}", (1.0, 2.0), "morlhf", s, updates=morlhf_updates[s], tokens=500),
                    pt(f"d{s}", (2.0, 1.0 + s), "dpa", s, updates=100, tokens=0)]  # fmt: skip
        f = front(pts)
        groups = seed_groups(as_runs(f))
        R = reference_set(groups)
        W, _ = default_eu_weights(2)
        return summarize([seed_indicators(g, f.reference_point, None, W, R if g.label == "modpo" else None)
                          for g in groups])  # fmt: skip

    three = summaries([0, 0])
    labels = [s.label for s in three]
    assert sorted(labels) == ["dpa", "modpo", "morlhf"]
    # every unordered pair once, in the summaries' order; IGD and MUL skipped (NaN on one side of every pair)
    assert [(c.a, c.b, c.metric) for c in pairwise_comparisons(three)] == [
        (a, b, m) for a, b in itertools.combinations(labels, 2) for m in ("hypervolume", "expected_utility")
    ]
    pairs = itertools.combinations(labels, 2)  # a metric skipped is no reason to skip the next
    assert [(c.a, c.b) for c in pairwise_comparisons(three, ("igd", "hypervolume"))] == list(pairs)
    ratios = {r.label: r for r in linear_ratios(three)}
    # HV modpo 4 and 6, morlhf 2 and 2: 5 / 2; the grid made no policy update: no ratio of updates to it
    assert ratios["modpo"].hypervolume.mean == pytest.approx(2.5)
    assert ratios["modpo"].policy_updates is None and ratios["dpa"].policy_updates is None
    assert ratios["modpo"].total_tokens.mean == pytest.approx(2.0) and ratios["dpa"].total_tokens.mean == 0.0
    # half an update per seed on average is still a grid that made updates
    assert (
        next(r for r in linear_ratios(summaries([0, 1])) if r.label == "modpo").policy_updates.mean == 400.0
    )
    # one seed each: the ratios have no interval
    W, _ = default_eu_weights(2)
    one = summarize([seed_indicators(g, (0.0, 0.0), None, W) for g in seed_groups(as_runs(_two_methods(1)))])
    modpo = next(r for r in linear_ratios(one) if r.label == "modpo")
    assert modpo.hypervolume == Interval(2.0, None, None, n=1, confidence=CONFIDENCE)  # HV 4 against 2


def test_intervals_against_an_independent_bootstrap_at_other_seeds_and_levels():
    x, y = [0.1, 0.5, 0.9, 1.3, 2.0], [0.2, 0.4, 0.7, 1.1]  # spread values: quantiles move with the draws
    statistics = {difference_interval: lambda a, b: a.mean() - b.mean(),
                  improvement_interval: probability_of_improvement,
                  ratio_interval: lambda a, b: a.mean() / b.mean()}  # fmt: skip
    for interval, statistic in statistics.items():
        for seed, level in ((1, 0.9), (2, 0.8)):
            rng = np.random.default_rng(seed)  # x's indices, then y's
            ix, iy = rng.integers(0, 5, size=(50, 5)), rng.integers(0, 4, size=(50, 4))
            per_resample = [statistic(np.array(x)[i], np.array(y)[j]) for i, j in zip(ix, iy, strict=True)]
            low, high = np.quantile(per_resample, [(1 - level) / 2, (1 + level) / 2])
            got = interval(x, y, confidence=level, n_resamples=50, seed=seed)
            assert (got.low, got.high, got.n, got.confidence) == (
                pytest.approx(low),
                pytest.approx(high),
                4,
                level,
            )


# --- anytime curves ---------------------------------------------------------------------------------------------


def test_anytime_curve_counts_shared_work_once_and_averages_step_functions():
    points = [
        pt("a", (1, 1), seed=0, updates=10, shared=["spec"]),
        pt("b", (2, 0.5), seed=0, updates=10, shared=["spec"]),
        pt("c", (1, 2), seed=1, updates=25),
    ]
    f = front(points, compute=RunCompute(shared={"spec": Compute(policy_updates=100)}))
    runs = as_runs(f)
    c0, c1 = anytime_curves(runs, seed_groups(runs))
    assert c0.policy_updates.tolist() == [110, 120] and c1.policy_updates.tolist() == [25]
    assert c0.hypervolume.tolist() == pytest.approx(
        [1.0, 1.0 + 0.5 * 1.0 * 1.0 + 0.0]
    )  # (1,1)+(2,.5): 1 + .5
    x, mean = step_mean([c0, c1], "policy_updates")
    assert x.tolist() == [25, 110, 120]
    assert mean.tolist() == pytest.approx([(0 + 2) / 2, (1 + 2) / 2, (1.5 + 2) / 2])


def _curve(label, seed, updates, hv):
    return AnytimeCurve(
        label, label, seed, "r", np.array(updates), np.array(updates) * 10, np.array(hv, dtype=float)
    )


def test_compute_to_reach_95_percent_of_the_grid_hand_computed():
    curves = [  # the grid: final hypervolumes 10 and 12 (target 0.95 * 11 = 10.45), total updates 100 and 140
        _curve("morlhf", 0, [50, 100], [8, 10]),
        _curve("morlhf", 1, [70, 140], [11, 12]),
        _curve("fast", 0, [20, 60], [10.5, 11]),  # reaches at 20 updates
        _curve("fast", 1, [30, 90], [9, 10.45]),  # reaches at 90 (equal to the target counts)
        _curve("slow", 0, [200], [10]),  # never
        _curve("slow", 1, [100], [20]),
    ]
    reach = {(r.label, r.axis): r for r in reach_costs(curves, "morlhf")}
    assert {a for _, a in reach} == {"policy_updates", "total_tokens"}
    grid, fast, slow = (reach[(label, "policy_updates")] for label in ("morlhf", "fast", "slow"))
    assert fast.target == pytest.approx(10.45) and fast.seeds == [0, 1]
    assert grid.costs == pytest.approx([None, 70 / 120]) and grid.interval is None and grid.reached == 1
    assert fast.costs == pytest.approx([20 / 120, 90 / 120]) and fast.interval.mean == pytest.approx(
        110 / 240
    )
    assert slow.costs[0] is None and slow.costs[1] == pytest.approx(100 / 120)
    assert reach[("fast", "total_tokens")].costs == pytest.approx([200 / 1200, 900 / 1200])  # same fractions
    # summary.md: the mean with its interval when every seed reaches, else each reaching seed's own fraction
    assert (_reaching_seeds(grid), _reaching_seeds(slow)) == ("1: 0.5833", "1: 0.8333")
    assert _reaching_seeds(dataclasses.replace(slow, costs=[None, None])) == "—"
    assert reach_costs(curves, "absent") == []


def test_hypervolume_figure_axis_is_cumulative_compute_not_steps():
    from pareto_align.export.figures import hypervolume_figure

    fig = hypervolume_figure(_two_methods(2))
    titles = [fig.layout[a].title.text for a in ("xaxis", "xaxis2")]
    assert titles == ["policy updates (cumulative)", "tokens trained + generated (cumulative)"]
    old = front([pt("a", (1, 1)), pt("b", (2, 0.5))])  # a file without any compute recorded
    assert hypervolume_figure(old).layout.xaxis.title.text == "points evaluated"
    # with the compute-to-reach target: one dashed line per panel at its hypervolume, named after the grid
    target = ReachCost("modpo", "morlhf", "policy_updates", 0.95, 1.25, [0], [None], None)
    fig = hypervolume_figure(_two_methods(2), target)
    assert [(s.y0, s.y1, s.line.dash) for s in fig.layout.shapes] == [(1.25, 1.25, "dash")] * 2
    assert {a.text for a in fig.layout.annotations} == {"95% of Linear scalarization"}


# --- one style for the explorer and the exporter ----------------------------------------------------------------


def test_every_method_has_its_own_colour_blind_safe_colour():
    methods = ["modpo", "morlhf", "bon", "dynamic_hv", "dynamic_grad", "soups", "mod", "dpa", "ric", "cmorl"]
    colors = [KNOWN_METHOD_COLORS[method_key(m)] for m in methods]
    assert len(set(colors)) == len(methods) and set(colors) <= set(PALETTE)
    styles = method_styles(["modpo (r1)", "modpo (r2)", "x"], {"modpo (r1)": "modpo", "modpo (r2)": "modpo"},
                           {"modpo (r1)": "r1", "modpo (r2)": "r2", "x": "r1"})  # fmt: skip
    assert (
        styles["modpo (r1)"][0] == styles["modpo (r2)"][0] == KNOWN_METHOD_COLORS["modpo"]
    )  # colour: method
    assert styles["modpo (r1)"][1] == styles["x"][1] != styles["modpo (r2)"][1]  # marker: run
    assert styles["x"][0] not in colors


def test_a_method_has_the_same_colour_in_the_explorer_and_the_paper():
    methods = ["bon", "foo", "morlhf", "ric"]
    f = front([pt(f"p{i}", (i, 4 - i), m) for i, m in enumerate(methods)])
    paper = {
        t.legendgroup: t.marker.color for t in front_figure(f).data if t.legendgroup and t.mode == "markers"
    }
    view = build_view([LoadedRun(run_dir=Path("/runs/r"), label="r", front=f)])
    app = {t.legendgroup.split(" · ")[-1]: t.marker.color for t in explorer_front_figure(view).data
           if t.legendgroup and " · " in t.legendgroup}  # fmt: skip
    assert paper == app and set(paper) == set(methods)
    assert paper["morlhf"] == KNOWN_METHOD_COLORS["linear"] and paper["bon"] == KNOWN_METHOD_COLORS["bon"]
    # the same objective label rule in both
    g = front([pt("a", (1, 1))], names=("a", "length"))
    g.objectives[1].direction = "min"
    one = build_view([LoadedRun(run_dir=Path("/runs/r"), label="r", front=g)])
    assert (
        explorer_front_figure(one).layout.yaxis.title.text
        == front_figure(g).layout.yaxis.title.text
        == "−length"
    )


def test_explorer_history_is_drawn_against_cumulative_compute():
    f = front([pt("a", (1, 1), updates=5)])
    f.history = [HistoryEntry(step=1, hypervolume=1.0, cumulative_compute={"policy_updates": 5, "trained_tokens": 0,
                                                                         "generated_tokens": 0})]  # fmt: skip
    fig = history_figure([LoadedRun(run_dir=Path("/runs/r"), label="r", front=f)])
    assert fig.layout.xaxis.title.text.startswith("policy updates") and list(fig.data[0].x) == [5.0]
    assert fig.data[0].line.color == KNOWN_METHOD_COLORS["modpo"]


# --- figures ----------------------------------------------------------------------------------------------------


def test_attainment_panels_and_projection_matrix():
    f2 = _two_methods()
    fig = attainment_figure(f2)
    assert len(fig.layout.annotations) == 2  # one panel title per method
    assert {t.name for t in fig.data if t.showlegend} == {
        "25% attainment",
        "50% attainment",
        "75% attainment",
    }
    pts = [pt(f"p{i}", v, m, s) for i, (v, m, s) in enumerate([((1, 2, 3), "modpo", 0), ((3, 2, 1), "dpa", 0),
                                                              ((2, 2, 2), "dpa", 1)])]  # fmt: skip
    f3 = front(pts, ref=(0, 0, 0), names=("a", "b", "c"))
    fig = projection_matrix_figure(f3)
    # K = 3: panels (a, b), (a, c), (b, c); each method's points appear once per panel
    dpa = [t for t in fig.data if t.legendgroup == "dpa"]
    assert sorted((t.xaxis, t.yaxis) for t in dpa) == [("x", "y"), ("x3", "y3"), ("x4", "y4")]
    panel = next(t for t in dpa if t.xaxis == "x3")  # x: a, y: c
    assert sorted(zip(panel.x, panel.y, strict=True)) == [(2, 2), (3, 1)]
    assert all(t.marker.color == KNOWN_METHOD_COLORS["dpa"] for t in dpa if t.showlegend)


# --- the true front on the built-in benchmark -------------------------------------------------------------------


def test_true_front_bound_from_the_gold_ideal_point():
    config = {"data": {"source": "synthetic", "synthetic": {"world": {"coverage_cap": 4}}},
              "evaluation": {"scorer": "gold"},
              "objectives": [{"name": "a", "direction": "max", "gold": "topic_coverage"},
                             {"name": "b", "direction": "min", "gold": "word_count"}]}  # fmt: skip
    f = front([pt("p", (2.0, -3.0))], ref=(0.0, -10.0), provenance={"config": config})
    np.testing.assert_allclose(gold_ideal_point(f), [4.0, 0.0])  # coverage cap; no words at best
    bound = true_front_bound(f, np.array([[2.0, -3.0], [1.0, -1.0]]))
    assert bound.gaps == pytest.approx((2.0, 1.0))
    # HV(R) = 2*7 + 1*2 = 16 over HV(ideal) = 4*10 = 40
    assert bound.hypervolume_share_lower_bound == pytest.approx(16 / 40)
    assert true_front_bound(front([pt("p", (1, 1))]), np.array([[1.0, 1.0]])) is None  # not the benchmark
    assert hypervolume(np.array([[4.0, 0.0]]), np.array([0.0, -10.0])) == 40.0


# --- the report of a comparison folder --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("compare")
    f = _two_methods()
    for method in ("modpo", "morlhf"):
        sub = front([p for p in f.points if p.method == method])
        write_front(sub, root / "cmp" / method)
    out = root / "report"
    assert cli.main(["export", str(root / "cmp"), "--to", str(out), "--formats", "csv,json,md,tex"]) == 0
    return root, out


def test_comparison_folder_is_expanded_and_the_summary_comes_from_the_data(comparison):
    _, out = comparison
    summary = json.loads((out / "summary.json").read_text())
    assert {m["label"] for m in summary["methods"]} == {"modpo", "morlhf"}
    hv = {m["label"]: m for m in summary["methods"] if m["metric"] == "hypervolume"}
    md = (out / "summary.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| MODPO |"))
    assert row.split(" | ")[2].startswith(f"{hv['modpo']['mean']:.4g} [{hv['modpo']['ci_low']:.4g}, ")
    assert "| Linear scalarization | 3 |" in md and "**MODPO** (3 seeds) reaches hypervolume 5 [" in md
    assert "2.5 [" in md and "times the hypervolume of the Linear scalarization grid" in md  # ratio 5 / 2
    assert "its hypervolume is above Linear scalarization" in md  # P(improvement) = 1 over 3 vs 3 seeds
    # the hypervolume's P(row > column) matrix: the reversed pair is 1 - P with the interval mirrored
    assert "| P(row > column) | MODPO | Linear scalarization |" in md
    assert "| MODPO | — | 1 [1, 1] ✓ |" in md and "| Linear scalarization | 0 [0, 0] ✓ | — |" in md
    ratios = list((out / "linear_ratios.csv").read_text().splitlines())
    assert ratios[0].startswith("label,reference,hypervolume_ratio") and len(ratios) == 3
    pairwise = (out / "pairwise.csv").read_text().splitlines()
    assert pairwise[1].startswith("modpo,morlhf,hypervolume,3,3,3.0,")
    assert (out / "reference_set.csv").read_text().splitlines()[0] == "a,b"
    reach = {(r["label"], r["axis"]): r for r in summary["compute_to_reach"]}
    assert reach[("morlhf", "policy_updates")]["fraction"] == 0.95 and "Compute to reach 95% of" in md
    assert (out / "reach.csv").read_text().splitlines()[0].startswith("label,reference,axis,fraction,target")
    assert r"HV/HV$_R$" in (out / "table.tex").read_text()


def test_a_comparison_folder_stands_for_the_methods_its_record_lists_in_its_order(tmp_path):
    f = _two_methods()
    for method in ("modpo", "morlhf", "dropped"):
        write_front(front([p for p in f.points if p.method == (method if method != "dropped" else "modpo")]),
                    tmp_path / "cmp" / method)  # fmt: skip
    assert [d.name for d in expand_run_dirs([tmp_path / "cmp"])] == [
        "dropped",
        "modpo",
        "morlhf",
    ]  # no record
    record = {"methods": [{"label": "morlhf"}, {"label": "modpo"}, {"label": "not-run-yet"}]}
    (tmp_path / "cmp" / COMPARISON_RECORD).write_text(yaml.safe_dump(record))
    assert [d.name for d in expand_run_dirs([tmp_path / "cmp"])] == ["morlhf", "modpo"]


def test_a_folder_without_runs_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert cli.main(["export", str(tmp_path / "empty"), "--to", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty: no front.json" in err[0]
    assert not (tmp_path / "out").exists()
    with pytest.raises(ExportError, match="no front.json"):
        export_runs([tmp_path / "empty"], tmp_path / "out")
