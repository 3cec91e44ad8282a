"""Panacea's offline loss and adaptive preference sampling: the preference-weighted DPO loss against hand values and
against separate forwards of each row at its own lambda; the lambda of the loss is the lambda of the conditioning
forward, row by row; config mistakes named by field; the reference log-probs keyed as MODPO's (shared); the gap-
weighted sampler's statistics on a hand-made front; its hook every `every` steps; a few-step sweep."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_sweep_dict

from pareto_align.config import ConfigError, parse_config
from pareto_align.models.svd_lora import SVDLoRAConfig, inject_svd_lora, preference, svd_lora_layers
from pareto_align.preference_sampling import AdaptivePreferences, gap_weights, sample_preferences
from pareto_align.trainers.panacea_dpo import panacea_dpo_loss

DPO = {"name": "panacea", "loss": "dpo", "rank": 2}


# ---------------------------------------------------------------------------------------------- the loss
def test_loss_weights_each_rows_dpo_loss_by_its_lambda_of_its_objective():
    chosen, rejected = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    ref_chosen, ref_rejected = torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0])
    lam = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    objective = torch.tensor([0, 1])
    # delta = [(-1 + 2) - (-3 + 2), (-2 + 2) - (-1 + 2)] = [2, -1]; beta 0.5: l = [log(1 + e^-1), log(1 + e^0.5)]
    l0, l1 = math.log(1 + math.exp(-1.0)), math.log(1 + math.exp(0.5))
    losses, weights, loss = panacea_dpo_loss(chosen, rejected, ref_chosen, ref_rejected, lam, objective, 0.5)
    torch.testing.assert_close(losses, torch.tensor([l0, l1]))
    torch.testing.assert_close(weights, torch.tensor([0.8, 0.7]))  # lambda_0 of row 0, lambda_1 of row 1
    torch.testing.assert_close(loss, torch.tensor((0.8 * l0 + 0.7 * l1) / 2))
    scale = torch.tensor([1.0, 2.0])  # objective 1 has half the pairs: each of its rows counts twice
    _, _, loss = panacea_dpo_loss(chosen, rejected, ref_chosen, ref_rejected, lam, objective, 0.5, scale)
    torch.testing.assert_close(loss, torch.tensor((0.8 * l0 + 1.4 * l1) / 2))


def _sequence_logp(model, prompt_ids, completion_ids) -> torch.Tensor:
    """log pi(completion | prompt) from the model's plain logits (no fused head): an independent computation."""
    ids = torch.tensor([prompt_ids + completion_ids])  # (1, T)
    logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)  # (T-1, V)
    targets = ids[0, 1:]  # (T-1,)
    return logps[torch.arange(len(targets)), targets][len(prompt_ids) - 1 :].sum()


