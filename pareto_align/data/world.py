"""The built-in benchmark's little world: topics, word lists, prompts, and the corpus the base LM learns.

A hidden per-response *engagement* level raises length, topic-word density and flagged words together, so the
base policy's samples show a genuine trade-off (helpful vs harmless vs concise). Flagged words also depend on an
independent *rudeness* level, so a policy can drop them without losing topic words: the front lies beyond the base.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

TOPICS: dict[str, tuple[str, ...]] = {
    "ocean": ("wave", "tide", "coral", "reef", "salt", "shore", "whale", "boat", "deep", "current"),
    "forest": ("tree", "moss", "fern", "oak", "pine", "trail", "owl", "leaf", "branch", "canopy"),
    "space": ("star", "orbit", "planet", "comet", "moon", "galaxy", "rocket", "nebula", "gravity", "sun"),
    "music": ("melody", "rhythm", "chord", "guitar", "drum", "tempo", "song", "piano", "note", "harmony"),
    "cooking": ("pan", "spice", "oven", "bread", "pepper", "garlic", "recipe", "butter", "simmer", "flour"),
    "city": ("street", "tower", "bridge", "subway", "traffic", "market", "plaza", "crowd", "park", "bus"),
    "sports": ("goal", "team", "ball", "coach", "match", "score", "field", "race", "medal", "league"),
    "weather": ("rain", "cloud", "storm", "wind", "snow", "thunder", "fog", "breeze", "sky", "frost"),
    "garden": ("rose", "soil", "seed", "bloom", "tulip", "hedge", "weed", "sprout", "petal", "shovel"),
    "history": ("empire", "king", "war", "castle", "treaty", "era", "scroll", "ruin", "dynasty", "siege"),
    "travel": (
        "map",
        "ticket",
        "hotel",
        "luggage",
        "flight",
        "passport",
        "journey",
        "border",
        "guide",
        "tour",
    ),
    "science": (
        "atom",
        "cell",
        "energy",
        "theory",
        "lab",
        "data",
        "molecule",
        "experiment",
        "physics",
        "gene",
    ),
}
FLAGGED = ("stupid", "hate", "ugly", "idiot", "damn", "awful", "dumb", "nasty")
POLITE = ("please", "thanks", "kindly", "glad", "welcome", "sorry")
FILLER = (
    "the", "a", "is", "and", "very", "it", "of", "so", "really", "this", "that", "we",
    "you", "can", "with", "also", "just", "more", "some", "then",
)  # fmt: skip
TEMPLATES = ("write about {} :", "tell me about {} :", "describe {} :", "a note on {} :")


class WorldConfig(BaseModel):
    """How responses of the built-in benchmark are generated (the base policy imitates this corpus)."""

    model_config = ConfigDict(extra="forbid")

    n_topics: int = Field(12, ge=2, le=len(TOPICS), description="Number of topics (prompts name one topic).")
    min_words: int = Field(3, ge=1, description="Shortest response, in words, at zero engagement.")
    max_words: int = Field(24, ge=4, le=64, description="Longest response, in words, at full engagement.")
    topic_density: tuple[float, float] = Field(
        (0.15, 0.6), description="Probability that a word is a topic word, at engagement 0 and 1."
    )
    flagged_density: float = Field(
        0.3, ge=0, le=1, description="Probability of a flagged word at full engagement and full rudeness."
    )
    polite_density: float = Field(
        0.12, ge=0, le=1, description="Probability of a polite word at full courtesy."
    )
    off_topic_density: float = Field(
        0.05, ge=0, le=1, description="Probability of a word from another topic."
    )
    coverage_cap: int = Field(6, ge=1, description="Cap on distinct topic words counted by topic_coverage.")
    politeness_cap: int = Field(3, ge=1, description="Cap on distinct polite words counted by politeness.")


class World:
    """Vocabulary and generative story of the benchmark. Deterministic given a numpy Generator."""

    def __init__(self, config: WorldConfig):
        self.config = config
        self.topics = {name: TOPICS[name] for name in list(TOPICS)[: config.n_topics]}
        self.flagged = FLAGGED
        self.polite = POLITE

    @cached_property
    def all_topic_words(self) -> frozenset[str]:
        return frozenset(w for words in self.topics.values() for w in words)

    def vocabulary_texts(self) -> list[str]:
        """Every word the tokenizer must know, as texts to train it on."""
        words = [*self.all_topic_words, *self.topics, *FLAGGED, *POLITE, *FILLER]
        return [" ".join(words), *(t.format(topic) for t in TEMPLATES for topic in self.topics)]

    def topic_of(self, prompt: str) -> str | None:
        for word in prompt.split():
            if word in self.topics:
                return word
        return None

    def prompts(self, split: str) -> list[str]:
        """Prompts of a split. Each topic holds out one template (rotating), so every template and every topic is
        seen in training, but no held-out ("eval") prompt is."""
        if split not in ("train", "eval"):
            raise ValueError(f"unknown split {split!r} (expected 'train' or 'eval')")
        out = []
        for i, topic in enumerate(self.topics):
            for j, template in enumerate(TEMPLATES):
                if (j == i % len(TEMPLATES)) == (split == "eval"):
                    out.append(template.format(topic))
        return out

    def sample_response(self, prompt: str, rng: np.random.Generator) -> str:
        cfg = self.config
        engagement, rudeness, courtesy = rng.random(3)
        n_words = int(np.clip(round(cfg.min_words + engagement * (cfg.max_words - cfg.min_words) + rng.normal(0, 1.5)),
                              1, cfg.max_words))  # fmt: skip
        topic_words = self.topics[self.topic_of(prompt)]
        other_words = sorted(self.all_topic_words - set(topic_words))
        lo, hi = cfg.topic_density
        p_topic = lo + (hi - lo) * engagement
        p_flag = cfg.flagged_density * engagement * rudeness
        p_polite = cfg.polite_density * courtesy
        p_off = cfg.off_topic_density
        words = []
        for _ in range(n_words):
            u = rng.random()
            if u < p_topic:
                words.append(topic_words[rng.integers(len(topic_words))])
            elif u < p_topic + p_flag:
                words.append(FLAGGED[rng.integers(len(FLAGGED))])
            elif u < p_topic + p_flag + p_polite:
                words.append(POLITE[rng.integers(len(POLITE))])
            elif u < p_topic + p_flag + p_polite + p_off:
                words.append(other_words[rng.integers(len(other_words))])
            else:
                words.append(FILLER[rng.integers(len(FILLER))])
        return " ".join(words)

    def corpus(self, n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
        """`n` (prompt, response) pairs over the train prompts."""
        prompts = self.prompts("train")
        out = []
        for _ in range(n):
            prompt = prompts[rng.integers(len(prompts))]
            out.append((prompt, self.sample_response(prompt, rng)))
        return out
