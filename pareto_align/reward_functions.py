"""Real scorers as reward functions, for objectives scored by a function (`scorer: {function: ...}`) and for TRL.

Each function has TRL's reward-function signature, `f(prompts, completions, **kwargs) -> list[float]`: it is
called once per batch, with completions as strings or, for conversational data, as message lists (the assistant's
content is scored), and ignores the keyword arguments TRL adds (`completion_ids`, `trainer_state`, the dataset's
other columns, the objective's name). Models and analysers load once per process, on first use.

    objectives:
      - {name: positive,  scorer: {function: "pareto_align.reward_functions:sentiment"}}
      - {name: readable,  scorer: {function: "pareto_align.reward_functions:readability"}}
      - {name: offensive, scorer: {function: "pareto_align.reward_functions:offensive"}, direction: min}
      - {name: length,    scorer: {function: "pareto_align.reward_functions:length"}, direction: min}

| function | what it measures | range | library |
|---|---|---|---|
| `sentiment` | VADER's compound polarity (Hutto and Gilbert, ICWSM 2014), lexicon and rules | [-1, 1] | vaderSentiment |
| `readability` | Flesch reading ease, 206.835 - 1.015 words/sentence - 84.6 syllables/word, clipped to the scale's [0, 100] | [0, 100], 0 for no text; plain English 60-70 | textstat (syllables from the CMU dictionary, pyphen otherwise) |
| `offensive` | probability of offensive language: a linear SVM on bag-of-words, calibrated, trained on 200k human-labelled texts | [0, 1] | alt-profanity-check |
| `length` | words (whitespace-separated) | >= 0 | none |
| `prompt_overlap` | share of the prompt's content words (lower-cased, without stop words) that the response uses: does it stay on the request | [0, 1] | none |
| `distinct_bigrams` | distinct word bigrams / bigrams: 1 for no repetition, low for a response that loops (small models do) | [0, 1]; 1 under two words | none |

The libraries are the `real` extra (`pip install -e .[real]`; scripts/setup.sh installs it). Without one, the
function that needs it raises ImportError naming the package.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

__all__ = ["sentiment", "readability", "offensive", "length", "prompt_overlap", "distinct_bigrams",
           "completion_text", "prompt_text"]  # fmt: skip

_WORD = re.compile(r"[a-z0-9']+")
# function words that say nothing about what a request is about (prompt_overlap)
_STOP_WORDS = frozenset(
    """
a about above after again all am an and any are as at be because been before being below between both but by can
could did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own please same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves can't don't i'm it's what's i've i'd let's
""".split()  # noqa: SIM905 -- a word list reads better as text
)  # fmt: skip


def _text(item: Any, role: str | None) -> str:
    """A completion or prompt as text: a string as it is; a message list's last message of `role` (any role when
    None), its content joined when it is a list of parts."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        item = [item]
    messages = [m for m in item if role is None or m.get("role") == role] or list(item)
    if not messages:
        return ""
    content = messages[-1].get("content", "")
    if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def completion_text(completion: Any) -> str:
    """The text a completion scores by: a string, or the assistant's content of a message list."""
    return _text(completion, "assistant")


def prompt_text(prompt: Any) -> str:
    """The request a prompt makes: a string, or the last user message of a message list."""
    return _text(prompt, "user")


def _require(package: str, module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"pareto_align.reward_functions needs the `{package}` package: pip install {package} "
                          "(or the toolkit's extra: pip install -e .[real])") from err  # fmt: skip


@cache
def _vader():
    return _require("vaderSentiment", "vaderSentiment.vaderSentiment").SentimentIntensityAnalyzer()


@cache
def _textstat():
    textstat = _require("textstat", "textstat")
    textstat.set_lang("en_US")
    return textstat


@cache
def _profanity():
    return _require("alt-profanity-check", "profanity_check")


def sentiment(prompts: list, completions: list, **kwargs) -> list[float]:
    """VADER compound polarity of each completion, in [-1, 1] (0 for no text)."""
    analyser = _vader()
    return [float(analyser.polarity_scores(completion_text(c))["compound"]) for c in completions]


def readability(prompts: list, completions: list, **kwargs) -> list[float]:
    """Flesch reading ease of each completion, clipped to [0, 100] (higher reads more easily; 0 for no text).

    The formula is unbounded: a URL or a run of letters without spaces scores below -600, one short word above
    120. On SmolLM2-135M's sampled responses 1% fell below -18 (experiments/RESULTS.md); unclipped, those few
    would set the reward's scale."""
    textstat = _textstat()
    return [
        min(max(float(textstat.flesch_reading_ease(completion_text(c))), 0.0), 100.0) for c in completions
    ]


def offensive(prompts: list, completions: list, **kwargs) -> list[float]:
    """Probability that each completion is offensive language, in [0, 1] (one call for the whole batch)."""
    texts = [completion_text(c) for c in completions]
    if not texts:
        return []
    return [float(p) for p in _profanity().predict_prob(texts)]


def length(prompts: list, completions: list, **kwargs) -> list[float]:
    """Words in each completion (whitespace-separated)."""
    return [float(len(completion_text(c).split())) for c in completions]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS}


def prompt_overlap(prompts: list, completions: list, **kwargs) -> list[float]:
    """Share of each prompt's content words that its completion uses, in [0, 1] (1 for a prompt without any)."""
    out = []
    for prompt, completion in zip(prompts, completions, strict=True):
        asked = _content_words(prompt_text(prompt))
        out.append(len(asked & _content_words(completion_text(completion))) / len(asked) if asked else 1.0)
    return out


def distinct_bigrams(prompts: list, completions: list, **kwargs) -> list[float]:
    """Distinct word bigrams over bigrams in each completion, in [0, 1] (1 under two words): low when it loops."""
    out = []
    for completion in completions:
        words = _WORD.findall(completion_text(completion).lower())
        bigrams = list(zip(words, words[1:], strict=False))
        out.append(len(set(bigrams)) / len(bigrams) if bigrams else 1.0)
    return out