def test_the_loss_forward_conditions_each_row_on_the_lambda_it_is_weighted_by(tiny_policy_dir, tmp_path):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pareto_align.hf_args import hardware_defaults
    from pareto_align.trainers.modpo_config import MODPOConfig
    from pareto_align.trainers.panacea_dpo import PanaceaDPOTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    inject_svd_lora(model, SVDLoRAConfig(rank=1, num_objectives=2), seed=0)
    generator = torch.Generator().manual_seed(1)
    for _, layer in svd_lora_layers(model):  # a trained-looking adapter: lambda changes the outputs
        layer.s.data = torch.tensor(3.0)
        layer.U.data = torch.randn(layer.U.shape, generator=generator)
        layer.sigma.data = torch.tensor([0.5])
    pairs = [([1, 2], [3, 4], [5]), ([2, 6], [7], [3, 1, 4])]  # (prompt, chosen, rejected) token ids
    ref = [(-4.0, -3.0), (-2.5, -5.0)]
    data = datasets.Dataset.from_dict({"prompt_ids": [p[0] for p in pairs], "chosen_ids": [p[1] for p in pairs],
                                       "rejected_ids": [p[2] for p in pairs], "ref_chosen_logps": [r[0] for r in ref],
                                       "ref_rejected_logps": [r[1] for r in ref], "objective": [0, 1]})  # fmt: skip
    lam = np.array([[0.9, 0.1], [0.2, 0.8]])
    args = MODPOConfig(output_dir=str(tmp_path), weights=[1.0], beta=0.5, loss_type=["sigmoid", "sft"],
                       loss_weights=[1.0, 0.1], report_to="none", max_length=None, **hardware_defaults())  # fmt: skip
    scale = [1.0, 3.0]  # objective 1's rows count three times (fewer pairs)
    trainer = PanaceaDPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                draw_preferences=lambda n: lam[:n], objective_scale=scale)  # fmt: skip
    batch = trainer.data_collator([dict(row) for row in data])
    assert batch["objective"].tolist() == [0, 1]
    assert torch.equal(batch["preference"], torch.tensor(lam).float())
    seen = []
    layer = next(layer for _, layer in svd_lora_layers(model))
    layer.register_forward_pre_hook(lambda module, args: seen.append(module.lam.clone()))
    model.train()  # a training step: its metrics and token count
    loss = trainer.compute_loss(model, batch)
    model.eval()
    # one forward: rows [chosen 0, chosen 1, rejected 0, rejected 1], each at its pair's lambda
    assert len(seen) == 1 and torch.equal(seen[0], torch.tensor(lam[[0, 1, 0, 1]]).float())
    expected, deltas, dpo_losses = 0.0, [], []
    with torch.no_grad():
        for i, (prompt, chosen, rejected) in enumerate(pairs):
            with preference(model, lam[i]):  # the row alone, its lambda for the whole model
                c, r = _sequence_logp(model, prompt, chosen), _sequence_logp(model, prompt, rejected)
            delta = (c - ref[i][0]) - (r - ref[i][1])
            weight = lam[i][i] * scale[i]  # row i is objective i
            nll = -c / len(chosen)
            dpo_losses.append(float(-torch.nn.functional.logsigmoid(0.5 * delta)))
            deltas.append(float(delta))
            expected += weight * (-torch.nn.functional.logsigmoid(0.5 * delta) + 0.1 * nll) / len(pairs)
    torch.testing.assert_close(loss.detach(), expected.float(), rtol=1e-5, atol=1e-5)
    # what it logs: the implicit reward margins beta * delta, their sign, the DPO losses and lambda_{k_i} c_{k_i}
    logged = {key: values[-1] for key, values in trainer._metrics["train"].items()}
    assert logged["rewards/margins"] == pytest.approx(0.5 * np.mean(deltas), rel=1e-4, abs=1e-5)
    assert logged["rewards/accuracies"] == pytest.approx(np.mean([d > 0 for d in deltas]))
    assert logged["dpo_loss"] == pytest.approx(np.mean(dpo_losses), rel=1e-4)
    assert logged["preference_weight"] == pytest.approx(np.mean([lam[0][0] * 1.0, lam[1][1] * 3.0]), rel=1e-6)
    assert trainer._total_train_tokens == int(batch["attention_mask"].sum())
    with pytest.raises(ValueError, match=r"^Panacea DPO does not return logits \(return_outputs\)$"):
        trainer.compute_loss(model, batch, return_outputs=True)


