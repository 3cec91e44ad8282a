"""Panacea (online): config mistakes named by field; rewards scalarized by each row's own lambda against hand
values; the trainer's lambda at generation, in the rewards and at the loss forward, row by row, one per prompt
group; and a few-step sweep on the tiny benchmark whose front is one conditioned handle per weight vector on one
shared adapter, reloaded at any lambda (load_policy, the explorer), with a bad lambda refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_sweep_dict

from pareto_align.config import ConfigError, parse_config
from pareto_align.front import read_front
from pareto_align.methods import panacea
from pareto_align.models.policy import PolicyLoadError, load_policy
from pareto_align.models.svd_lora import (
    SVDLoRAConfig,
    inject_svd_lora,
    load_svd_lora,
    merged_weight,
    svd_lora_layers,
)
from pareto_align.objectives import Scalarization
from pareto_align.rewards import ObjectiveRewards

GOLD = {"name": "panacea", "reward_source": "gold", "rank": 2}


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("method", "extra", "message"),
    [
        ({"loss": "dpo"}, {}, "method.reward_source: used by loss 'rl' only"),
        ({"conditioning": "svd_lora", "template": "{prompt} {c[0]} {c[1]}"}, {}, "method.template"),
        ({"conditioning": "prompt", "template": "{prompt} {c[0]}"}, {}, "method.template"),
        ({"alpha": 0}, {}, "alpha"),
        ({"vertex_prob": 1.5}, {}, "vertex_prob"),
        ({"conditioning": "weights"}, {}, "conditioning"),
        ({"trl": {"reward_weights": [1, 0]}}, {}, "method.trl"),
        ({}, {"policy": {"lora": {"r": 4}}}, "policy.lora: panacea trains its own SVD-LoRA"),
        ({"target_modules": ["model.lm_head"]}, {}, "method.target_modules: 'model.lm_head' is not"),
    ],
)
def test_config_mistakes_are_named_by_field(tmp_path, method, extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_config(tiny_sweep_dict(tmp_path, method={**GOLD, **method}, **extra))


def test_one_job_per_seed_and_one_run_of_updates(tmp_path):
    config = parse_config(tiny_sweep_dict(tmp_path, method={**GOLD, "trl": {"max_steps": 7}}, seeds=[0, 3]))
    assert [j.id for j in panacea.plan(config, None)] == ["panacea-s0", "panacea-s3"]
    assert config.method.planned_updates(config).updates == 7  # the grid's size costs nothing


# ---------------------------------------------------------------------------------------------- rewards
class _FixedScorer:
    def __init__(self, r):
        self.r = torch.as_tensor(r, dtype=torch.float64)

    def score(self, prompts, responses):
        return self.r[: len(responses)]


def test_rewards_are_calibrated_and_scalarized_by_each_rows_lambda():
    raw = np.array([[2.0, 10.0], [4.0, 30.0], [0.0, 20.0]])  # (N, K)
    mean, std = np.array([2.0, 20.0]), np.array([2.0, 10.0])
    scorer = panacea.CalibratedScorer(_FixedScorer(raw), mean, std)
    lam = [[1.0, 0.0], [0.25, 0.75], [0.5, 0.5]]
    completions = ["x", "y", "z"]
    z = (raw - mean) / std  # [[0, -1], [1, 1], [-1, 0]]
    for kind, expected in (("linear", [0.0, 1.0, -0.5]),
                           ("tchebycheff", [-1.0 * 2.0 + 0.01 * (-2 - 3), -max(0.25 * 1, 0.75 * 1) + 0.01 * (-1 - 1),
                                            -max(0.5 * 3, 0.5 * 2) + 0.01 * (-3 - 2)])):  # fmt: skip
        s = Scalarization(kind=kind, ideal=[2.0, 2.0] if kind == "tchebycheff" else None)
        rewards = panacea.PreferenceRewards(ObjectiveRewards(scorer, ["a", "b"], [0.5, 0.5]), s)
        *objectives, utility = rewards.functions()
        assert utility.__name__ == panacea.UTILITY and rewards.weights() == [0.0, 0.0, 1.0]
        np.testing.assert_allclose(objectives[1](["p"] * 3, completions), z[:, 1])
        np.testing.assert_allclose(utility(["p"] * 3, completions, preference=lam), expected)


def test_corner_spread_flags_a_model_that_ignores_lambda():
    same = np.array([[1.0, 2.0], [1.0, 2.0]])
    width, ignored = panacea.corner_spread(same, np.full((2, 2), 0.1))
    assert width.tolist() == [0.0, 0.0] and ignored
    apart = np.array([[1.0, 0.0], [0.0, 1.0]])  # each corner best at its own objective
    width, ignored = panacea.corner_spread(apart, np.full((2, 2), 0.1))
    assert width.tolist() == [1.0, 1.0] and not ignored
    _, ignored = panacea.corner_spread(apart, np.full((2, 2), 0.5))  # within noise: 2 sqrt(2) 0.5 = 1.41
    assert ignored


# ---------------------------------------------------------------------------------------------- the trainer
@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_the_update_sees_the_generations_lambda_row_by_row(tiny_policy_dir, tmp_path, kind):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, RLOOConfig

    from pareto_align.hf_args import hardware_defaults
    from pareto_align.preference_sampling import group_shared_preferences
    from pareto_align.trainers.panacea_grpo import TRAINERS

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    inject_svd_lora(model, SVDLoRAConfig(rank=1, num_objectives=3))
    layer = next(layer for _, layer in svd_lora_layers(model))
    seen: list[tuple[str, torch.Tensor, torch.Tensor]] = []  # (phase, input_ids, lambda the layers hold)

    def record(module, args, kwargs):
        ids = kwargs["input_ids"]
        phase = "loss" if torch.is_grad_enabled() else ("logps" if "labels" in kwargs else "generate")
        if layer.enabled:  # the KL reference runs with the adapter off: lambda does not act there
            seen.append((phase, ids.clone(), layer.lam.clone()))

    model.register_forward_pre_hook(record, with_kwargs=True)
    with_grad: list[torch.Tensor] = []  # lambda at each forward of one layer with gradients, recomputes too

    def record_layer(module, args):
        if torch.is_grad_enabled():
            with_grad.append(module.lam.clone())

    layer.register_forward_pre_hook(record_layer)
    rewarded = []

    def reward(prompts, completions, preference=None, **_):
        rewarded.append(preference)
        return [float(len(c)) for c in completions]

    def draw(t, n_prompts, groups):
        return group_shared_preferences(np.random.default_rng([0, t]), n_prompts, groups, 3, 1.0, 0.25)

    config = {"grpo": GRPOConfig, "rloo": RLOOConfig}[kind]
    args = config(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                      steps_per_generation=2, max_completion_length=4, learning_rate=1e-2, beta=0.04,
                      gradient_checkpointing=True, report_to="none", logging_steps=1, save_strategy="no",
                      disable_tqdm=True, top_k=0, seed=0, **hardware_defaults())  # fmt: skip
    data = datasets.Dataset.from_dict({"prompt": ["a b", "c d", "e f", "g h", "a c", "b d"]})
    trainer = TRAINERS[kind](model=model, reward_funcs=[reward], args=args, train_dataset=data,
                                 processing_class=tokenizer, draw_preferences=draw)  # fmt: skip
    rollouts = []
    real = trainer._generate_and_score_completions

    def keep(inputs):
        out = real(inputs)
        rollouts.append(out)
        return out

    trainer._generate_and_score_completions = keep
    trainer.train()

    lam_of: dict[tuple, set] = {}
    for out, given in zip(rollouts, rewarded, strict=True):
        lam = out["preference"]  # (B, K)
        assert torch.allclose(lam.sum(dim=1), torch.ones(len(lam)))
        groups = lam.view(-1, 2, 3)  # (prompts, G, K): TRL's group order
        assert torch.equal(groups[:, 0], groups[:, 1])  # one lambda per prompt group
        assert len({tuple(g[0].tolist()) for g in groups}) == len(groups)  # and different across groups
        np.testing.assert_allclose(given, lam.numpy())  # the rewards scalarize with the row's lambda
        rows = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)  # (B, P+C)
        for row, row_lam in zip(rows, lam, strict=True):
            lam_of.setdefault(tuple(row.tolist()), set()).add(tuple(row_lam.tolist()))
    assert len(rollouts) == 1  # one generation of 4 prompts x 2, split into two optimizer steps
    generated = [lam for phase, _, lam in seen if phase == "generate"]
    assert len(generated) > 1 and all(torch.equal(g, rollouts[0]["preference"]) for g in generated)
    forwards = [(phase, ids, lam) for phase, ids, lam in seen if phase != "generate"]
    # the old log-probs in two chunks of TRL's batch size, then two loss forwards
    assert [phase for phase, _, _ in forwards] == ["logps", "logps", "loss", "loss"]
    for _, ids, lam in forwards:
        assert lam.shape == (len(ids), 3) == (4, 3)
        for row, row_lam in zip(ids, lam, strict=True):
            assert tuple(row_lam.tolist()) in lam_of[tuple(row.tolist())]  # the generation's lambda
    losses = [lam for phase, _, lam in forwards if phase == "loss"]
    assert len(with_grad) == 2 * 2  # each loss forward is run again in backward (gradient checkpointing) ...
    expected = [losses[0], losses[0], losses[1], losses[1]]
    assert all(torch.equal(a, b) for a, b in zip(with_grad, expected, strict=True))
    halves = rollouts[0]["preference"][:4], rollouts[0]["preference"][4:]
    # TRL shuffled the rows before splitting them: the checks above have teeth
    assert not all(torch.equal(a, b) for a, b in zip(losses, halves, strict=True))


# ---------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def panacea_run(tmp_path_factory, benchmark_cache):
    from pareto_align.sweep import run_sweep

    method = {**GOLD, "history_every": 2, "spread_prompts": 2, "history_samples_per_prompt": 2, "front_every": 2,
              "sampling": "adaptive", "adaptive": {"every": 2, "n_partitions": 2, "prompts": 2},
              "trl": {"max_steps": 3, "per_device_train_batch_size": 8, "num_generations": 4,
                      "max_completion_length": 12, "learning_rate": 5e-2, "beta": 0.04, "logging_steps": 1}}  # fmt: skip
    weights = {"kind": "explicit", "weights": [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]}
    config = parse_config(tiny_sweep_dict(benchmark_cache, method=method, weights=weights))
    run_dir = tmp_path_factory.mktemp("panacea") / "run"
    run_sweep(config, run_dir, progress=False, log=lambda *a: None)
    return config, run_dir


@pytest.mark.slow
def test_one_model_gives_one_conditioned_point_per_weight_vector(panacea_run):
    _, run_dir = panacea_run
    front = read_front(run_dir)
    assert [p.weights for p in front.points] == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert set(front.compute.shared) == {"panacea-s0", "par_reference"}
    trained = front.compute.shared["panacea-s0"]
    assert trained.policy_updates == 3 and trained.generated_tokens > 0
    assert front.compute.total.policy_updates == 3  # counted once, not once per point
    for p in front.points:
        assert p.policy.kind == "conditioned" and p.policy.conditioning == "svd_lora"
        assert p.policy.path == "points/panacea-s0/svd_lora" and p.policy.direction == p.weights
        assert p.policy.template is None and p.compute.shared == ["panacea-s0", "par_reference"]
        assert p.compute.policy_updates == 0
    spread = [h for h in front.history if getattr(h, "kind", None) == "preference_spread"]
    assert [h.step for h in spread] == [2, 3]
    assert all(len(h.spread) == 2 and isinstance(h.preference_ignored, bool) for h in spread)
    # sampling 'adaptive': the coarse grid evaluated once (step 2 of 3), its probabilities from that front's gaps
    from pareto_align.preference_sampling import gap_weights

    (sampling,) = [h for h in front.history if getattr(h, "kind", None) == "preference_sampling"]
    assert sampling.step == 2 and sampling.grid == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    assert sampling.sampling_probs == pytest.approx(gap_weights(np.array(sampling.grid_values)).tolist())


@pytest.mark.slow
def test_the_front_evaluated_while_training_starts_the_anytime_curve(panacea_run):
    from pareto_align.export.anytime import anytime_curve
    from pareto_align.export.runs import load_runs, seed_groups
    from pareto_align.front.indicators import hypervolume

    _, run_dir = panacea_run
    front = read_front(run_dir)
    (snapshot,) = [
        h for h in front.history if getattr(h, "kind", None) == "front"
    ]  # step 2 of 3: the last is the front
    assert snapshot.step == 2 and snapshot.seed == 0 and snapshot.samples_per_prompt == 4
    assert snapshot.front_weights == [p.weights for p in front.points] and len(snapshot.front_values) == 3
    assert snapshot.hypervolume == pytest.approx(
        hypervolume(np.array(snapshot.front_values), front.reference_point, front.normalization)
    )
    assert snapshot.compute["policy_updates"] == 2 and snapshot.compute["shared"] == ["par_reference"]
    assert 0 < snapshot.compute["generated_tokens"] < front.compute.shared["panacea-s0"].generated_tokens
    # its evaluations are measurement: the run's wall time leaves them out
    assert snapshot.seconds > 0 and front.compute.shared["panacea-s0"].wall_seconds > 0
    (run,) = load_runs([run_dir])
    (group,) = seed_groups([run])
    curve = anytime_curve(group, run)
    calibration = front.compute.shared["par_reference"]
    assert curve.policy_updates[0] == 2 + calibration.policy_updates and curve.policy_updates[-1] == 3
    assert curve.total_tokens[0] == (snapshot.compute["trained_tokens"] + snapshot.compute["generated_tokens"]
                                     + calibration.trained_tokens + calibration.generated_tokens)  # fmt: skip
    assert curve.hypervolume[0] == snapshot.hypervolume and len(curve.hypervolume) == 1 + len(front.points)


@pytest.mark.slow
def test_handles_reload_at_their_lambda_and_a_bad_lambda_is_refused(panacea_run):
    from safetensors.torch import load_file

    _, run_dir = panacea_run
    front = read_front(run_dir)
    saved = load_file(run_dir / "points/panacea-s0/svd_lora/svd_lora.safetensors")
    name = "model.layers.0.self_attn.q_proj"
    assert saved[f"{name}.s"].abs() > 0  # it trained
    base = load_policy({"kind": "checkpoint", "path": "base/policy"}, run_dir).model
    for p in front.points:
        policy = load_policy(p.policy.model_dump(exclude_none=True), run_dir)
        # lambda is in the weights alone
        assert policy.format_prompt("write about ocean :") == "write about ocean :"
        lam = torch.tensor(p.weights)
        d = torch.cat([saved[f"{name}.sigma"], saved[f"{name}.s"] * lam])  # (r+K,)
        expected = base.get_submodule(name).weight + (saved[f"{name}.U"] * d) @ saved[f"{name}.V"].T
        torch.testing.assert_close(policy.model.get_submodule(name).weight, expected)
        assert len(policy.generate(["write about ocean :"] * 2, seed=1).responses) == 2
    bad = {**front.points[0].policy.model_dump(exclude_none=True), "direction": [0.2, 0.3, 0.5]}
    with pytest.raises(PolicyLoadError, match="expected 2 values per row"):
        load_policy(bad, run_dir)
    # conditioning 'prompt' on an SVD-LoRA: the direction is written, the adapter held at the simplex centre
    template = "{prompt} | {c[0]} {c[1]}"
    prompt_handle = {**bad, "direction": [0.9, 0.1], "conditioning": "prompt", "template": template}
    written = load_policy(prompt_handle, run_dir)
    assert written.format_prompt("x :") == "x : | 90 10"
    centre = load_policy({**bad, "direction": [0.5, 0.5]}, run_dir).model.get_submodule(name).weight
    torch.testing.assert_close(written.model.get_submodule(name).weight, centre)
    with pytest.raises(PolicyLoadError, match="needs an SVD-LoRA"):
        load_policy({**bad, "path": "base/policy", "direction": [0.5, 0.5]}, run_dir)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"direction": [0.5, 0.6]}, "direction must sum to 1"),
        ({"template": "{prompt} {c[0]} {c[1]}"}, "conditioning 'svd_lora' writes nothing into the prompt"),
        ({"conditioning": "lambda"}, "conditioning"),
    ],
)
def test_a_conditioned_handle_on_an_adapter_is_checked(fields, message):
    from pareto_align.front import PolicyHandle

    handle = {
        "kind": "conditioned",
        "path": "p/svd_lora",
        "direction": [0.5, 0.5],
        "conditioning": "svd_lora",
    }
    PolicyHandle(**handle)
    with pytest.raises(ValueError, match=message):
        PolicyHandle(**{**handle, **fields})
    dpa = PolicyHandle(
        kind="conditioned", path="p", direction=[2.0, -1.0]
    )  # a direction off the simplex, as before
    assert dpa.conditioning is None


@pytest.mark.slow
def test_explorer_sets_the_sliders_weights_as_the_adapters_lambda(panacea_run):
    from pareto_align.explorer import live

    _, run_dir = panacea_run
    front = read_front(run_dir)
    sources, _ = live.live_sources(front.points, front.points[0], run_dir, [0.2, 0.8])
    source = {s.kind: s for s in sources}["conditioned"]
    assert source.handle.conditioning == "svd_lora" and source.handle.template is None
    assert source.handle.direction == pytest.approx([0.2, 0.8]) and "Panacea" in source.label
    policy = live.load_live_policy(live.policy_cache_key(run_dir, source.handle))
    layer_name = "model.layers.0.self_attn.q_proj"
    adapter = load_svd_lora(load_policy({"kind": "checkpoint", "path": "base/policy"}, run_dir).model,
                            run_dir / "points/panacea-s0/svd_lora")  # fmt: skip
    expected = merged_weight(adapter.get_submodule(layer_name), [0.2, 0.8])
    torch.testing.assert_close(policy.model.get_submodule(layer_name).weight, expected)
    assert len(live.generate_responses(policy, "write about ocean :", n=2)) == 2


@pytest.mark.slow
def test_both_conditionings_and_a_trained_job_is_not_trained_again(tmp_path, benchmark_cache, monkeypatch):
    """conditioning 'both': lambda in the adapter and in the prompt, the tiny tokenizer's template pieces in a
    saved copy of the base the adapter names; a run killed after training evaluates without training again."""
    import json

    from pareto_align.sweep import run_sweep

    method = {**GOLD, "conditioning": "both", "history_every": 0, "front_every": 1, "front_samples_per_prompt": 1,
              "trl": {"max_steps": 2, "per_device_train_batch_size": 8, "num_generations": 4,
                      "max_completion_length": 8}}  # fmt: skip
    config = parse_config(tiny_sweep_dict(benchmark_cache, method=method))
    run_dir = tmp_path / "run"
    run_sweep(config, run_dir, progress=False, log=lambda *a: None)
    adapter = json.loads((run_dir / "points/panacea-s0/svd_lora/svd_lora_config.json").read_text())
    assert adapter["base_model"] == "points/panacea-s0/base"  # the base with the template's pieces
    front = read_front(run_dir)
    for p in front.points:
        assert p.policy.conditioning == "both" and p.policy.template is not None
        policy = load_policy(p.policy.model_dump(exclude_none=True), run_dir)
        weights = [round(100 * w) for w in p.weights]
        assert policy.format_prompt("x :") == f"maximize weighted rating = helpful*{weights[0]} + length*{weights[1]} | x :"  # fmt: skip
        responses = policy.generate(["write about ocean :"] * 8, seed=1).responses
        assert not any("*" in r or "maximize" in r for r in responses)  # the template's pieces are suppressed
    (run_dir / "front.json").unlink()  # killed after training, before its points were recorded
    monkeypatch.setattr(panacea, "TRAINERS", {})  # training again would fail here
    run_sweep(config, run_dir, progress=False, log=lambda *a: None)
    again = read_front(run_dir)
    assert [p.values for p in again.points] == [p.values for p in front.points]
    # the front evaluated at step 1 (lambda in the prompt and the adapter) came back with the trained record
    (snapshot,) = [h for h in again.history if getattr(h, "kind", None) == "front"]
    assert snapshot.step == 1 and len(snapshot.front_values) == len(front.points)


def test_each_generation_draws_anew_and_rewards_score_the_users_prompt(tiny_policy_dir, tmp_path):
    """Three generations draw at stream positions 0, 1, 2 (fresh lambdas each batch); with lambda written into the
    prompt, the policy sees the written prompt and the objectives judge the user's."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig

    from pareto_align.hf_args import hardware_defaults
    from pareto_align.preference_sampling import group_shared_preferences
    from pareto_align.trainers.panacea_grpo import PanaceaGRPOTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    inject_svd_lora(model, SVDLoRAConfig(rank=1, num_objectives=2))
    positions, seen = [], []

    def draw(t, n_prompts, groups):
        positions.append(t)
        return group_shared_preferences(np.random.default_rng([0, t]), n_prompts, groups, 2, 1.0, 0.0)

    def reward(prompts, completions, plain_prompt=None, preference=None, **_):
        seen.append((list(prompts), list(plain_prompt), [tuple(p) for p in preference]))
        return [0.0] * len(prompts)

    args = GRPOConfig(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=2, learning_rate=1e-3, beta=0.0, report_to="none", save_strategy="no",
                      disable_tqdm=True, seed=0, **hardware_defaults())  # fmt: skip
    data = datasets.Dataset.from_dict({"prompt": ["a b", "c d", "e f", "g h"]})
    trainer = PanaceaGRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=data,
                                 processing_class=tokenizer, draw_preferences=draw,
                                 write_preference=lambda p, lam: f"h {p}")  # fmt: skip
    trainer.train()
    assert positions == [0, 1, 2]
    drawn = [frozenset(lams) for _, _, lams in seen]
    assert len(set(drawn)) == 3  # every batch its own lambdas
    for prompts, plain, _ in seen:
        assert all(p == f"h {u}" for p, u in zip(prompts, plain, strict=True))
        assert set(plain) <= {"a b", "c d", "e f", "g h"}


