"""DPA and RiC: directions and their prompts against hand values, RiC's preference-to-reward mapping and goal
sampling, rejection sampling against a brute-force loop, the vocabulary a tiny tokenizer needs, config errors, and
both methods end to end on the tiny benchmark (conditioned points that load, generate and follow their preference;
shared compute; resume after the last finished round; the explorer at the slider's preference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.config import ConfigError, parse_config
from pareto_align.front import PolicyHandle, read_front
from pareto_align.methods import _conditioned, dpa, ric
from pareto_align.models.conditioning import (
    condition_values,
    desired_scores,
    direction_from_weights,
    extend_vocabulary,
    format_conditioned_prompt,
    integer_weights,
    parse_conditioned_prompt,
)
from pareto_align.models.policy import load_policy

NAMES = ["helpful", "length"]
DPA_TEMPLATE = dpa.DPASection().default_template(NAMES)
RIC_TEMPLATE = ric.RiCSection().default_template(NAMES)


# ----------------------------------------------------------------------------------------------- directions
@pytest.mark.parametrize("space", ["angle", "sphere", "simplex"])
def test_sampled_directions_live_where_the_space_says(space):
    k = 2 if space == "angle" else 3
    V = dpa.sample_directions(np.random.default_rng(0), 2000, k, space, (-45.0, 45.0))
    assert V.shape == (2000, k)
    if space == "simplex":
        np.testing.assert_allclose(V.sum(axis=1), 1.0)
        assert (V >= 0).all()
        return
    np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0)
    if space == "sphere":
        assert (V >= 0).all()
    else:
        theta = np.degrees(np.arctan2(V[:, 1], V[:, 0]))
        assert theta.min() >= -45 and theta.max() <= 45
        assert theta.min() < -40 and theta.max() > 40  # the whole cone, not a corner of it
        assert (V[:, 0] >= math.cos(math.radians(45)) - 1e-12).all()  # the first objective keeps >= 0.71


def test_direction_grid_spans_the_cone_and_the_weight_grid(tmp_path):
    section = dpa.DPASection(angle_range=(-30.0, 60.0), front_angles=4)
    config = parse_config(tiny_sweep_dict(tmp_path, method={"name": "dpa", "angle_range": [-30, 60],
                                                            "front_angles": 4}))  # fmt: skip
    grid = dpa.direction_grid(section, config)
    np.testing.assert_allclose(np.degrees(np.arctan2(grid[:, 1], grid[:, 0])), [-30, 0, 30, 60])
    np.testing.assert_allclose(np.linalg.norm(grid, axis=1), 1.0)
    sphere = parse_config(tiny_sweep_dict(tmp_path, method={"name": "dpa", "space": "sphere"}))
    np.testing.assert_allclose(
        dpa.direction_grid(sphere.method, sphere), [[1.0, 0.0], [0.3, 0.7] / np.hypot(0.3, 0.7)]
    )
    assert dpa.angle_directions([90.0])[0].tolist() == [0.0, 1.0]  # exactly, not 6e-17


def test_template_writes_integer_weights_and_round_trips():
    v = [math.cos(math.radians(-15)), math.sin(math.radians(-15))]
    prompt = format_conditioned_prompt("write about ocean :", v, DPA_TEMPLATE)
    assert prompt == "maximize weighted rating = helpful*97 + length*-26 | write about ocean :"
    assert integer_weights([0.8, 0.6]) == [80, 60] and integer_weights([0.004, 1.0]) == [0, 100]
    rng = np.random.default_rng(1)
    for u in dpa.sample_directions(rng, 50, 2, "angle"):
        user, weights = parse_conditioned_prompt(DPA_TEMPLATE, format_conditioned_prompt("describe space :", u,
                                                                                         DPA_TEMPLATE))  # fmt: skip
        assert user == "describe space :"
        np.testing.assert_allclose(direction_from_weights(weights), u, atol=0.01)  # rounding to 1/100 only
    with pytest.raises(ValueError, match="was not written by template"):
        parse_conditioned_prompt(DPA_TEMPLATE, "write about ocean :")
    # a message list gets the preference in its last user turn
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    assert format_conditioned_prompt(chat, [1.0, 0.0], DPA_TEMPLATE)[1]["content"].endswith("length*0 | hi")
    # the first conditioned handles' form is kept without a template
    assert format_conditioned_prompt("p", [0.8, 0.2]) == "<pref> 0.80 0.20 </pref> p"


# ----------------------------------------------------------------------------------------------- RiC
def test_ric_mapping_against_hand_values():
    low, high = [-2.0, -3.0], [2.0, 3.0]
    # linf: the largest weight asks for its maximum; the other min(K w, 1) of its range above its minimum
    np.testing.assert_allclose(desired_scores([0.2, 0.8], low, high, "linf"), [-2 + 0.4 * 4, 3.0])  # -0.4, 3
    np.testing.assert_allclose(desired_scores([0.5, 0.5], low, high, "linf"), [2.0, 3.0])  # both maxima
    np.testing.assert_allclose(desired_scores([1.0, 0.0], low, high, "linf"), [2.0, -3.0])
    np.testing.assert_allclose(desired_scores([0.2, 0.3, 0.5], [0, 0, 0], [1, 1, 1], "linf"), [0.6, 0.9, 1.0])
    # l2: w / ||w|| of the range; linear: w of the range
    np.testing.assert_allclose(
        desired_scores([0.6, 0.8], low, high, "l2"), [-2 + 0.6 / 1.0 * 4, -3 + 0.8 * 6]
    )
    np.testing.assert_allclose(desired_scores([0.25, 0.75], low, high, "linear"), [-1.0, 1.5])
    np.testing.assert_allclose(desired_scores([1 / 3, 2 / 3], [0, 0], [1, 1], "l2"), [0.4, 0.9])  # 0.447->0.4
    condition = {"kind": "desired_scores", "mapping": "linf", "low": low, "high": high}
    assert condition_values([0.2, 0.8], condition) == ["-0.4", "3.0"]
    assert condition_values([0.5, 0.0], {**condition, "low": [-0.04, 0.0], "high": [0.0, 0.0]}) == [
        "0.0",
        "0.0",
    ]
    prompt = format_conditioned_prompt("hi :", [0.2, 0.8], RIC_TEMPLATE, condition)
    assert prompt == "hi : <rm1_score> -0.4 <rm2_score> 3.0"
    assert parse_conditioned_prompt(RIC_TEMPLATE, prompt) == ("hi :", [-0.4, 3.0])


def test_ric_goals_lie_on_the_upper_boundary():
    low, high = np.array([-1.0, -2.0, 0.5]), np.array([2.0, 1.0, 3.0])
    goals = ric.sample_goals(np.random.default_rng(0), 500, low, high)
    assert goals.shape == (500, 3)
    assert ((goals >= low - 1e-9) & (goals <= high + 1e-9)).all()
    at_max = np.isclose(goals, high)
    assert (at_max.sum(axis=1) >= 2).all()  # every objective but (at most) one at its maximum
    assert (~at_max).any(axis=0).all()  # each objective is the free one sometimes
    np.testing.assert_allclose(goals, np.round(goals, 1))


def test_ric_quantile_filter_keeps_rows_good_on_any_objective():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.2, 0.2], [0.1, 0.1]])
    # 0.7-quantiles: 0.2 on both columns -> rows reaching 0.2 on at least one objective
    assert ric.quantile_filter(z, 0.7).tolist() == [False, True, True, True, False]


# ----------------------------------------------------------------------------------------------- rejection sampling
def kept(R, V, mean, std, reference=None) -> np.ndarray:
    """The candidate DPA keeps per group with the paper's pick (pick_beta 0), as `dpa.train` picks it."""
    utility = dpa.selection_utility(R, V, mean, std, reference)
    return dpa.kl_regularized_pick(utility, 0.0, np.random.default_rng(0))


