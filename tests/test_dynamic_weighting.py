"""Dynamic reward weighting: the multiplier and the weight update against hand-computed values, raw vs normalized
dHV, the per-objective advantages, a few-step run of `dynamic_hv` and `dynamic_grad` on the tiny benchmark, that
the multiplier changes the update (and changes nothing at m = 1), and that a run killed mid-way resumes with the
weights it was using."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_sweep_dict
from safetensors.torch import load_file

from pareto_align import cli
from pareto_align.config import load_config
from pareto_align.errors import ConfigError
from pareto_align.explorer.figures import trained_points, training_figure
from pareto_align.explorer.runs import load_runs
from pareto_align.export.figures import trajectory_figure
from pareto_align.front import read_front
from pareto_align.methods import dynamic_grad
from pareto_align.trainers.dynamic_grpo import objective_advantages
from pareto_align.weighting import (
    HypervolumeBuffer,
    hv_contribution,
    influence,
    meta_multiplier,
    mirror_update,
    project_to_bounds,
    trust_region_bounds,
)

EVALUATION = {"samples_per_prompt": 4, "max_prompts": 8, "generation": {"max_new_tokens": 12}}
TRL = {"max_steps": 6, "max_completion_length": 12, "learning_rate": 1e-3}


# ---------------------------------------------------------------------------------------------- the arithmetic
def test_meta_multiplier_by_hand():
    assert meta_multiplier(0.0) == pytest.approx(0.5)  # adds nothing: a
    assert meta_multiplier(math.atanh(1 / 3)) == pytest.approx(1.0)
    assert meta_multiplier(50.0) == pytest.approx(2.0)  # saturates at a + b
    assert meta_multiplier(0.2, a=1.0, b=0.0) == 1.0


def test_hv_contribution_on_a_hand_made_front():
    buffer = np.array([[1.0, 3.0], [3.0, 1.0]])  # HV 5 from (0, 0)
    assert hv_contribution(buffer, [2.0, 2.0], [0.0, 0.0]) == pytest.approx(1.0)  # the square [1,2] x [1,2]
    assert hv_contribution(buffer, [0.5, 0.5], [0.0, 0.0]) == 0.0  # dominated
    assert hv_contribution(np.empty((0, 2)), [2.0, 2.0], [0.0, 0.0]) == pytest.approx(4.0)
    assert hv_contribution(buffer, [2.0, 2.0], [0.0, 0.0], scale=[2.0, 4.0]) == pytest.approx(1.0 / 8.0)


def test_raw_and_normalized_dhv_disagree_on_the_multiplier():
    """An objective counted in the hundreds makes the raw dHV large (tanh saturates: m ~ a + b) while the same
    step is 11% of the normalized box (m ~ 0.66): the reference code's raw units let the scale decide."""
    buffer = HypervolumeBuffer(lower=[0.0, 0.0], upper=[1.0, 100.0], points=[[0.5, 50.0]])
    dhv = buffer.contribution([0.6, 60.0])
    assert dhv["raw"] == pytest.approx(0.6 * 60 - 0.5 * 50)  # 11
    assert dhv["normalized"] == pytest.approx(0.6 * 0.6 - 0.5 * 0.5)  # 0.11
    assert meta_multiplier(dhv["raw"]) == pytest.approx(2.0, abs=1e-6)
    assert meta_multiplier(dhv["normalized"]) == pytest.approx(0.5 + 1.5 * math.tanh(0.11))
    buffer.add([0.6, 60.0])
    buffer.add([0.55, 55.0])  # dominated: not kept
    assert buffer.points.tolist() == [[0.6, 60.0]]
    with pytest.raises(ValueError, match="upper > lower"):
        HypervolumeBuffer([0.0, 0.0], [1.0, 0.0])


