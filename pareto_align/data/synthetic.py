"""The built-in synthetic gold-reward benchmark (after Gao et al. 2023; Coste et al. 2023).

1. A generated corpus (`world.World`) and a tiny Llama with a word-level tokenizer, pre-trained on it: the base policy.
2. Pairs of base-policy samples per train prompt.
3. Per-objective preference labels: Bradley-Terry sampling on the gold difference, then a fraction of labels
   flipped (label noise, 25% by default as in Coste et al.). Ties on an objective carry no preference and are
   dropped for that objective.

Steps 1-2 are deterministic for a seed and cached on disk under a hash of their config, so a second run reuses the
base model and the samples. Labels are cheap and recomputed, so changing the objectives needs no new base model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pareto_align.data.gold import GoldScorer
from pareto_align.data.world import World, WorldConfig
from pareto_align.models.generation import GenerationSettings, generate
from pareto_align.models.loading import load_model, load_tokenizer
from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer

BENCHMARK_VERSION = 1  # bump when the generative story changes, so stale caches are not reused


class TinyModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden_size: int = Field(128, ge=8, description="Hidden size of the tiny Llama.")
    num_layers: int = Field(2, ge=1, description="Number of decoder layers.")
    num_heads: int = Field(4, ge=1, description="Attention heads.")


class PretrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(400, ge=1, description="Optimizer steps of base-model pre-training.")
    batch_size: int = Field(64, ge=1, description="Sequences per step.")
    learning_rate: float = Field(
        3e-3, gt=0, description="Peak AdamW learning rate (cosine decay, 5% warm-up)."
    )


class SyntheticConfig(BaseModel):
    """Settings of the built-in benchmark (YAML: `data.synthetic`)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="Seed of the corpus, the base model and the samples.")
    world: WorldConfig = Field(default_factory=WorldConfig, description="How corpus responses are generated.")
    corpus_size: int = Field(10_000, ge=100, description="(prompt, response) examples the base model learns.")
    model: TinyModelConfig = Field(
        default_factory=TinyModelConfig, description="Size of the tiny base model."
    )
    pretrain: PretrainConfig = Field(
        default_factory=PretrainConfig, description="How the base model learns the corpus."
    )
    n_pairs: int = Field(2000, ge=10, description="Base-policy response pairs sampled for preference labels.")
    label_noise: float = Field(
        0.25, ge=0, lt=0.5, description="Fraction of preference labels flipped at random."
    )
    bt_scale: float = Field(
        1.0, gt=0, description="Bradley-Terry temperature: P(a > b) = sigmoid((g(a) - g(b)) / bt_scale)."
    )

    def cache_key(self) -> str:
        """Hash of everything that determines the base model and its samples (not the labels)."""
        payload = self.model_dump(mode="json", exclude={"label_noise", "bt_scale"})
        payload["benchmark_version"] = BENCHMARK_VERSION
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("PARETO_ALIGN_CACHE", Path.home() / ".cache" / "pareto_align"))


