"""Multi-head reward model: learning per-objective preferences, the loss, aggregation, persistence, config."""

from __future__ import annotations

import math
import pickle
import random

import pytest
import torch
from datasets import Dataset
from pydantic import ValidationError

from pareto_align.models.reward_model import (
    MultiHeadRewardModel,
    aggregate_members,
    last_token_index,
    linear_scalarize,
)
from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
from pareto_align.trainers.reward_model_config import RewardModelConfig
from pareto_align.trainers.reward_model_trainer import (
    RewardCollator,
    pairwise_accuracy,
    reward_loss,
    split_by_prompt,
    train_reward_model,
)

OBJECTIVES = ["good", "short", "apple"]
FILLERS = [f"w{i}" for i in range(20)]
PROMPTS = [f"tell me about t{i}" for i in range(60)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny matrices: OpenMP threads only add synchronisation cost, badly so on a shared 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _response(words: list[str]) -> str:
    return " " + " ".join(words)


def make_data(n: int, seed: int) -> tuple[Dataset, Dataset]:
    """Objective "good" prefers a response containing the word good (same length, so length says nothing);
    "short" prefers the shorter response, and half its pairs put good in the longer one, so the two conflict
    as real objectives do; "apple" is an attribute score, the number of apples in the response."""
    rng = random.Random(seed)

    def words(k: int) -> list[str]:
        return [rng.choice(FILLERS) for _ in range(k)]

    pairs, scores = [], []
    for _ in range(n):
        prompt = rng.choice(PROMPTS)
        plain = words(rng.randint(3, 8))
        with_good = list(plain)
        with_good[rng.randrange(len(plain))] = "good"
        pairs.append(
            {
                "prompt": prompt,
                "chosen": _response(with_good),
                "rejected": _response(plain),
                "objective": "good",
            }
        )
        short, long = words(rng.randint(2, 4)), words(rng.randint(6, 9))
        if rng.random() < 0.5:
            long[rng.randrange(len(long))] = "good"
        pairs.append(
            {"prompt": prompt, "chosen": _response(short), "rejected": _response(long), "objective": "short"}
        )
        ws = words(rng.randint(3, 8))
        for i in rng.sample(range(len(ws)), rng.randint(0, 3)):
            ws[i] = "apple"
        scores.append(
            {"prompt": prompt, "response": _response(ws), "scores": [math.nan, math.nan, ws.count("apple")]}
        )
    return Dataset.from_list(pairs), Dataset.from_list(scores)


@pytest.fixture(scope="module")
def tokenizer():
    return train_word_tokenizer(PROMPTS + FILLERS + ["good", "apple", "user", "assistant"])


@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    policy = build_tiny_causal_lm(tokenizer, hidden_size=32, seed=1)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    pairs, scores = make_data(300, seed=0)
    config = RewardModelConfig(
        ensemble_size=2, test_fraction=0.2, training={"num_train_epochs": 2, "disable_tqdm": True}
    )
    out = tmp_path_factory.mktemp("rm")
    model, metrics = train_reward_model(config, OBJECTIVES, pairs, scores, policy, tokenizer, out)
    return {
        "model": model,
        "metrics": metrics,
        "out": out,
        "policy": policy,
        "before": before,
        "scores": scores,
    }


@pytest.mark.slow
def test_each_head_learns_its_objective_on_held_out_prompts(trained):
    metrics = trained["metrics"]
    assert metrics["accuracy/good"] > 0.9
    assert metrics["accuracy/short"] > 0.9
    assert "accuracy/apple" not in metrics  # no pairs for it
    # Predicting the mean apple count would score the variance of the counts (~1.25): the head does far better.
    counts = torch.tensor([s[2] for s in trained["scores"]["scores"]])
    assert metrics["mse/apple"] < 0.3 * float(counts.var())
    assert metrics["n_train_pairs"] + metrics["n_test_pairs"] == 600
    assert metrics["n_train_scores"] + metrics["n_test_scores"] == 300
    assert (trained["out"] / "reward_metrics.json").is_file()


@pytest.mark.slow
def test_heads_are_not_interchangeable(trained):
    model = trained["model"]
    pairs, _ = make_data(150, seed=7)
    own = pairwise_accuracy(model, pairs, OBJECTIVES)
    swapped = pairs.map(lambda row: {"objective": {"good": "short", "short": "good"}[row["objective"]]})
    other = pairwise_accuracy(model, swapped, OBJECTIVES)
    assert own["good"] > 0.9 and own["short"] > 0.9
    # On the other head's pairs each head is far worse than on its own (0.9+): the objectives conflict.
    assert other["short"] < 0.7 and other["good"] < 0.7


@pytest.mark.slow
def test_members_differ_and_policy_is_untouched(trained):
    model = trained["model"]
    members = model.score_members(["tell me about t1"] * 2, [" w1 w2 good", " w3 apple apple"])  # (2, 2, 3)
    assert members.shape == (2, 2, 3)
    assert not torch.allclose(members[0], members[1])
    after = trained["policy"].state_dict()
    assert all(torch.equal(trained["before"][k], after[k]) for k in trained["before"])


def test_loss_matches_hand_computation(tokenizer):
    policy = build_tiny_causal_lm(tokenizer, hidden_size=32, seed=3)
    model = MultiHeadRewardModel.from_backbone(policy, tokenizer, OBJECTIVES, ensemble_size=2, seed=5).eval()
    rows = [
        {"kind": "pair", "prompt": "tell me about t1", "chosen": " w1 good", "rejected": " w2 w3 w4", "objective": 0,
         "weights": [1.0, 1.0]},
        {"kind": "score", "prompt": "tell me about t2", "response": " apple w5", "scores": [0.5, math.nan, 2.0],
         "weights": [1.0, 3.0]},
        {"kind": "pair", "prompt": "tell me about t3", "chosen": " w6", "rejected": " w7 w8", "objective": 2,
         "weights": [2.0, 0.0]},
        {"kind": "score", "prompt": "tell me about t4", "response": " w9", "scores": [math.nan, -1.0, math.nan],
         "weights": [1.0, 1.0]},
    ]  # fmt: skip
    batch = RewardCollator(model)(rows)
    rewards = model(batch["input_ids"], batch["attention_mask"])  # (M, R, K)
    keys = ("pair_objective", "pair_weight", "score_targets", "score_mask", "score_weight")
    loss = reward_loss(rewards, *(batch[k] for k in keys), score_loss_weight=0.5)

    def r(prompt: str, response: str) -> list[list[float]]:  # (M, K), each text scored on its own
        return model.score_members([prompt], [response])[:, 0].tolist()

    expected = 0.0
    for m in range(2):
        pair_terms = []
        for row in (rows[0], rows[2]):
            k = row["objective"]
            margin = r(row["prompt"], row["chosen"])[m][k] - r(row["prompt"], row["rejected"])[m][k]
            pair_terms.append(row["weights"][m] * math.log(1 + math.exp(-margin)))
        squared, present = 0.0, 0
        for row in (rows[1], rows[3]):
            predicted = r(row["prompt"], row["response"])[m]
            for k, target in enumerate(row["scores"]):
                if not math.isnan(target):
                    squared += row["weights"][m] * (predicted[k] - target) ** 2
                    present += 1
        expected += (sum(pair_terms) / 2 + 0.5 * squared / present) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()  # NaN targets are masked out of the graph, not only out of the value
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_aggregation_against_hand_computed_values():
    rewards = torch.tensor(
        [
            [[1.0, 0.0], [4.0, -2.0]],
            [[2.0, 3.0], [4.0, -2.0]],
            [[6.0, 0.0], [1.0, 1.0]],
        ]
    )  # (M=3, N=2, K=2)
    mean = torch.tensor([[3.0, 1.0], [3.0, -1.0]])
    worst = torch.tensor([[1.0, 0.0], [1.0, -2.0]])
    # population variances: [[14/3, 2], [2, 2]]
    uwo = torch.tensor([[3.0 - 0.5 * 14 / 3, 1.0 - 0.5 * 2], [3.0 - 0.5 * 2, -1.0 - 0.5 * 2]])
    assert torch.allclose(aggregate_members(rewards, "mean"), mean)
    assert torch.allclose(aggregate_members(rewards, "wco"), worst)
    assert torch.allclose(aggregate_members(rewards, "uwo", uwo_lambda=0.5), uwo)
    assert torch.allclose(aggregate_members(rewards[:1], "uwo"), rewards[0])  # one member: no penalty
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_members(rewards, "median")
    assert torch.allclose(linear_scalarize(mean, [0.25, 0.75]), torch.tensor([1.5, 0.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        linear_scalarize(mean, [0.5, 0.6])
    with pytest.raises(ValueError, match="do not match"):
        linear_scalarize(mean, [1.0])


@pytest.mark.slow
def test_score_uses_model_aggregation_and_ignores_batching(trained):
    model = trained["model"]
    prompts = ["tell me about t5"] * 5
    responses = [" w1", " good w2 w3 w4 w5 w6 w7", " apple", " w8 w9", " good"]
    members = model.score_members(prompts, responses)  # (M, N, K)
    assert torch.allclose(model.score(prompts, responses, aggregation="wco"), members.min(dim=0).values)
    assert torch.allclose(model.score(prompts, responses), members.mean(dim=0))
    one_by_one = model.score(prompts, responses, batch_size=1)
    assert torch.allclose(model.score(prompts, responses, batch_size=64), one_by_one, atol=1e-5)
    assert one_by_one.dtype == torch.float32 and one_by_one.shape == (5, 3)


def test_last_token_index_left_and_right_padding():
    right = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]])
    assert last_token_index(right).tolist() == [2, 0, 3]
    assert last_token_index(left).tolist() == [3, 3, 3]


@pytest.mark.slow
def test_save_load_round_trip_without_pickle(trained, tmp_path, monkeypatch):
    model = trained["model"]
    model.save(tmp_path)
    suffixes = {p.suffix for p in tmp_path.iterdir()}
    assert ".safetensors" in suffixes and not suffixes & {".bin", ".pt", ".pth", ".pkl", ".tmp"}

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a reward model")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = MultiHeadRewardModel.load(tmp_path).to(model.device)  # same device, same kernels: equal bits
    prompts, responses = ["tell me about t9"] * 3, [" good w1", " w2 w3 w4 w5 w6", " apple apple w1"]
    assert torch.equal(loaded.score_members(prompts, responses), model.score_members(prompts, responses))
    assert loaded.objective_names == OBJECTIVES and loaded.ensemble_size == 2
    # the training run saved its model too, and it scores the same
    from_run = MultiHeadRewardModel.load(trained["out"]).to(model.device)
    assert torch.equal(from_run.score(prompts, responses), model.score(prompts, responses))


def test_conversational_rows_use_the_chat_template(tokenizer):
    model = MultiHeadRewardModel.from_backbone(
        build_tiny_causal_lm(tokenizer, hidden_size=32), tokenizer, OBJECTIVES
    )
    prompt = [{"role": "user", "content": "tell me about t1"}]
    with pytest.raises(ValueError, match="chat template"):
        model.encode([prompt], [[{"role": "assistant", "content": "w1 good"}]])
    model.tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} <eos> {% endfor %}"
    )
    conversational = model.encode([prompt], ["w1 good"])
    plain = model.encode(
        ["user tell me about t1 <eos>"], [" assistant w1 good"]
    )  # plain strings get <eos> added
    assert conversational["input_ids"].tolist() == plain["input_ids"].tolist()
    assert tokenizer.chat_template is None  # the reward model works on its own copy of the tokenizer