def test_influence_and_mirror_update_by_hand():
    G = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert influence(G).tolist() == [2.0, 3.0]  # Gram [[1, 1], [1, 2]] row sums
    w = mirror_update([0.5, 0.5], [2.0, 3.0], eta=1e-5, lam=1e-5)
    e2, e3 = math.exp(2), math.exp(3)
    assert w == pytest.approx([e2 / (e2 + e3), e3 / (e2 + e3)])
    assert mirror_update([0.5, 0.5], [2.0, 3.0], eta=1e-5, lam=1e-5, ceiling=0.6) == pytest.approx([0.4, 0.6])
    assert mirror_update([1.0, 0.0], [0.0, 9.0], eta=1.0, lam=1.0).tolist() == [1.0, 0.0]  # zero stays zero
    assert mirror_update([1.0, 0.0], [0.0, 9.0], eta=1.0, lam=1.0, floor=0.1) == pytest.approx([0.9, 0.1])


def test_weights_stay_on_the_simplex_within_their_bounds():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(2, 6))
        w = rng.dirichlet(np.ones(k))
        floor, ceiling = 0.05, 0.7
        new = mirror_update(w, rng.normal(0, 5, size=k), eta=1.0, lam=float(rng.uniform(0.1, 10)), floor=floor,
                            ceiling=ceiling)  # fmt: skip
        assert (
            new.sum() == pytest.approx(1.0)
            and np.all(new >= floor - 1e-12)
            and np.all(new <= ceiling + 1e-12)
        )
    assert project_to_bounds(np.array([0.97, 0.01, 0.02]), 0.1, 0.8) == pytest.approx([0.8, 0.1, 0.1])
    # the positive weights at the ceiling are not enough: the zero weights take the rest, evenly within their bounds
    assert project_to_bounds(np.array([1.0, 0.0]), 0.0, 0.6) == pytest.approx([0.6, 0.4])
    assert project_to_bounds(np.array([0.5, 0.5, 0.0, 0.0]), 0.0, 0.3) == pytest.approx([0.3, 0.3, 0.2, 0.2])
    assert project_to_bounds(np.array([1.0, 0.0, 0.0]), 0.0, np.array([0.5, 0.1, 1.0])) == pytest.approx([0.5, 0.1, 0.4])  # fmt: skip
    with pytest.raises(ValueError, match="sums to 1"):
        project_to_bounds(np.array([0.5, 0.5]), 0.6, 1.0)


def test_trust_region_by_hand():
    w0 = [0.5, 0.3, 0.2]
    lower, upper = trust_region_bounds(w0, 1.25)
    assert lower == pytest.approx([0.4, 0.24, 0.16]) and upper == pytest.approx([0.625, 0.375, 0.25])
    # a large influence on the last objective: the paper's step gives it almost everything ...
    assert mirror_update(w0, [0.0, 0.0, 10.0], eta=1.0, lam=1.0)[2] > 0.999
    # ... the trust region holds it at 0.25 and the others share the rest in proportion (5:3): x + 0.6 x = 0.75
    new = mirror_update(w0, [0.0, 0.0, 10.0], eta=1.0, lam=1.0, floor=lower, ceiling=upper)
    assert new == pytest.approx([0.46875, 0.28125, 0.25])
    # inside the region the step is the paper's: w ∝ (0.5, 0.3, 0.2 e^0.1)
    small = np.array([0.5, 0.3, 0.2 * math.exp(0.1)])
    assert mirror_update(w0, [0.0, 0.0, 0.1], eta=1.0, lam=1.0, floor=lower, ceiling=upper) == pytest.approx(
        small / small.sum()
    )
    # the floor wins over the region; a zero start lifted by the floor is held at it
    assert trust_region_bounds([1.0, 0.0], 2.0, floor=0.1)[0].tolist() == [0.5, 0.1]
    assert trust_region_bounds([1.0, 0.0], 2.0, floor=0.1)[1].tolist() == [1.0, 0.1]