def pretrain_base_model(
    world: World, config: SyntheticConfig, progress: bool = True
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Train the tokenizer and the tiny Llama on the generated corpus (a plain causal-LM loop, ~30 s on 2 cores)."""
    rng = np.random.default_rng(config.seed)
    corpus = world.corpus(config.corpus_size, rng)
    tokenizer = train_word_tokenizer(world.vocabulary_texts())
    model = build_tiny_causal_lm(
        tokenizer,
        hidden_size=config.model.hidden_size,
        num_layers=config.model.num_layers,
        num_heads=config.model.num_heads,
        seed=config.seed,
    )
    texts = [f"{p} {r}{tokenizer.eos_token}" for p, r in corpus]
    enc = tokenizer(texts, padding=True, padding_side="right", return_tensors="pt", add_special_tokens=False)
    input_ids, attention_mask = enc["input_ids"], enc["attention_mask"]  # (N, T)
    labels = input_ids.masked_fill(attention_mask == 0, -100)

    steps, bs = config.pretrain.steps, config.pretrain.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.pretrain.learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
    )
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    bar = tqdm(range(steps), desc="pre-training base model", disable=not progress, leave=False)
    for _ in bar:
        idx = torch.randint(0, len(texts), (bs,), generator=generator)
        width = int(attention_mask[idx].sum(1).max())
        out = model(
            input_ids=input_ids[idx, :width],
            attention_mask=attention_mask[idx, :width],
            labels=labels[idx, :width],
        )
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{out.loss.item():.3f}")
    model.eval()
    return model, tokenizer


@dataclass
class SyntheticBenchmark:
    """A built (or cached) benchmark: world, base policy checkpoint and base-policy sample pairs."""

    config: SyntheticConfig
    world: World
    base_path: Path  # checkpoint dir (safetensors + tokenizer)
    pairs: list[tuple[str, str, str]]  # (prompt, response_a, response_b) sampled from the base policy
    from_cache: bool = False

    def load_base(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return load_model(str(self.base_path), use_safetensors=True), load_tokenizer(str(self.base_path))

    def eval_prompts(self) -> list[str]:
        """Held-out prompts: a template never seen in pre-training or preference data, for every topic."""
        return self.world.prompts("eval")

    def gold_scorer(
        self, golds: Sequence[str], directions: Sequence[str], names: Sequence[str]
    ) -> GoldScorer:
        return GoldScorer(self.world, golds, directions, names)

    def preference_pairs(self, scorer: GoldScorer, seed: int | None = None) -> datasets.Dataset:
        """Per-objective preference pairs in TRL's format, labelled by noisy Bradley-Terry on the gold difference.

        Columns: prompt, chosen, rejected (completions carry a leading space), objective, gold_agrees (whether the
        sampled label agrees with the noiseless gold order; for measuring reward models against gold labels).
        """
        rng = np.random.default_rng(self.config.seed if seed is None else seed)
        prompts = [p for p, _, _ in self.pairs]
        g_a = scorer.score(prompts, [a for _, a, _ in self.pairs]).numpy()  # (N, K)
        g_b = scorer.score(prompts, [b for _, _, b in self.pairs]).numpy()  # (N, K)
        diff = g_a - g_b
        p_a = 1.0 / (1.0 + np.exp(-diff / self.config.bt_scale))
        a_wins = rng.random(diff.shape) < p_a
        flip = rng.random(diff.shape) < self.config.label_noise
        a_wins ^= flip
        rows: dict[str, list] = {
            "prompt": [],
            "chosen": [],
            "rejected": [],
            "objective": [],
            "gold_agrees": [],
        }
        for k, name in enumerate(scorer.objective_names):
            for i, (prompt, a, b) in enumerate(self.pairs):
                if diff[i, k] == 0:
                    continue  # a tie carries no preference on this objective
                chosen, rejected = (a, b) if a_wins[i, k] else (b, a)
                rows["prompt"].append(prompt)
                rows["chosen"].append(" " + chosen)
                rows["rejected"].append(" " + rejected)
                rows["objective"].append(name)
                rows["gold_agrees"].append(bool(a_wins[i, k] == (diff[i, k] > 0)))
        return datasets.Dataset.from_dict(rows)

    def gold_test_pairs(self, scorer: GoldScorer, n_pairs: int = 500) -> datasets.Dataset:
        """Pairs of fresh base-policy samples on held-out prompts, ordered by the noiseless gold difference.

        For measuring reward models against gold labels: no prompt here was seen in training. Ties are dropped.
        """
        model, tokenizer = self.load_base()
        eval_prompts = self.eval_prompts()
        prompts = [eval_prompts[i % len(eval_prompts)] for i in range(n_pairs)]
        settings = GenerationSettings(max_new_tokens=self.config.world.max_words + 4, batch_size=256)
        a = [
            " " + r
            for r in generate(model, tokenizer, prompts, settings, seed=self.config.seed + 4).responses
        ]
        b = [
            " " + r
            for r in generate(model, tokenizer, prompts, settings, seed=self.config.seed + 5).responses
        ]
        diff = (scorer.score(prompts, a) - scorer.score(prompts, b)).numpy()  # (n, K)
        rows: dict[str, list] = {"prompt": [], "chosen": [], "rejected": [], "objective": []}
        for k, name in enumerate(scorer.objective_names):
            for i in np.flatnonzero(diff[:, k] != 0):
                better_a = diff[i, k] > 0
                rows["prompt"].append(prompts[i])
                rows["chosen"].append(a[i] if better_a else b[i])
                rows["rejected"].append(b[i] if better_a else a[i])
                rows["objective"].append(name)
        return datasets.Dataset.from_dict(rows)


def _build(config: SyntheticConfig, target: Path, progress: bool) -> None:
    world = World(config.world)
    model, tokenizer = pretrain_base_model(world, config, progress=progress)
    model.save_pretrained(target / "base")
    tokenizer.save_pretrained(target / "base")
    rng = np.random.default_rng(config.seed + 1)
    train_prompts = world.prompts("train")
    prompts = [train_prompts[i] for i in rng.integers(len(train_prompts), size=config.n_pairs)]
    settings = GenerationSettings(max_new_tokens=config.world.max_words + 4, batch_size=256)
    a = generate(model, tokenizer, prompts, settings, seed=config.seed + 2, progress=progress).responses
    b = generate(model, tokenizer, prompts, settings, seed=config.seed + 3, progress=progress).responses
    (target / "pairs.json").write_text(json.dumps([list(t) for t in zip(prompts, a, b, strict=True)]))


def load_synthetic_benchmark(
    config: SyntheticConfig, cache_dir: Path | None = None, progress: bool = True
) -> SyntheticBenchmark:
    """Build the benchmark, or load it from `cache_dir/benchmark-<hash>` when an earlier run built it.

    The build happens in a temporary folder renamed into place at the end, so an interrupted build never leaves a
    half-written cache entry.
    """
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache_dir / f"benchmark-{config.cache_key()}"
    from_cache = (target / "pairs.json").exists()
    if not from_cache:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
        try:
            _build(config, tmp, progress)
            (tmp / "config.json").write_text(config.model_dump_json(indent=2))
            try:
                tmp.rename(target)
            except OSError:  # another process finished the same build first: keep theirs
                if not (target / "pairs.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    pairs = [tuple(t) for t in json.loads((target / "pairs.json").read_text())]
    return SyntheticBenchmark(
        config=config,
        world=World(config.world),
        base_path=target / "base",
        pairs=pairs,
        from_cache=from_cache,
    )