def test_split_keeps_each_prompt_on_one_side():
    rows = [{"prompt": f"p{i % 10}", "kind": "pair"} for i in range(100)]
    train, test = split_by_prompt(rows, test_fraction=0.3, seed=0)
    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in test})
    assert len({r["prompt"] for r in test}) == 3 and len(train) + len(test) == 100
    assert split_by_prompt(rows, 0.3, seed=0) == (train, test)


def test_bad_data_is_rejected_with_row_and_column(tokenizer, tmp_path):
    policy = build_tiny_causal_lm(tokenizer, hidden_size=32)
    config = RewardModelConfig()
    pairs = Dataset.from_list([{"prompt": "p", "chosen": " a", "rejected": " b", "objective": "fun"}])
    with pytest.raises(ValueError, match=r"pairs row 0: objective 'fun'"):
        train_reward_model(config, OBJECTIVES, pairs, None, policy, tokenizer, tmp_path)
    with pytest.raises(ValueError, match=r"pairs: missing column\(s\) \['objective'\]"):
        train_reward_model(
            config, OBJECTIVES, pairs.remove_columns("objective"), None, policy, tokenizer, tmp_path
        )
    scores = Dataset.from_list([{"prompt": "p", "response": " a", "scores": [1.0, 2.0]}])
    with pytest.raises(ValueError, match="scores row 0: 2 scores but 3 objectives"):
        train_reward_model(config, OBJECTIVES, None, scores, policy, tokenizer, tmp_path)


def test_config_rejects_unknown_and_reserved_training_keys():
    with pytest.raises(
        ValidationError, match=r"reward_model\.training\.learnig_rate.*did you mean 'learning_rate'"
    ):
        RewardModelConfig(training={"learnig_rate": 1e-3})
    with pytest.raises(ValidationError, match=r"reward_model\.training\.seed"):
        RewardModelConfig(training={"seed": 1})
    with pytest.raises(ValidationError, match="ensemble_size"):
        RewardModelConfig(ensemble_size=0)
    with pytest.raises(ValidationError, match="extra"):
        RewardModelConfig(ensembles=2)
    kwargs = RewardModelConfig(seed=4, training={"learning_rate": 1e-5}).training_kwargs()
    assert kwargs["learning_rate"] == 1e-5 and kwargs["seed"] == 4 and kwargs["report_to"] == "none"
    assert all(field.description for field in RewardModelConfig.model_fields.values())