def test_trust_region_is_the_default_and_the_papers_update_stays_selectable(tmp_path):
    assert dynamic_grad.DynamicGradSection().trust_region == 1.1
    lower, upper = dynamic_grad.DynamicGradSection().weight_bounds([0.5, 0.5])
    assert lower == pytest.approx([0.5 / 1.1] * 2) and upper == pytest.approx([0.55, 0.55])
    paper = load_config(_write(tmp_path, tmp_path / "cache", {"name": "dynamic_grad", "trust_region": None,
                                                              "floor": 0.1}))  # fmt: skip
    assert paper.method.trust_region is None and paper.method.weight_bounds([0.5, 0.5]) == (0.1, 1.0)


def test_objective_advantages_by_hand():
    rewards = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])  # two groups of 2
    raw = objective_advantages(rewards, 2, "none")
    assert raw.tolist() == [[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]
    scaled = objective_advantages(rewards, 2, "group")  # std (unbiased) of each group: sqrt(2); 0 -> 0
    s = 1 / (math.sqrt(2) + 1e-4)
    assert scaled.numpy() == pytest.approx(np.array([[-s, 0.0], [s, 0.0], [0.0, -s], [0.0, s]]), abs=1e-6)


# ---------------------------------------------------------------------------------------------- configs
def _write(tmp_path, cache, method: dict, weights=((0.5, 0.5),), **overrides):
    config = tiny_sweep_dict(cache, method=method, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [list(w) for w in weights]}, **overrides)  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "method, message",
    [
        ({"name": "dynamic_grad", "trainer": "rloo"}, "method.trainer: dynamic_grad"),
        (
            {"name": "dynamic_hv", "scalarization": {"kind": "tchebycheff", "ideal": [1, 0]}},
            "method.scalarization: dynamic_hv",
        ),
        ({"name": "dynamic_hv", "trainer": "rloo", "apply_to": "advantage"}, "method.apply_to"),
        (
            {"name": "dynamic_hv", "bounds": {"lower": [0.0], "upper": [1.0]}},
            "method.bounds.lower: expected 2",
        ),
        ({"name": "dynamic_hv", "bounds": {"lower": [0, 0], "upper": [1, 0]}}, "upper must exceed lower"),
        ({"name": "dynamic_grad", "floor": 0.6}, "method.floor/ceiling"),
        ({"name": "dynamic_grad", "layer_band": [0.8, 0.2]}, "method.layer_band"),
        ({"name": "dynamic_grad", "parameters": "("}, "method.parameters: not a regular expression"),
        ({"name": "dynamic_grad", "trust_region": 0.5}, "method.trust_region: Input should be greater than or equal to 1"),
        ({"name": "dynamic_grad", "floor": 0.45, "weights": ((0.9, 0.1),)},
         r"method.trust_region: weights \[0.9, 0.1\] within a factor 1.1 and \[0.45, 1.0\] cannot sum to 1"),
    ],
)  # fmt: skip
def test_config_mistakes_name_the_field(tmp_path, method, message):
    method = dict(method)
    weights = method.pop("weights", ((0.5, 0.5),))
    path = _write(tmp_path, tmp_path / "cache", method, weights=weights)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


# ---------------------------------------------------------------------------------------------- runs
def _sweep(path, run_dir) -> int:
    return cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"])


def _policy_weights(run_dir) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "points" / "w00-s0" / "policy" / "model.safetensors"))


@pytest.fixture(scope="module")
def hv_runs(tmp_path_factory, benchmark_cache):
    """morlhf, and dynamic_hv with m fixed at 1, with the paper's multiplier, and on the advantages: same seed."""
    common = {"reward_source": "gold", "history_every": 0, "trl": TRL}
    hv = {**common, "name": "dynamic_hv", "every": 2, "samples_per_prompt": 2, "checkpoint_every": 0}
    methods = {"morlhf": {**common, "name": "morlhf"}, "m=1": {**hv, "a": 1.0, "b": 0.0},
               "paper": {**hv, "units": "raw"}, "advantage": {**hv, "units": "raw", "apply_to": "advantage"}}  # fmt: skip
    runs = {}
    for key, method in methods.items():
        tmp = tmp_path_factory.mktemp(f"hv-{key.replace('=', '')}")
        assert _sweep(_write(tmp, benchmark_cache, method), tmp / "run") == 0
        runs[key] = tmp / "run"
    return runs