def test_rejection_sampling_keeps_the_argmax_of_calibrated_v_dot_r():
    rng = np.random.default_rng(3)
    R = rng.normal(size=(40, 6, 3)) * [1.0, 10.0, 0.1]  # (G, n, K), objectives on very different scales
    V = dpa.sample_directions(rng, 40, 3, "sphere")
    mean, std = R.reshape(-1, 3).mean(axis=0), R.reshape(-1, 3).std(axis=0)
    best = kept(R, V, mean, std)
    for g in range(40):  # brute force
        utilities = [float(V[g] @ ((R[g, j] - mean) / std)) for j in range(6)]
        assert best[g] == int(np.argmax(utilities))
    # calibration matters: raw scores let the large-scale objective decide
    raw = kept(R, V, np.zeros(3), np.ones(3))
    assert (raw != best).any()
    R2 = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # one group, two candidates
    assert kept(R2, np.array([[0.0, 1.0]]), np.zeros(2), np.ones(2)).tolist() == [1]
    assert kept(R2, np.array([[1.0, 0.0]]), np.zeros(2), np.ones(2)).tolist() == [0]


def test_par_selection_against_hand_values():
    # one group, two candidates: A beats the reference by 3 on the first objective only, B by 1 on both
    R = np.array([[[3.0, 0.0], [1.0, 1.0]]])  # (G=1, n=2, K=2)
    V, ref = np.array([[0.6, 0.8]]), np.array([[0.0, 0.0]])
    mean, std = np.zeros(2), np.ones(2)
    linear = dpa.selection_utility(R, V, mean, std)
    assert linear == pytest.approx(np.array([[1.8, 1.4]]))  # the paper's v . r keeps A
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    par = dpa.selection_utility(R, V, mean, std, ref)
    assert par == pytest.approx(np.array([[0.6 * sig(3) + 0.8 * 0.5, 1.4 * sig(1)]]))  # 0.9716, 1.0235: B
    assert kept(R, V, mean, std).tolist() == [0]
    assert kept(R, V, mean, std, ref).tolist() == [1]
    # centred on the group's reference and in units of the calibration's std; the mean plays no part
    par = dpa.selection_utility(R + 5.0, V, np.array([9.0, -9.0]), np.array([2.0, 1.0]), ref + 5.0)
    assert par == pytest.approx(np.array([[0.6 * sig(1.5) + 0.8 * 0.5, 0.6 * sig(0.5) + 0.8 * sig(1)]]))


