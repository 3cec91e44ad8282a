"""The built-in benchmark: genuine conflict, determinism, caching, configurable objectives, noisy labels."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_SYNTHETIC

from pareto_align.data.gold import GOLD_FUNCTIONS, GoldScorer
from pareto_align.data.synthetic import SyntheticConfig, load_synthetic_benchmark
from pareto_align.data.world import World, WorldConfig

ALL_GOLDS = list(GOLD_FUNCTIONS)


@pytest.fixture(scope="module")
def bench(benchmark_cache):
    return load_synthetic_benchmark(
        SyntheticConfig(**TINY_SYNTHETIC), cache_dir=benchmark_cache, progress=False
    )


def _scorer(world, golds=("topic_coverage", "flagged_words", "word_count")):
    directions = [GOLD_FUNCTIONS[g][1] for g in golds]
    return GoldScorer(world, list(golds), directions, list(golds))


def test_gold_functions_hand_values():
    world = World(WorldConfig())
    prompt, response = "write about ocean :", "wave wave tide stupid hate the star please thanks"
    raw = _scorer(world, ALL_GOLDS).raw([prompt], [response])[0].tolist()
    # coverage {wave, tide} = 2; flagged 2; words 9; polite {please, thanks} = 2; off-topic {star} = 1
    assert raw == [2.0, 2.0, 9.0, 2.0, 1.0]
    signed = _scorer(world, ALL_GOLDS).score([prompt], [response])[0].tolist()
    assert signed == [2.0, -2.0, -9.0, 2.0, -1.0]  # direction: min negated once, here


def test_objectives_conflict_on_corpus():
    """On responses of the generative story: negative correlations, and no response maximizes every objective."""
    world = World(WorldConfig())
    corpus = world.corpus(3000, np.random.default_rng(0))
    F = _scorer(world).score([p for p, _ in corpus], [r for _, r in corpus]).numpy()
    corr = np.corrcoef(F.T)
    assert corr[0, 1] < -0.3 and corr[0, 2] < -0.6  # helpful vs harmless, helpful vs concise
    best = F.max(axis=0)
    assert not np.any(np.all(best == F, axis=1))


@pytest.mark.slow
def test_base_policy_samples_show_the_trade_off(bench):
    scorer = _scorer(bench.world)
    prompts = [p for p, _, _ in bench.pairs]
    F = scorer.score(prompts, [a for _, a, _ in bench.pairs]).numpy()
    assert np.corrcoef(F.T)[0, 2] < -0.3  # more topic words come with more words
    assert F[:, 2].std() > 1.0  # the base policy varies, so preferences carry signal


@pytest.mark.slow
def test_cached_and_deterministic(bench, benchmark_cache, tmp_path):
    again = load_synthetic_benchmark(
        SyntheticConfig(**TINY_SYNTHETIC), cache_dir=benchmark_cache, progress=False
    )
    assert again.from_cache and again.pairs == bench.pairs
    fresh = load_synthetic_benchmark(SyntheticConfig(**TINY_SYNTHETIC), cache_dir=tmp_path, progress=False)
    assert not fresh.from_cache and fresh.pairs == bench.pairs  # same seed, same everything
    other = SyntheticConfig(**{**TINY_SYNTHETIC, "seed": 1})
    assert other.cache_key() != SyntheticConfig(**TINY_SYNTHETIC).cache_key()
    # label settings do not invalidate the cached base model
    assert SyntheticConfig(**{**TINY_SYNTHETIC, "label_noise": 0.1}).cache_key() == bench.config.cache_key()


@pytest.mark.parametrize("golds", [ALL_GOLDS[:2], ALL_GOLDS[:4], ALL_GOLDS])
@pytest.mark.slow
def test_configurable_number_of_objectives(bench, golds):
    scorer = _scorer(bench.world, golds)
    pairs = bench.preference_pairs(scorer)
    assert set(pairs["objective"]) == set(golds)
    assert set(pairs.column_names) >= {"prompt", "chosen", "rejected", "objective"}
    assert all(c.startswith(" ") for c in pairs["chosen"][:20])  # TRL joins prompt + completion as strings


@pytest.mark.slow
def test_label_noise_rate(bench):
    """Disagreement with the noiseless gold order grows with label noise: ~noise + BT noise."""
    scorer = _scorer(bench.world)
    clean = bench.config.model_copy(update={"label_noise": 0.0})
    noisy = bench.config.model_copy(update={"label_noise": 0.25})
    rate = {}
    for name, cfg in [("clean", clean), ("noisy", noisy)]:
        b = bench.__class__(**{**bench.__dict__, "config": cfg})
        rate[name] = 1 - np.mean(b.preference_pairs(scorer)["gold_agrees"])
    assert rate["clean"] < 0.2
    assert 0.25 <= rate["noisy"] <= 0.25 + rate["clean"] + 0.05


@pytest.mark.slow
def test_eval_prompts_are_held_out(bench):
    train, held_out = set(bench.world.prompts("train")), set(bench.eval_prompts())
    assert held_out and not train & held_out
    assert {p for p, _, _ in bench.pairs} <= train