@pytest.mark.slow
def test_dynamic_hv_records_its_measurements_and_their_cost(hv_runs):
    front = read_front(hv_runs["paper"])
    (point,) = front.points
    steps = [h for h in front.history if h.point_id == point.id and h.training]
    assert [h.step for h in steps] == [2, 4]  # every 2 steps, the last step is the point
    for h in steps:
        extra = h.model_extra
        assert extra["multiplier"] == pytest.approx(meta_multiplier(extra["dhv_raw"]))  # units: raw
        assert extra["dhv_normalized"] <= extra["dhv_raw"] and len(extra["reward_values"]) == 2
    assert point.metadata["hv_bounds"] == {"lower": [0.0, -24.0], "upper": [6.0, 0.0]}  # ref point, gold best
    assert point.metadata["meta_evaluation_tokens"] > 0
    assert "hv_seed" in point.compute.shared and "hv_seed" in front.compute.shared
    # the steering evaluations are the method's cost: with m = 1 the run trains exactly as morlhf's, so its
    # generated tokens are morlhf's plus its measurements'
    plain, steady = read_front(hv_runs["morlhf"]).points[0], read_front(hv_runs["m=1"]).points[0]
    assert (
        steady.compute.generated_tokens
        == plain.compute.generated_tokens + steady.metadata["meta_evaluation_tokens"]
    )


@pytest.mark.slow
def test_the_multiplier_changes_the_update_and_nothing_at_one(hv_runs):
    fixed = _policy_weights(hv_runs["morlhf"])
    same = _policy_weights(hv_runs["m=1"])
    assert all(torch.equal(fixed[k], same[k]) for k in fixed)  # m = 1: the fixed-weight run, bit for bit
    multipliers = [m["multiplier"] for m in read_front(hv_runs["paper"]).points[0].metadata["multipliers"]]
    assert any(abs(m - 1) > 1e-3 for m in multipliers)
    for key in ("paper", "advantage"):
        moved = _policy_weights(hv_runs[key])
        assert any(not torch.equal(fixed[k], moved[k]) for k in fixed), key


@pytest.fixture(scope="module")
def grad_run(tmp_path_factory, benchmark_cache):
    tmp = tmp_path_factory.mktemp("grad")
    method = {"name": "dynamic_grad", "reward_source": "gold", "history_every": 3, "history_samples_per_prompt": 2,
              "lam": 1e-3, "floor": 0.1, "trl": TRL}  # fmt: skip
    path = _write(tmp, benchmark_cache, method, weights=((0.5, 0.5), (0.8, 0.2)))
    assert _sweep(path, tmp / "run") == 0
    return tmp / "run"


@pytest.mark.slow
def test_dynamic_grad_logs_the_weights_of_every_update(grad_run):
    front = read_front(grad_run)
    for point in front.points:
        updates = [
            h
            for h in front.history
            if h.point_id == point.id and (h.model_extra or {}).get("kind") == "weights"
        ]
        assert [h.step for h in updates] == list(range(0, 7))  # the start, then one per optimizer step
        assert updates[0].weights == point.weights and all(h.hypervolume is None for h in updates)
        lower, upper = trust_region_bounds(point.weights, 1.1, floor=0.1)  # the default trust region
        for h in updates:
            assert sum(h.weights) == pytest.approx(1.0) and min(h.weights) >= 0.1 - 1e-6
            w = np.asarray(h.weights)
            assert np.all(w >= lower - 1e-6) and np.all(w <= upper + 1e-6)
        assert len({tuple(h.weights) for h in updates}) > 1  # they moved
        # the evaluations every 3 steps carry the weights in use then
        evals = {
            h.step: h
            for h in front.history
            if h.point_id == point.id and h.training and h.model_extra.get("values")
        }
        assert sorted(evals) == [3]
        in_use = [h.weights for h in updates if h.step <= 3][-1]
        assert evals[3].weights == pytest.approx(in_use)
        assert point.metadata["final_weights"] == pytest.approx(updates[-1].weights)
        assert point.metadata["probe_parameters"] > 0 and point.metadata["probe_seconds"] > 0