class _Uniforms:
    """A stand-in generator whose `random` returns given values (G, 1)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=float)[:, None]

    def random(self, shape):
        assert shape == self.values.shape
        return self.values


def test_kl_regularized_pick_draws_by_softmax_of_utility_over_beta():
    U = np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)], [5.0, 0.0]])  # (G=3, n=2)
    assert dpa.kl_regularized_pick(U, 0.0, _Uniforms([0.0, 0.0, 0.0])).tolist() == [1, 1, 0]  # the argmax
    # beta 1: probabilities (1/4, 3/4) in groups 0 and 1, a uniform of 0.2 falls on the first, 0.3 on the second;
    # group 2: e^5 / (1 + e^5) = 0.9933 on the first
    assert dpa.kl_regularized_pick(U, 1.0, _Uniforms([0.2, 0.3, 0.99])).tolist() == [0, 1, 0]
    # beta 2: (1, sqrt 3) / (1 + sqrt 3) = (0.366, 0.634) in groups 0 and 1; group 2: e^2.5 / (1 + e^2.5) = 0.924
    assert dpa.kl_regularized_pick(U, 2.0, _Uniforms([0.36, 0.37, 0.93])).tolist() == [0, 1, 1]


def test_the_papers_argmax_is_the_default_and_the_kl_aware_pick_is_selectable(tmp_path):
    assert (dpa.DPASection().selection, dpa.DPASection().pick_beta) == ("linear", 0.0)
    method = {"name": "dpa", "selection": "par", "pick_beta": 1}
    config = parse_config(tiny_sweep_dict(tmp_path, method=method))
    assert (config.method.selection, config.method.pick_beta) == ("par", 1.0)


# ----------------------------------------------------------------------------------------------- vocabulary
def test_template_pieces_added_to_a_word_level_tokenizer(tiny_policy_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    before = len(tokenizer)
    text = format_conditioned_prompt("a b", [0.6, 0.8], DPA_TEMPLATE)
    assert tokenizer.unk_token_id in tokenizer(text)["input_ids"]
    added = extend_vocabulary(model, tokenizer, _conditioned.vocabulary_texts(DPA_TEMPLATE, 2))
    assert {"maximize", "helpful", "*", "100", "60", "-", "|"} <= set(added)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == before + len(added)
    pieces = tokenizer.tokenize(format_conditioned_prompt("a b", [1.0, -0.004], DPA_TEMPLATE))
    assert pieces == ["maximize", "weighted", "rating", "=", "helpful", "*", "100", "+", "length", "*", "0", "|",
                      "a", "b"]  # fmt: skip
    assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]
    assert "100" in pieces and "10" not in pieces  # one token, not "10" and a digit
    assert tokenizer.tokenize("a b c") == ["a", "b", "c"]  # the corpus's words are untouched
    assert model.generation_config.suppress_tokens == list(range(before, len(tokenizer)))
    assert extend_vocabulary(model, tokenizer, _conditioned.vocabulary_texts(DPA_TEMPLATE, 2)) == []


# ----------------------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    ("method", "message"),
    [
        ({"name": "dpa", "front_directions": [[0.0, 0.0]]}, "method.front_directions[0]: the zero vector is no direction"),
        ({"name": "dpa", "front_directions": [[1.0, 0.0], [1.0, 0.0, 0.0]]}, "method.front_directions[1]: a direction has 2 values"),
        ({"name": "dpa", "front_directions": [[0.2, 1.0]]}, "method.front_directions[0]: direction [0.2, 1.0] is at 78.7 degrees, outside the cone [-45, 45]"),
        ({"name": "dpa", "space": "sphere", "front_directions": [[1.0, -0.5]]}, "method.front_directions[0]: direction [1.0, -0.5] has negative weights"),
        ({"name": "dpa", "angle_range": [50, 10]}, "method.angle_range: needs -90 <= low < high <= 90"),
        ({"name": "dpa", "template": "rate {c[0]} : {prompt}"}, "method.template: needs each of {c[0]}..{c[1]} exactly once"),
        ({"name": "dpa", "template": "{c[0]} {c[1]} {x}"}, "method.template field {x}: expected {prompt} or {c[k]}"),
        ({"name": "dpa", "iterations": 0}, "method.iterations: Input should be greater than or equal to 1"),
        ({"name": "dpa", "selection": "kl"}, "method.selection: Input should be 'linear' or 'par'"),
        ({"name": "dpa", "pick_beta": -1}, "method.pick_beta: Input should be greater than or equal to 0"),
        ({"name": "ric", "online_trl": {"learnin_rate": 1e-4}}, "method.online_trl.learnin_rate: unknown SFTConfig field"),
        ({"name": "ric", "mapping": "l3"}, "method.mapping: Input should be 'linf', 'l2' or 'linear'"),
        ({"name": "ric", "trl": {"max_lenght": 3}}, "method.trl.max_lenght: unknown SFTConfig field"),
    ],
)  # fmt: skip
def test_config_errors_name_the_field(tmp_path, method, message):
    with pytest.raises(ConfigError) as err:
        parse_config(tiny_sweep_dict(tmp_path, method=method), source="c.yaml")
    assert str(err.value).startswith(f"c.yaml: {message}") and "\n" not in str(err.value), str(err.value)


def test_angle_space_needs_two_objectives(tmp_path):
    config = tiny_sweep_dict(tmp_path, method={"name": "dpa"})
    config["objectives"].append({"name": "flagged", "gold": "flagged_words", "direction": "min"})
    config["reference_point"].append(-24.0)
    config["weights"] = {"kind": "das-dennis", "n_partitions": 1}
    with pytest.raises(ConfigError, match="method.space: 'angle' describes two objectives, the config has 3"):
        parse_config(config)
    config["method"]["space"] = "simplex"
    assert parse_config(config).method.space == "simplex"


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        ({"kind": "conditioned", "path": "p", "direction": [1.0, 0.0], "condition": {"kind": "integer_weights"}}, "needs its 'template'"),
        ({"kind": "conditioned", "path": "p", "direction": [1.0, 0.0], "template": "{c[0]} {prompt}"}, "exactly once"),
        ({"kind": "conditioned", "path": "p", "direction": [0.5, 0.5], "template": RIC_TEMPLATE,
          "condition": {"kind": "desired_scores", "low": [0.0], "high": [1.0, 1.0]}}, "condition.low: expected 2 values"),
        ({"kind": "conditioned", "path": "p", "direction": [0.5, 0.5], "template": RIC_TEMPLATE,
          "condition": {"kind": "scores"}}, "unknown condition kind"),
        ({"kind": "checkpoint", "path": "p", "template": RIC_TEMPLATE}, "not used by policy kind 'checkpoint'"),
    ],
)  # fmt: skip
def test_bad_conditioned_handles_refused(handle, message):
    with pytest.raises(ValueError, match=message):
        PolicyHandle(**handle)


# ----------------------------------------------------------------------------------------------- end to end
EVALUATION = {"samples_per_prompt": 8, "max_prompts": 12, "generation": {"max_new_tokens": 12}}
SFT = {"learning_rate": 3e-3, "num_train_epochs": 3, "per_device_train_batch_size": 16, "logging_steps": 50}
# gold rewards cannot be hacked: the paper's argmax pick (pick_beta 0) moves the policy furthest in two rounds
DPA_GOLD = {"name": "dpa", "reward_source": "gold", "pick_beta": 0, "angle_range": [0, 90], "front_angles": 2, "iterations": 2,
            "directions_per_prompt": 32, "n": 4, "max_new_tokens": 12, "template": "{prompt} verbose*{c[0]} length*{c[1]}",
            "trl": {**SFT, "learning_rate": 1e-3, "num_train_epochs": 2}}  # fmt: skip
RIC_GOLD = {"name": "ric", "reward_source": "gold", "online_iterations": 1, "online_samples": 200,
            "max_new_tokens": 12, "trl": SFT, "online_trl": {"learning_rate": 1e-3, "num_train_epochs": 1}}  # fmt: skip


def _sweep(tmp_path, cache, method: dict, **overrides):
    config = tiny_sweep_dict(cache, method=method, **{"evaluation": EVALUATION, **overrides})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    return path, run_dir


# The paper's verbosity axis: the same word count maximized by one objective and minimized by the other, so a
# direction asks for a length and nothing else (the test base model writes too few topic words for helpfulness
# to pull against length in a few rounds). The template writes the weights after the prompt: this one-layer model
# does not learn to read them from the front of a long prompt in two rounds (the benchmark's model does).
VERBOSITY = [{"name": "verbose", "gold": "word_count", "direction": "max"},
             {"name": "length", "gold": "word_count", "direction": "min"}]  # fmt: skip


@pytest.fixture(scope="module")
def dpa_run(tmp_path_factory, benchmark_cache):
    return _sweep(tmp_path_factory.mktemp("dpa"), benchmark_cache, DPA_GOLD,
                  evaluation={**EVALUATION, "samples_per_prompt": 16}, objectives=VERBOSITY)  # fmt: skip


@pytest.fixture(scope="module")
def ric_run(tmp_path_factory, benchmark_cache):
    return _sweep(tmp_path_factory.mktemp("ric"), benchmark_cache, RIC_GOLD,
                  weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]})  # fmt: skip


def _se(p, k):
    return p.stderr[k]


@pytest.mark.slow
def test_dpa_moves_the_objectives_in_the_direction_asked(dpa_run):
    front = read_front(dpa_run[1])
    verbose, short = front.points  # directions (1, 0): more words, and (0, 1): fewer words
    assert verbose.direction == [1.0, 0.0] and short.direction == [0.0, 1.0]
    words_verbose, words_short = verbose.values[0], short.values[0]
    gap = np.hypot(_se(verbose, 0), _se(short, 0))
    assert words_verbose - words_short > 2 * gap, (
        verbose.values,
        short.values,
    )  # one model, two lengths asked
    base = front.baselines[0].values[0]
    assert words_short < base - 2 * _se(short, 0), (base, short.values)  # shorter than the base when asked


@pytest.mark.slow
def test_dpa_points_are_conditioned_handles_on_one_shared_model(dpa_run):
    _, run_dir = dpa_run
    front = read_front(run_dir)
    assert set(front.compute.shared) == {"dpa-s0"}
    model = front.compute.shared["dpa-s0"]
    assert model.policy_updates > 0 and model.generated_tokens > 0 and model.trained_tokens > 0
    assert front.compute.total.policy_updates == model.policy_updates  # counted once, not once per point
    paths = {p.policy.path for p in front.points}
    assert paths == {"points/dpa-s0/round-02/policy"} and not (run_dir / "points/dpa-s0/round-01").exists()
    assert [r["round"] for r in front.points[0].metadata["rounds"]] == [1, 2]
    responses = {}
    for p in front.points:
        assert p.compute.shared == ["dpa-s0"] and p.compute.policy_updates == 0
        assert p.policy.template == DPA_GOLD["template"]
        assert p.policy.condition == {"kind": "integer_weights", "scale": 100}
        policy = load_policy(p.policy.model_dump(exclude_none=True), run_dir)
        written = policy.format_prompt("write about ocean :")
        assert (
            written
            == f"write about ocean : verbose*{round(100 * p.direction[0])} length*{round(100 * p.direction[1])}"
        )
        responses[p.id] = policy.generate(["write about ocean :"] * 16, seed=5).responses
        assert all(
            "*" not in r and "maximize" not in r for r in responses[p.id]
        )  # template pieces never sampled
    assert responses["v00-s0"] != responses["v01-s0"]  # the direction in the prompt changes what it writes


@pytest.mark.slow
def test_dpa_resumes_after_its_last_finished_round(tmp_path, benchmark_cache, monkeypatch):
    method = {**DPA_GOLD, "iterations": 2, "directions_per_prompt": 2, "n": 2,
              "trl": {**SFT, "num_train_epochs": 1}}  # fmt: skip
    real = dpa.fine_tune
    calls = []

    def killed_in_round_two(*args, **kwargs):
        calls.append(args[7])  # the round's label
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(dpa, "fine_tune", killed_in_round_two)
    config = tiny_sweep_dict(benchmark_cache, method=method, evaluation=EVALUATION)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 130
    assert (run_dir / "points/dpa-s0/round-01/policy/config.json").exists()
    calls.clear()
    monkeypatch.setattr(dpa, "fine_tune", lambda *a, **k: (calls.append(a[7]), real(*a, **k))[1])
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    assert calls == ["dpa-s0 round 2/2"]  # round 1 was not redone
    front = read_front(run_dir)
    assert {p.policy.path for p in front.points} == {"points/dpa-s0/round-02/policy"}
    assert not list(run_dir.glob("points/*/.train-*"))


@pytest.mark.slow
def test_ric_points_follow_their_preference(ric_run):
    front = read_front(ric_run[1])
    helpful, middle, short = front.points  # weights (1, 0), (0.5, 0.5), (0, 1)
    gap = np.hypot(_se(helpful, 1), _se(short, 1))
    assert short.values[1] - helpful.values[1] > 2 * gap, (helpful.values, short.values)
    assert helpful.metadata["desired_scores"][0] == helpful.policy.condition["high"][0]
    assert middle.metadata["desired_scores"] == [
        float(x) for x in helpful.policy.condition["high"]
    ]  # linf: both max
    low0 = helpful.policy.condition["low"][0]
    assert short.metadata["desired_scores"][0] == pytest.approx(low0)


@pytest.mark.slow
def test_ric_handles_load_generate_and_share_one_model(ric_run):
    _, run_dir = ric_run
    front = read_front(run_dir)
    assert set(front.compute.shared) == {"ric-s0"}
    model = front.compute.shared["ric-s0"]
    assert model.generated_tokens > 0 and model.policy_updates > 0  # the online round generated and trained
    for p in front.points:
        assert p.weights == p.direction and p.compute.shared == ["ric-s0"]
        handle = p.policy.model_dump(exclude_none=True)
        assert handle["condition"]["kind"] == "desired_scores" and handle["template"] == RIC_TEMPLATE
        policy = load_policy(handle, run_dir)
        written = policy.format_prompt("describe space :")
        scores = [float(x) for x in condition_values(p.weights, handle["condition"])]
        assert parse_conditioned_prompt(RIC_TEMPLATE, written) == ("describe space :", scores)
        assert len(policy.generate(["describe space :"] * 3, seed=1).responses) == 3


@pytest.mark.slow
def test_explorer_generates_at_the_slider_preference(dpa_run, ric_run):
    from pareto_align.explorer.live import (
        describe_handle,
        generate_responses,
        live_sources,
        load_live_policy,
        policy_cache_key,
    )
    from pareto_align.explorer.simplex import unit_direction

    w = [0.3, 0.7]
    for run_dir, kind in ((dpa_run[1], "integer_weights"), (ric_run[1], "desired_scores")):
        front = read_front(run_dir)
        sources, _ = live_sources(front.points, front.points[0], run_dir, w)
        source = {s.kind: s for s in sources}["conditioned"]
        assert (
            source.handle.condition["kind"] == kind
            and source.handle.template == front.points[0].policy.template
        )
        if kind == "integer_weights":  # DPA writes unit directions
            np.testing.assert_allclose(source.handle.direction, unit_direction(w))
            assert "written as (39, 92)" in describe_handle(source.handle)
        else:  # RiC writes simplex weights, mapped to desired scores
            assert source.handle.direction == pytest.approx(w) and "desired scores" in source.label
        policy = load_live_policy(policy_cache_key(run_dir, source.handle))
        assert len(generate_responses(policy, "write about ocean :", n=2)) == 2


def test_lora_refused_when_the_tokenizer_cannot_write_the_template(tmp_path, benchmark_cache, capsys):
    """The benchmark's word-level tokenizer needs new tokens for the template; a LoRA adapter cannot train them."""
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}
    config = tiny_sweep_dict(benchmark_cache, method={**DPA_GOLD, "iterations": 1}, evaluation=EVALUATION,
                             policy={"lora": lora})  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "policy.lora: the policy's tokenizer lacks" in err and "cannot train new embeddings" in err