def test_training_on_conflicting_pairs_makes_lambda_choose_what_the_model_generates(
    tiny_policy_dir, tmp_path
):
    """Objective 0 prefers "c" after "a b", objective 1 prefers "d": a few DPO steps at random lambdas, and the one
    model answers "c" at lambda (1, 0) and "d" at (0, 1) (greedy), where the base answers the same at both."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pareto_align.hf_args import hardware_defaults
    from pareto_align.trainers.modpo_config import MODPOConfig
    from pareto_align.trainers.panacea_dpo import PanaceaDPOTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    a, b, c, d = tokenizer.convert_tokens_to_ids(["a", "b", "c", "d"])
    prompt = torch.tensor([[a, b]])

    def greedy(lam=None) -> int:
        with preference(model, lam) if lam is not None else torch.no_grad():
            out = model.generate(
                prompt, max_new_tokens=1, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        return int(out[0, -1])

    assert greedy() not in (c, d)  # the base's answer
    with torch.no_grad():
        ref_c, ref_d = float(_sequence_logp(model, [a, b], [c])), float(_sequence_logp(model, [a, b], [d]))
    inject_svd_lora(model, SVDLoRAConfig(rank=2, num_objectives=2), seed=0)
    n = 8  # pairs per objective
    data = datasets.Dataset.from_dict({"prompt_ids": [[a, b]] * 2 * n, "chosen_ids": [[c]] * n + [[d]] * n,
                                       "rejected_ids": [[d]] * n + [[c]] * n,
                                       "ref_chosen_logps": [ref_c] * n + [ref_d] * n,
                                       "ref_rejected_logps": [ref_d] * n + [ref_c] * n,
                                       "objective": [0] * n + [1] * n})  # fmt: skip
    rng = np.random.default_rng(0)
    args = MODPOConfig(output_dir=str(tmp_path), weights=[1.0], beta=0.5, loss_type=["sigmoid", "sft"],
                       loss_weights=[1.0, 1.0], max_steps=30, per_device_train_batch_size=8, learning_rate=0.1, report_to="none", save_strategy="no",
                       disable_tqdm=True, max_length=None, seed=0, **hardware_defaults())  # fmt: skip
    trainer = PanaceaDPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                draw_preferences=lambda rows: sample_preferences(rng, rows, 2, 1.0, 0.0))  # fmt: skip
    trainer.train()
    model.eval()
    assert (greedy([1.0, 0.0]), greedy([0.0, 1.0])) == (c, d)
    with torch.no_grad(), preference(model, [1.0, 0.0]):
        margin_0 = float(_sequence_logp(model, [a, b], [c]) - _sequence_logp(model, [a, b], [d]))
    with torch.no_grad(), preference(model, [0.0, 1.0]):
        margin_1 = float(_sequence_logp(model, [a, b], [c]) - _sequence_logp(model, [a, b], [d]))
    assert margin_0 > ref_c - ref_d > margin_1  # each corner moved its objective's way from the base


TRAINER_REFUSAL = ("Panacea DPO supports loss_type 'sigmoid' (+ optional 'sft'), without ld_alpha, use_weighting or "
                   "an f-divergence, with precomputed reference log-probs")  # fmt: skip


@pytest.mark.parametrize(
    "setting",
    [
        {"loss_type": ["hinge"]},
        {"use_weighting": True},
        {"ld_alpha": 0.5},
        {"precompute_ref_log_probs": False},
    ],
)
def test_the_trainer_refuses_what_its_loss_does_not_compute(tiny_policy_dir, tmp_path, setting):
    from transformers import AutoModelForCausalLM

    from pareto_align.hf_args import hardware_defaults
    from pareto_align.trainers.modpo_config import MODPOConfig
    from pareto_align.trainers.panacea_dpo import PanaceaDPOTrainer

    args = MODPOConfig(output_dir=str(tmp_path), weights=[1.0], report_to="none", **hardware_defaults())
    for key, value in setting.items():  # past the config's own checks: what the trainer is handed
        setattr(args, key, value)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    with pytest.raises(ValueError) as err:
        PanaceaDPOTrainer(model=model, args=args, draw_preferences=lambda n: np.full((n, 2), 0.5))
    assert str(err.value) == TRAINER_REFUSAL


def test_the_collator_needs_a_draw_and_the_data_its_reference_log_probs(tiny_policy_dir, tmp_path):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pareto_align.hf_args import hardware_defaults
    from pareto_align.trainers.modpo_config import MODPOConfig
    from pareto_align.trainers.panacea_dpo import PanaceaDPOTrainer, PreferenceCollator

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    rows = [{"prompt_ids": [1, 2], "chosen_ids": [3], "rejected_ids": [4], "objective": 0}]
    with pytest.raises(RuntimeError) as err:
        PreferenceCollator(pad_token_id=tokenizer.pad_token_id).torch_call(rows)
    assert str(err.value) == "PreferenceCollator needs draw=... (n -> (n, K) preferences)"
    data = datasets.Dataset.from_dict({key: [value] for key, value in rows[0].items()})
    args = MODPOConfig(output_dir=str(tmp_path), weights=[1.0], report_to="none", max_length=None,
                       **hardware_defaults())  # fmt: skip
    with pytest.raises(ValueError) as err:
        PanaceaDPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_policy_dir), args=args, train_dataset=data,
                          processing_class=tokenizer, draw_preferences=lambda n: np.full((n, 2), 0.5))  # fmt: skip
    assert str(err.value) == ("Panacea DPO takes the base policy's reference log-probs with the data "
                              "(ref_chosen_logps, ref_rejected_logps)")  # fmt: skip


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("method", "message"),
    [
        ({"conditioning": "prompt"}, "method.conditioning: loss 'dpo' conditions the SVD-LoRA only"),
        ({"par": True}, "method.par: used by loss 'rl' only"),
        ({"reward_source": "gold"}, "method.reward_source: used by loss 'rl' only"),
        ({"trl": {"num_generations": 4}}, "method.trl"),
        ({"trl": {"loss_type": ["hinge"]}}, "method.trl.loss_type"),
        ({"trl": {"use_weighting": True}}, "method.trl.use_weighting"),
        ({"trl": {"weights": [1.0]}}, "method.trl: ['weights'] are set by the sweep"),
        ({"target_modules": ["q_proj", "lm_head"]}, "method.target_modules: 'lm_head' is not supported: TRL"),
        ({"adaptive": {"every": 5}}, "method.adaptive: only used with sampling 'adaptive'"),
        ({"sampling": "adaptive", "adaptive": {"every": 0}}, "method.adaptive.every"),
        ({"sampling": "adaptive", "adaptive": {"gap": "area"}}, "method.adaptive.gap"),
        ({"sampling": "adaptive", "adaptive": {"uniform_mix": 1.5}}, "method.adaptive.uniform_mix"),
        ({"sampling": "adaptive", "adaptive": {"every": 5, "grid": 3}}, "method.adaptive.grid"),
        ({"sampling": "uniform"}, "method.sampling"),
    ],
)
def test_config_mistakes_are_named_by_field(tmp_path, method, message):
    pattern = message.replace("(", r"\(").replace(".", r"\.").replace("[", r"\[")
    with pytest.raises(ConfigError, match=pattern):
        parse_config(tiny_sweep_dict(tmp_path, method={**DPO, **method}))


def test_dpo_plans_one_run_and_keys_its_reference_logps_as_modpo(tmp_path):
    from pareto_align.methods import modpo

    shared = {"max_steps": 30, "per_device_train_batch_size": 8, "max_length": 48}
    config = parse_config(tiny_sweep_dict(tmp_path, method={**DPO, "trl": {**shared, "learning_rate": 1e-3}}))
    assert config.method.planned_updates(config).updates == 30
    other = parse_config(tiny_sweep_dict(tmp_path, method={"name": "modpo", "trl": shared}))
    # optimization settings differ, tokenization and the reference pass do not: one set of reference log-probs
    assert modpo.reference_key(config.method) == modpo.reference_key(other.method)
    longer = {"name": "modpo", "trl": {**shared, "max_length": 40}}
    longer = parse_config(tiny_sweep_dict(tmp_path, method=longer))
    assert modpo.reference_key(config.method) != modpo.reference_key(longer.method)


# ---------------------------------------------------------------------------------------------- adaptive sampling
# a hand-made front, one point per grid lambda below, in its order
FRONT = np.array([[0.0, 4.0], [1.0, 3.5], [2.0, 3.0], [3.8, 0.2], [4.0, 0.0]])
GRID = np.array([[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1.0, 0.0]])


def test_gap_weights_follow_the_fronts_gaps():
    # crowding, by hand: objective 0 (span 4): [inf, 0.5, 0.7, 0.5, inf]; objective 1 (span 4): [inf, 0.25,
    # 0.825, 0.75, inf]; the extremes count as the largest finite distance, 1.525
    crowding = np.array([1.525, 0.75, 1.525, 1.25, 1.525])
    np.testing.assert_allclose(gap_weights(FRONT), crowding / crowding.sum())
    # exclusive hypervolume, reference (0, 0) - 0.1 * (4, 4): A=(0,4) 0.4 x 1, B=(2,3) 2 x 3, C=(4,0) 2 x 0.4
    three = np.array([[0.0, 4.0], [2.0, 3.0], [4.0, 0.0]])
    np.testing.assert_allclose(gap_weights(three, "hypervolume"), np.array([0.4, 6.0, 0.8]) / 7.2)
    same = np.tile([1.0, 2.0], (4, 1))  # a model that ignores lambda: one point, no gap to prefer
    np.testing.assert_allclose(gap_weights(same), np.full(4, 0.25))
    np.testing.assert_allclose(gap_weights(same, "hypervolume"), np.full(4, 0.25))


def test_the_adaptive_sampler_draws_grid_lambdas_by_their_gaps():
    def sampler(mix: float) -> AdaptivePreferences:
        return AdaptivePreferences(GRID, alpha=1.0, vertex_prob=0.2, concentration=400.0, uniform_mix=mix)

    def base(seed: int, n: int) -> np.ndarray:
        return sample_preferences(np.random.default_rng(seed), n, 2, 1.0, 0.2)

    # before any evaluation: exactly the base sampler's draws
    np.testing.assert_array_equal(sampler(0.25).sample(np.random.default_rng(3), 50), base(3, 50))
    adaptive = sampler(0.0)
    probs = adaptive.update(FRONT)
    n = 40_000
    lam = adaptive.sample(np.random.default_rng(0), n)  # (n, 2)
    np.testing.assert_allclose(lam.sum(axis=1), 1.0)
    distance = np.abs(lam[:, None, :] - GRID[None]).max(axis=2)  # (n, m)
    assert distance.min(axis=1).max() < 0.125  # Dirichlet(1 + 400 g) stays by its grid lambda g
    share = np.bincount(distance.argmin(axis=1), minlength=5) / n
    np.testing.assert_allclose(share, probs, atol=0.01)  # 3 standard errors at n = 40,000
    assert share[2] > 1.8 * share[1]  # the widest gap, around lambda = (0.5, 0.5), drawn about twice as often
    # uniform_mix: that share of the rows are the base sampler's own draws
    mixed = sampler(0.25)
    mixed.update(FRONT)
    kept = (mixed.sample(np.random.default_rng(4), n) == base(4, n)).all(axis=1)
    assert abs(kept.mean() - 0.25) < 0.01
    groups = adaptive.sample_groups(np.random.default_rng(1), 3, 4)  # (12, 2): one lambda per prompt group
    assert (groups.reshape(3, 4, 2) == groups.reshape(3, 4, 2)[:, :1]).all()


def test_the_adaptive_hook_updates_the_sampler_every_every_steps():
    from types import SimpleNamespace

    from pareto_align.methods.panacea import AdaptiveCallback

    sampler = AdaptivePreferences(GRID)
    calls, logged = [], []

    def evaluate(model, preferences):
        calls.append(preferences.copy())
        return FRONT + len(calls), np.zeros_like(FRONT)

    hook = AdaptiveCallback(sampler, 3, evaluate, logged.append)
    for step in range(1, 8):
        hook.on_step_end(None, SimpleNamespace(global_step=step, max_steps=7), None, model="m")
    assert [e["step"] for e in logged] == [3, 6]  # not at the last step: nothing trains after it
    assert len(calls) == 2
    assert all(np.array_equal(c, GRID) for c in calls)
    np.testing.assert_allclose(sampler.probs, gap_weights(FRONT + 2))
    assert logged[-1]["sampling_probs"] == pytest.approx(sampler.probs.tolist())


# ---------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_few_steps_of_dpo_give_one_conditioned_point_per_weight_vector(tmp_path, benchmark_cache):
    from safetensors.torch import load_file

    from pareto_align.front import read_front
    from pareto_align.models.policy import load_policy
    from pareto_align.sweep import run_sweep

    method = {**DPO, "history_every": 2, "spread_prompts": 4, "sampling": "adaptive", "front_every": 2,
              "adaptive": {"every": 2, "prompts": 4},
              "trl": {"max_steps": 3, "per_device_train_batch_size": 8, "learning_rate": 2e-2}}  # fmt: skip
    weights = {"kind": "explicit", "weights": [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]}
    config = parse_config(tiny_sweep_dict(benchmark_cache, method=method, weights=weights))
    run_dir = tmp_path / "run"
    run_sweep(config, run_dir, progress=False, log=lambda *a: None)
    front = read_front(run_dir)
    assert [p.weights for p in front.points] == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert set(front.compute.shared) == {"panacea-s0"}  # no reward calibration: the pairs are the signal
    assert front.compute.total.policy_updates == 3 and front.compute.shared["panacea-s0"].trained_tokens > 0
    for p in front.points:
        assert p.policy.kind == "conditioned" and p.policy.path == "points/panacea-s0/svd_lora"
        assert p.compute.shared == ["panacea-s0"] and p.metadata["loss"] == "dpo"
    kinds = [(h.step, getattr(h, "kind", None)) for h in front.history if h.training]
    assert kinds == [
        (2, "preference_spread"),
        (2, "front"),
        (2, "preference_sampling"),
        (3, "preference_spread"),
    ]
    snapshot = next(h for h in front.history if getattr(h, "kind", None) == "front")
    assert len(snapshot.front_values) == 3 and snapshot.compute["policy_updates"] == 2
    assert snapshot.compute["shared"] == []  # no calibration: the pairs are the signal
    sampling = next(h for h in front.history if getattr(h, "kind", None) == "preference_sampling")
    assert len(sampling.grid) == 3 and sum(sampling.sampling_probs) == pytest.approx(1.0)
    saved = load_file(run_dir / "points/panacea-s0/svd_lora/svd_lora.safetensors")
    assert saved["model.layers.0.self_attn.q_proj.s"].abs() > 0  # it trained
    assert len(list(run_dir.glob("ref_logps_helpful_*.npy"))) == 1  # MODPO's shared product
    policy = load_policy(front.points[1].policy.model_dump(exclude_none=True), run_dir)
    assert len(policy.generate(["write about ocean :"] * 2, seed=1).responses) == 2