@pytest.mark.slow
def test_training_trajectories_in_the_explorer_and_the_exporter(grad_run):
    (run,) = load_runs([grad_run])
    trained = trained_points([run])
    assert [p for _, p in trained] == ["w00-s0", "w01-s0"]
    fig = training_figure(*trained[0])
    assert [t.name for t in fig.data if t.name and t.name.startswith("w ")] == ["w helpful", "w length"]
    export = trajectory_figure(read_front(grad_run))
    assert export is not None and len(export.data) >= 2 * 2  # 2 panels x 2 points (+ their mean)


def test_probe_parameters_follow_the_layer_band(tiny_policy_dir):
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer

    tok = train_word_tokenizer(["a b c"])
    model = build_tiny_causal_lm(tok, hidden_size=16, num_layers=28, num_heads=2)
    names, params = dynamic_grad.probe_parameters(model, dynamic_grad.DynamicGradSection())
    layers = sorted({int(dynamic_grad.LAYER.search(n).group(1)) for n in names})
    assert layers == list(range(10, 26))  # the paper's layers 10-25 of 28
    names, _ = dynamic_grad.probe_parameters(
        model, dynamic_grad.DynamicGradSection(parameters=r"embed_tokens")
    )
    assert names == ["model.embed_tokens.weight"]  # tied with the output layer
    with pytest.raises(ValueError, match="selects no trainable parameter"):
        dynamic_grad.probe_parameters(model, dynamic_grad.DynamicGradSection(parameters="nothing-matches"))


@pytest.mark.slow
def test_killed_dynamic_grad_resumes_with_the_weights_in_use(tmp_path, benchmark_cache, monkeypatch):
    method = {"name": "dynamic_grad", "reward_source": "gold", "history_every": 0, "lam": 1e-3,
              "checkpoint_every": 2, "trl": TRL}  # fmt: skip
    path = _write(tmp_path, benchmark_cache, method)
    run_dir = tmp_path / "run"
    real = dynamic_grad.WeightOptimizer.observe
    seen: list[list[float]] = []

    def killed_after_step_5(self, trainer, grads):
        real(self, trainer, grads)
        seen.append(list(self.history_weights))
        if trainer.state.global_step == 4:  # computing update 5: the checkpoint of step 4 is on disk
            raise KeyboardInterrupt

    monkeypatch.setattr(dynamic_grad.WeightOptimizer, "observe", killed_after_step_5)
    assert _sweep(path, run_dir) == 130
    assert list((run_dir / "points" / "w00-s0" / "checkpoints").glob("checkpoint-4/pareto_align_state.json"))
    monkeypatch.setattr(dynamic_grad.WeightOptimizer, "observe", real)
    restored: list[list[float]] = []
    real_attach = dynamic_grad.WeightOptimizer.attach

    def attach(self, trainer, rewards, tokenizer):
        real_attach(self, trainer, rewards, tokenizer)
        restored.append(trainer.reward_weights.tolist())

    monkeypatch.setattr(dynamic_grad.WeightOptimizer, "attach", attach)
    assert _sweep(path, run_dir) == 0
    assert restored[0] == pytest.approx(seen[3])  # the weights set at update 4, in use at the checkpoint
    front = read_front(run_dir)
    updates = [h for h in front.history if (h.model_extra or {}).get("kind") == "weights"]
    assert [h.step for h in updates] == list(range(0, 7))  # one entry per update, none lost or repeated
    assert np.asarray([h.weights for h in updates[1:5]]) == pytest.approx(np.asarray(seen[:4]))
    assert front.points[0].compute.policy_updates == 6
    assert not (run_dir / "points" / "w00-s0" / "checkpoints").exists()  # spent once the point is saved


