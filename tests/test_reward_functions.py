"""The real scorers of pareto_align/reward_functions.py against hand-computed values."""

from __future__ import annotations

import importlib.util
import math

import pytest

from pareto_align import reward_functions as rf

REAL = all(importlib.util.find_spec(m) for m in ("vaderSentiment", "textstat", "profanity_check"))
needs_real = pytest.mark.skipif(not REAL, reason="the `real` extra is not installed (pip install -e .[real])")
SCORERS = [rf.sentiment, rf.readability, rf.offensive, rf.length, rf.prompt_overlap, rf.distinct_bigrams]


@needs_real
def test_sentiment_is_vaders_normalized_valence():
    # VADER: compound = s / sqrt(s^2 + 15) for the summed valence s; lexicon: good 1.9, bad -2.5
    values = rf.sentiment([""] * 3, ["The food is good", "The food is bad", "The table is brown"])
    expected = [1.9 / math.sqrt(1.9**2 + 15), -2.5 / math.sqrt(2.5**2 + 15), 0.0]
    assert values == pytest.approx(expected, abs=5e-4)  # VADER rounds to 4 decimals


@needs_real
def test_readability_is_flesch_reading_ease_clipped_to_its_scale():
    # 9 words, 1 sentence, 11 syllables: 206.835 - 1.015 * 9/1 - 84.6 * 11/9
    fox = "The quick brown fox jumps over the lazy dog."
    # 11 words, 2 sentences, 19 syllables: ev-er-y 3, mor-ning 2, she 1, wa-ters 2, the 1, gar-den 2; the 1,
    # flow-ers 2, look 1, pret-ty 2, to-day 2
    garden = "Every morning she waters the garden. The flowers look pretty today."
    # unclipped: 9 words, 2 sentences, 10 syllables give 108.27; long words in one sentence give below 0
    easy = "The cat sat on the mat. It was happy."
    hard = (
        "Institutional considerations necessitate comprehensive organizational reconfiguration immediately."
    )
    values = rf.readability([""] * 5, [fox, garden, easy, hard, ""])
    expected = [206.835 - 1.015 * 9 - 84.6 * 11 / 9, 206.835 - 1.015 * 5.5 - 84.6 * 19 / 11, 100.0, 0.0, 0.0]
    assert values == pytest.approx(expected)


@needs_real
def test_offensive_is_a_probability_and_scores_the_batch_in_one_call(monkeypatch):
    module = rf._profanity()
    calls = []
    real = module.predict_prob
    monkeypatch.setattr(module, "predict_prob", lambda texts: calls.append(list(texts)) or real(texts))
    texts = ["You are a stupid idiot and I hate you", "Thank you, have a lovely afternoon.", ""]
    values = rf.offensive([""] * 3, texts)
    assert len(calls) == 1 and calls[0] == texts
    assert values[0] > 0.9 and values[1] < 0.1 and all(0.0 <= v <= 1.0 for v in values)
    assert rf.offensive([], []) == []


def test_length_counts_words():
    assert rf.length(["", "", ""], ["one two  three\nfour", "", "  x  "]) == [4.0, 0.0, 1.0]


def test_prompt_overlap_counts_the_requests_content_words():
    # content words of the prompt: water, tomato, plants ("how", "do", "i" are stop words)
    prompt = "How do I water tomato plants?"
    values = rf.prompt_overlap(
        [prompt, prompt, "How do I?"], ["Water the plants daily.", "No idea.", "Sure."]
    )
    assert values == pytest.approx([2 / 3, 0.0, 1.0])


def test_distinct_bigrams_falls_when_a_response_loops():
    # 6 words, 5 bigrams, 2 distinct: (the, cat), (cat, the)
    values = rf.distinct_bigrams(["", "", ""], ["the cat the cat the cat", "a b c d", "word"])
    assert values == pytest.approx([2 / 5, 1.0, 1.0])


@needs_real
@pytest.mark.parametrize("scorer", SCORERS, ids=lambda f: f.__name__)
def test_message_lists_score_the_assistants_content_and_trl_kwargs_are_ignored(scorer):
    prompts = ["How do I water tomato plants?", "Tell me about the sea."]
    texts = ["Water them every morning, it is good for them.", "The sea is wide and the sea is deep."]
    chat_prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": p}] for p in prompts
    ]
    chat_completions = [[{"role": "assistant", "content": t}] for t in texts]
    plain = scorer(prompts, texts)
    assert len(plain) == 2 and all(isinstance(v, float) for v in plain)
    chat = scorer(
        chat_prompts, chat_completions, completion_ids=[[1], [2]], trainer_state=None, objective="x"
    )
    assert chat == plain


def test_a_missing_library_names_its_package(monkeypatch):
    import importlib

    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a: (_ for _ in ()).throw(ImportError(name)) if name == "textstat" else real(name, *a))  # fmt: skip
    rf._textstat.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"needs the `textstat` package: pip install textstat"):
            rf.readability([""], ["Some text."])
    finally:
        rf._textstat.cache_clear()