def test_the_objectives_score_the_users_prompt_not_the_written_one():
    class PromptScorer:  # objective 0: the prompt's length in words, objective 1: the response's
        def score(self, prompts, responses):
            return torch.tensor([[len(p.split()), len(r.split())] for p, r in zip(prompts, responses, strict=True)],
                                dtype=torch.float64)  # fmt: skip

    scorer = panacea.CalibratedScorer(PromptScorer(), np.zeros(2), np.ones(2))
    rewards = panacea.PreferenceRewards(ObjectiveRewards(scorer, ["a", "b"], [0.5, 0.5]), Scalarization())
    *objectives, utility = rewards.functions()
    written, plain = ["maximize a * 100 | x y", "maximize a * 0 | x"], ["x y", "x"]
    kwargs = {"prompts": written, "completions": ["u", "u v"], "plain_prompt": plain}
    assert objectives[0](**kwargs) == [2.0, 1.0]
    assert utility(**kwargs, preference=[[1.0, 0.0], [0.5, 0.5]]) == [2.0, 1.5]
    assert objectives[0](prompts=plain, completions=["u", "u v"]) == [2.0, 1.0]  # alone: the prompts given


# ---------------------------------------------------------------------------------------------- prompt rows
def test_new_template_rows_are_redrawn_at_their_ids_in_a_padded_matrix(tiny_policy_dir):
    """A matrix padded past its tokenizer (as Qwen2.5's) already holds rows for the new ids: those rows are redrawn,
    distinct from each other, and the padding rows after them and every old row stay as they were."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pareto_align.methods._conditioned import vocabulary_texts
    from pareto_align.models.conditioning import extend_vocabulary

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    before = len(tokenizer)
    model.resize_token_embeddings(before + 256)  # padding rows past the tokenizer
    template = "maximize {c[0]} and {c[1]} | {prompt}"
    added = extend_vocabulary(model, tokenizer, vocabulary_texts(template, 2))
    ids = tokenizer.convert_tokens_to_ids(added)
    n = len(ids)
    assert ids == list(range(before, before + n)) and before + n < before + 256  # not the matrix's last rows
    original = model.get_input_embeddings().weight.detach().clone()  # (V + 64, H)
    panacea.distinct_new_rows(model, ids, seed=0)
    now = model.get_input_embeddings().weight.detach()
    assert torch.equal(now[:before], original[:before]) and torch.equal(
        now[before + n :], original[before + n :]
    )
    new = now[before : before + n]  # (n, H)
    assert not torch.equal(new, original[before : before + n])
    # distinct inputs: every pair of new rows as far apart as old rows are, not transformers' near-mean copies
    gaps = torch.cdist(new, new)[~torch.eye(n, dtype=torch.bool)]
    old_gap = torch.cdist(original[:before], original[:before]).mean()
    assert gaps.min() > 0.3 * old_gap
    torch.testing.assert_close(new.mean(0), original[:before].mean(0), atol=4 * float(original[:before].std(0).max()), rtol=0)  # fmt: skip


def test_the_mixins_bookkeeping_on_hand_values(monkeypatch):
    """The Panacea mixin without a model (what mutation testing found unchecked): which rows of the drawn batch a
    process keeps and how it writes them into its inputs, in training and in evaluation; how a forward over several
    chunks sets each chunk's rows and joins TRL's outputs; the loss's rows; the refusal of a chunked forward with
    gradients."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from trl import GRPOTrainer

    from pareto_align.trainers import panacea_grpo
    from pareto_align.trainers.panacea_grpo import PanaceaGRPOTrainer, _AdapterOff

    draws, held, given, preferences = [], [], [], []

    def draw(t, n_prompts, groups):
        draws.append((t, n_prompts, groups))
        return np.arange(n_prompts * groups * 2, dtype=float).reshape(-1, 2)  # (n_prompts * groups, 2)

    @contextmanager
    def preference(model, rows):
        preferences.append(rows.clone())
        yield

    def generate(self, inputs):
        given.append(inputs)
        held.append(self._rows)
        return {}

    monkeypatch.setattr(panacea_grpo, "preference", preference)
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", generate)
    trainer = object.__new__(PanaceaGRPOTrainer)  # no TRL set-up: only what the mixin reads
    trainer.__dict__.update(
        draw_preferences=draw, write_preference=lambda p, lam: f"{lam[0]:g} {p}", condition_adapter=True,
        _generations=0, _rows=None, num_generations=2, num_generations_eval=4, model=SimpleNamespace(training=True),
        accelerator=SimpleNamespace(num_processes=2, process_index=1, device="cpu"))  # fmt: skip
    # process 1 of 2, two prompts x one completion each here: the global batch is 4 rows, 2 groups of 2
    out = trainer._generate_and_score_completions([{"prompt": "a"}, {"prompt": "b"}])
    assert draws == [(0, 2, 2)] and out["preference"].tolist() == [[4.0, 5.0], [6.0, 7.0]]  # rows 2 and 3
    assert given[0] == [{"prompt": "4 a", "plain_prompt": "a", "preference": [4.0, 5.0]},
                        {"prompt": "6 b", "plain_prompt": "b", "preference": [6.0, 7.0]}]  # fmt: skip
    assert held[0].tolist() == preferences[0].tolist() == [[4.0, 5.0], [6.0, 7.0]] and trainer._rows is None
    trainer.model.training = False  # evaluation draws groups of num_generations_eval, at the next position
    trainer.condition_adapter, trainer.write_preference = False, None
    trainer.accelerator.process_index = 0
    out = trainer._generate_and_score_completions([{"prompt": "a"}] * 4)
    assert draws[1] == (1, 2, 4) and out["preference"].tolist() == np.arange(8.0).reshape(4, 2).tolist()
    assert [x["prompt"] for x in given[1]] == ["a"] * 4 and held[1] is None and len(preferences) == 1

    # a forward in chunks: each chunk's rows set on the adapter, TRL's outputs joined in order
    calls = []

    def logps(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, **kwargs):
        calls.append((input_ids[:, 0].tolist(), batch_size, kwargs))
        first = float(input_ids[0, 0])
        return input_ids.float(), None if kwargs.get("plain") else -input_ids.float(), torch.tensor(first)

    set_rows = []
    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", logps)
    monkeypatch.setattr(
        panacea_grpo, "set_preference", lambda model, rows: set_rows.append((model, rows.tolist()))
    )
    model = torch.nn.Linear(1, 1)
    ids = torch.arange(5).view(5, 1)  # row i holds i
    trainer._rows = torch.arange(10.0).view(5, 2)
    with torch.no_grad():
        lp, ent, aux = trainer._get_per_token_logps_and_entropies(model, ids, ids, 1, batch_size=2, extra=3)
    assert [c[:2] for c in calls] == [([0, 1], 2), ([2, 3], 2), ([4], 1)] and calls[0][2] == {"extra": 3}
    assert set_rows == [(model, [[0, 1], [2, 3]]), (model, [[4, 5], [6, 7]]), (model, [[8, 9]])]
    assert lp.tolist() == ids.float().tolist() and ent.tolist() == (-ids.float()).tolist()
    assert aux.item() == pytest.approx((0 + 2 + 4) / 3)  # the chunks' aux losses, averaged
    set_rows.clear()
    with torch.no_grad():  # the KL reference: the rows are set on the policy inside it; no entropies asked
        _, ent, _ = trainer._get_per_token_logps_and_entropies(_AdapterOff(model), ids, ids, 1, plain=True)
    assert set_rows == [(model, trainer._rows.tolist())] and ent is None
    with pytest.raises(RuntimeError) as err:
        trainer._get_per_token_logps_and_entropies(model, ids, ids, 1, batch_size=2)
    assert str(err.value) == "panacea: a forward with gradients must be one chunk (lambda set per forward)"
    trainer._rows = None  # no rows: TRL's own forward, untouched
    calls.clear()
    trainer._get_per_token_logps_and_entropies(model, ids, ids, 1, batch_size=2)
    assert [c[:2] for c in calls] == [([0, 1, 2, 3, 4], 2)]

    # the loss forward sees the rows of its inputs (only when lambda conditions the adapter), and none after
    seen_rows = []
    monkeypatch.setattr(
        GRPOTrainer, "_compute_loss", lambda self, model, inputs: seen_rows.append(self._rows)
    )
    lam = torch.full((2, 2), 0.5)
    for condition in (True, False):
        trainer.condition_adapter = condition
        trainer._compute_loss(model, {"preference": lam})
        assert trainer._rows is None
    assert seen_rows[0] is lam and seen_rows[1] is None
