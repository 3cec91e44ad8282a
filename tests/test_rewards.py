"""Multi-objective rewards for TRL's online trainers, scalarizations, PAR and best-of-n selection, against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pareto_align.methods.bon import kl_bound
from pareto_align.models.generation import GenerationSettings, generate
from pareto_align.models.policy import BestOfNPolicy
from pareto_align.objectives import Scalarization, scalarize
from pareto_align.rewards import AggregatedRewardModel, ObjectiveRewards, as_response, par_shaping


class TableScorer:
    """Scores a response by a fixed per-objective table of its word count; counts its calls."""

    objective_names = ["a", "b", "c"]

    def __init__(self):
        self.calls = 0

    def score(self, prompts, responses):
        self.calls += 1
        n = torch.tensor([len(r.split()) for r in responses], dtype=torch.float32)
        return torch.stack([n, -n, 2 * n + 1], dim=1)  # (N, 3)


def test_each_objective_reaches_the_trainer_in_order_with_its_weight():
    scorer = TableScorer()
    rewards = ObjectiveRewards(scorer, ["a", "b", "c"], [0.2, 0.3, 0.5])
    funcs = rewards.functions()
    assert [f.__name__ for f in funcs] == ["a", "b", "c"] and rewards.weights() == [0.2, 0.3, 0.5]
    prompts, completions = ["p", "q"], ["x y", "z"]
    ids = [[1, 2], [3]]
    out = [f(prompts=prompts, completions=completions, completion_ids=ids) for f in funcs]
    assert out == [[2.0, 1.0], [-2.0, -1.0], [5.0, 3.0]]
    assert scorer.calls == 1  # K objectives, one scoring pass
    assert rewards.generated_tokens == 3
    funcs[0](prompts=prompts, completions=["x y z", "z"], completion_ids=ids)  # a new batch is scored again
    assert scorer.calls == 2


def test_objective_rewards_reach_grpo_trainer(tiny_policy_dir, tmp_path):
    """TRL's trainer sees our functions by name, in config order, with the weights."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    rewards = ObjectiveRewards(TableScorer(), ["a", "b", "c"], [0.2, 0.3, 0.5])
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, reward_weights=rewards.weights(), max_steps=1,
                      per_device_train_batch_size=4, num_generations=4, max_completion_length=4, report_to="none")  # fmt: skip
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_policy_dir), reward_funcs=rewards.functions(),
                          args=args, train_dataset=datasets.Dataset.from_dict({"prompt": ["a b"] * 4}),
                          processing_class=AutoTokenizer.from_pretrained(tiny_policy_dir))  # fmt: skip
    assert trainer.reward_func_names == ["a", "b", "c"]
    assert trainer.reward_weights.tolist() == pytest.approx([0.2, 0.3, 0.5])


def test_tchebycheff_against_hand_values():
    r = np.array([[1.0, 2.0], [3.0, 0.0]])
    s = Scalarization(kind="tchebycheff", ideal=[4.0, 4.0])
    # -max(0.25 * 3, 0.75 * 2) + 0.01 * (-3 - 2) = -1.55 ; -max(0.25 * 1, 0.75 * 4) + 0.01 * (-1 - 4) = -3.05
    assert scalarize(r, np.array([0.25, 0.75]), s).tolist() == pytest.approx([-1.55, -3.05])
    assert scalarize(r, np.array([0.25, 0.75])).tolist() == [1.75, 0.75]  # linear


def test_tchebycheff_is_one_scalarizer_reward_with_objectives_logged_at_weight_zero():
    rewards = ObjectiveRewards(TableScorer(), ["a", "b", "c"], [0.5, 0.25, 0.25],
                               Scalarization(kind="tchebycheff", ideal=[10.0, 0.0, 10.0]))  # fmt: skip
    funcs = rewards.functions()
    assert [f.__name__ for f in funcs] == ["a", "b", "c", "tchebycheff"]
    assert rewards.weights() == [0.0, 0.0, 0.0, 1.0]
    # "x y": r = (2, -2, 5): -max(0.5 * 8, 0.25 * 2, 0.25 * 5) + 0.01 * (-8 - 2 - 5) = -4.15
    assert funcs[3](prompts=["p"], completions=["x y"]) == pytest.approx([-4.15])


def test_scalarization_config_errors():
    with pytest.raises(ValueError, match="ideal: required"):
        Scalarization(kind="tchebycheff")
    with pytest.raises(ValueError, match="only used by the tchebycheff"):
        Scalarization(kind="linear", ideal=[1.0])


def test_par_against_hand_values():
    r, ref = np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]])
    assert par_shaping(r, ref)[0].tolist() == pytest.approx([0.5, 1 / (1 + math.exp(2.0))])
    rewards = ObjectiveRewards(TableScorer(), ["a", "b", "c"], [1.0, 0.0, 0.0], par=True)
    got = rewards.functions()[0](prompts=["p"], completions=["x y"], ref_rewards=[[2.0, 0.0, 0.0]])
    assert got == pytest.approx([0.5])  # r_a = 2 equals the reference
    with pytest.raises(ValueError, match="ref_rewards"):
        ObjectiveRewards(TableScorer(), ["a", "b", "c"], [1.0, 0.0, 0.0], par=True).rewards(["p"], ["x"])


class MembersStub:
    """Stands in for a reward model with 3 members, 2 responses, 1 objective."""

    objective_names = ["a"]
    aggregation = "mean"
    uwo_lambda = 0.5

    def score_members(self, prompts, responses):
        return torch.tensor([[[1.0], [0.0]], [[2.0], [0.0]], [[6.0], [3.0]]])  # (M=3, N=2, K=1)


def test_wco_and_uwo_against_hand_values():
    assert AggregatedRewardModel(MembersStub()).score([], []).tolist() == [
        [3.0],
        [1.0],
    ]  # the model's own: mean
    assert AggregatedRewardModel(MembersStub(), "wco").score([], []).tolist() == [[1.0], [0.0]]
    # UWO: mean - lambda * population variance; (1, 2, 6): mean 3, var 14/3; (0, 0, 3): mean 1, var 2
    uwo = AggregatedRewardModel(MembersStub(), "uwo", uwo_lambda=0.3).score([], [])
    assert uwo.squeeze(1).tolist() == pytest.approx([3 - 0.3 * 14 / 3, 1 - 0.3 * 2])


def test_as_response_matches_the_toolkits_completion_convention():
    assert as_response("a b ") == " a b"
    msgs = [{"role": "assistant", "content": "hi"}]
    assert as_response(msgs) is msgs


def test_best_of_n_keeps_the_argmax_candidate(tiny_policy_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    tokenizer.padding_side = "left"
    settings = GenerationSettings(max_new_tokens=8)
    n, prompts = 6, ["a b", "c"]
    policy = BestOfNPolicy(model, tokenizer, {}, reward_model=TableScorer(), n=n, weights=[0.0, 1.0, 0.0])
    chosen = policy.generate(prompts, settings, seed=3)
    candidates = generate(model, tokenizer, [p for p in prompts for _ in range(n)], settings, seed=3)
    for i in range(len(prompts)):
        cands = candidates.responses[i * n : (i + 1) * n]
        utility = [-len(c.split()) for c in cands]  # weight on objective b = -(word count)
        assert chosen.responses[i] == cands[int(np.argmax(utility))]
    assert chosen.n_tokens == candidates.n_tokens  # every candidate's tokens are its cost


def test_kl_bound():
    assert kl_bound(1) == 0.0
    assert kl_bound(16) == pytest.approx(math.log(16) - 15 / 16)