@pytest.mark.slow
def test_history_tab_shows_a_point_while_it_trained(grad_run, monkeypatch):
    import sys
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[1] / "apps" / "explorer.py"
    monkeypatch.setattr(sys, "argv", [str(app), str(grad_run)])
    at = AppTest.from_file(str(app), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    point = at.selectbox(key="hist.point")
    assert [o.split(": ")[-1] for o in point.options] == ["w00-s0", "w01-s0"]
    point.select_index(1).run()
    assert not at.exception, [e.value for e in at.exception]


def test_both_dynamic_methods_cite_one_paper_and_have_their_own_names():
    from pareto_align.export.bibtex import bibtex_entries
    from pareto_align.export.style import display_name

    text, unknown = bibtex_entries(m for m in ["dynamic_hv", "dynamic_grad", "morlhf"])
    assert unknown == [] and text.count("lu2025dynamicweighting") == 1
    assert display_name("dynamic_hv") == "Dynamic weighting (HV)"
    assert display_name("dynamic_grad") == "Dynamic weighting (gradient)"


def test_bounds_and_buffers_at_their_edges():
    """What mutation testing found untested (experiments/mutation_testing.py weighting)."""
    # normalized dHV with a non-zero lower bound: the box is [lower, upper], its widths upper - lower
    buffer = HypervolumeBuffer(lower=[1.0, 10.0], upper=[3.0, 20.0], points=[[2.0, 15.0], [1.5, 18.0]])
    assert buffer.points.shape == (2, 2)  # several starting points kept as rows
    # from (1, 10): HV before 5 + 4 - 2.5 = 6.5; (2.5, 16) covers (2, 15): after 1.5 * 6 + 0.5 * 2 = 10
    dhv = buffer.contribution([2.5, 16.0])
    assert dhv["raw"] == pytest.approx(3.5) and dhv["normalized"] == pytest.approx(3.5 / (2.0 * 10.0))
    # 2 * 6 - 1 * 5 = 7 raw, over a box of 2 x 10
    assert hv_contribution([[2.0, 15.0]], [3.0, 16.0], [1.0, 10.0], scale=[2.0, 10.0]) == pytest.approx(0.35)
    # defaults: the plain simplex
    assert project_to_bounds(np.array([0.2, 0.6])) == pytest.approx([0.25, 0.75])
    # bounds that pin a weight, or sum to exactly 1, are feasible; a floor above its ceiling, or ceilings that
    # cannot reach 1, are not
    assert project_to_bounds(np.array([0.9, 0.1]), np.array([0.3, 0.0]), np.array([0.3, 1.0])) == pytest.approx([0.3, 0.7])  # fmt: skip
    assert project_to_bounds(np.array([0.9, 0.1]), 0.5, 1.0) == pytest.approx([0.5, 0.5])
    assert project_to_bounds(np.array([0.9, 0.1]), 0.0, 0.5) == pytest.approx([0.5, 0.5])
    for floor, ceiling in ((np.array([0.5, 0.0]), np.array([0.4, 1.0])), (0.0, 0.4)):
        with pytest.raises(ValueError, match="no weight vector of 2 entries sums to 1"):
            project_to_bounds(np.array([0.5, 0.5]), floor, ceiling)
    # the zero weights' share when the positive ones fall short respects their own floors
    floor, ceiling = np.array([0.0, 0.3, 0.0]), np.array([0.5, 1.0, 1.0])
    assert project_to_bounds(np.array([1.0, 0.0, 0.0]), floor, ceiling) == pytest.approx([0.5, 0.3, 0.2])
    # a step far past exp's range stays finite (logits shifted by their maximum)
    assert mirror_update([0.5, 0.5], [0.0, 1.0], eta=1.0, lam=1e-3) == pytest.approx([0.0, 1.0])
