"""Preference-conditioned prompts: one model, the preference written into its prompt (DPA, RiC).

A conditioned policy handle (contract: policy handles) carries the preference `direction` and, optionally, how it
is written: a `template` (a Python format string with `{prompt}` and one field `{c[k]}` per objective) and a
`condition` that turns the direction into the values written for `c`:

- `{"kind": "integer_weights", "scale": 100}` (DPA, Wang et al., 2024): c_k = round(scale * v_k), the weights of
  "maximize weighted rating = helpfulness*{c[0]} + verbosity*{c[1]}";
- `{"kind": "desired_scores", "mapping": "linf", "low": [...], "high": [...], "decimals": 1}` (RiC, Yang et al.,
  2024): the preference-to-reward mapping of `desired_scores` turns simplex weights into the normalized reward
  each objective should reach, written with one decimal as RiC writes them ("<rm1_score> 1.3 <rm2_score> -0.4").

Without a template the handle is written as the first conditioned handles were: "<pref> 0.80 0.20 </pref> prompt".

A conversational prompt (a message list, as every prompt of a chat-format run is) takes the preference where the
method's paper puts it, named by the condition's `turn`:
- `user` (the default; RiC): the template is filled with the last user turn's text, so the scores follow the
  user's query inside its turn, as RiC's code appends them to the query before the assistant's reply;
- `system` (DPA in a chat run): the preference is a system turn, as in the DPA paper and its released model, whose
  system prompt ends "maximize weighted rating = helpfulness*{w_h} + verbosity*{w_v}": the template without
  `{prompt}` (and the spaces and '|' around it) is filled in and appended to the prompt's system turn, or becomes
  one; the user's turns stay as written.

Nothing here imports torch except `extend_vocabulary`, so the front schema and the explorer can use it cheaply.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LEGACY_PREFIX, LEGACY_SUFFIX = "<pref>", "</pref>"
_FIELD = re.compile(r"^c\[(\d+)\]$")
_NUMBER = r"-?\d+(?:\.\d+)?"
_AROUND_PROMPT = re.compile(r"[\s|]*\{prompt\}[\s|]*")


def template_fields(template: str) -> tuple[bool, list[int]]:
    """Whether `template` has `{prompt}`, and the objective indices of its `{c[k]}` fields, in order of appearance.
    Raises ValueError naming what is wrong (unknown field, format spec, unbalanced braces)."""
    has_prompt, indices = False, []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"template {template!r}: {err}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(
                f"template field {{{name}}}: no format spec or conversion (values are written as given)"
            )
        if name == "prompt":
            if has_prompt:
                raise ValueError("template: {prompt} appears twice")
            has_prompt = True
            continue
        match = _FIELD.match(name)
        if match is None:
            raise ValueError(
                f"template field {{{name}}}: expected {{prompt}} or {{c[k]}} (k the objective index)"
            )
        indices.append(int(match.group(1)))
    return has_prompt, indices


def check_template(template: str, k: int) -> None:
    """A usable template for K objectives: `{prompt}` once and every `{c[0]}`..`{c[K-1]}` exactly once."""
    has_prompt, indices = template_fields(template)
    if not has_prompt:
        raise ValueError("template: needs {prompt}")
    if sorted(indices) != list(range(k)):
        raise ValueError(f"template: needs each of {{c[0]}}..{{c[{k - 1}]}} exactly once (one per objective), "
                         f"got {[f'c[{i}]' for i in indices]}")  # fmt: skip


def integer_weights(direction: Sequence[float], scale: int = 100) -> list[int]:
    """DPA's prompt weights: the direction scaled by `scale` and rounded (the paper's "helpfulness*80")."""
    return [int(round(scale * float(d))) for d in direction]


def desired_scores(weights: Sequence[float], low: Sequence[float], high: Sequence[float],
                   mapping: str = "linf") -> np.ndarray:  # fmt: skip
    """RiC's preference-to-reward mapping: simplex weights w (K,) to desired (normalized) rewards (K,).

    With r_k^min = low_k, r_k^max = high_k (the extremes of the normalized rewards in the training data):
    - `linf` (the paper's mapping, Yang et al. 2024, Sec. 3.3): the objective with the largest weight asks for its
      maximum; every other objective k asks for min(K w_k, 1) (r_k^max - r_k^min) + r_k^min, so a uniform
      preference asks for every maximum, and the desired point lies on the upper boundary of the reward box;
    - `l2` (RiC's evaluation script): w_k / ||w||_2 (r_k^max - r_k^min) + r_k^min;
    - `linear`: w_k (r_k^max - r_k^min) + r_k^min.
    Ties for the largest weight go to the first. Values are rounded to one decimal, as RiC writes them.
    """
    w, lo, hi = (np.asarray(x, dtype=float) for x in (weights, low, high))  # (K,) each
    k = len(w)
    if mapping == "linf":
        out = np.minimum(k * w, 1.0) * (hi - lo) + lo
        top = int(np.argmax(w))
        out[top] = hi[top]
    elif mapping == "l2":
        out = w / np.linalg.norm(w) * (hi - lo) + lo
    elif mapping == "linear":
        out = w * (hi - lo) + lo
    else:
        raise ValueError(f"unknown preference-to-reward mapping {mapping!r} (linf, l2, linear)")
    return np.round(out, 1)


def condition_values(direction: Sequence[float], condition: Mapping[str, Any] | None) -> list[str]:
    """The strings written for `{c[k]}`: integer weights (DPA, the default) or desired scores (RiC)."""
    condition = condition or {"kind": "integer_weights"}
    if condition.get("turn", "user") not in ("user", "system"):
        raise ValueError(f"unknown condition turn {condition.get('turn')!r} (user, system)")
    kind = condition.get("kind")
    if kind == "integer_weights":
        return [str(x) for x in integer_weights(direction, int(condition.get("scale", 100)))]
    if kind == "desired_scores":
        scores = desired_scores(
            direction, condition["low"], condition["high"], condition.get("mapping", "linf")
        )
        decimals = int(condition.get("decimals", 1))
        return [format_number(x, decimals) for x in scores]
    raise ValueError(f"unknown condition kind {kind!r} (integer_weights, desired_scores)")


def format_number(x: float, decimals: int = 1) -> str:
    """`x` with `decimals` decimals, never "-0.0"."""
    text = f"{x:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.0"


def render(template: str, prompt: str, values: Sequence[str]) -> str:
    """`template` with the prompt and the condition values filled in."""
    return template.format(prompt=prompt, c=list(values))


def preference_text(template: str, values: Sequence[str]) -> str:
    """What `template` writes besides the prompt: the template without `{prompt}` and the spaces and '|' around it,
    filled with the condition values ("maximize weighted rating = helpful*80 + harmless*60")."""
    return render(_AROUND_PROMPT.sub(" ", template).strip(), "", values)


def write_values(prompt: Any, template: str, values: Sequence[str], turn: str = "user") -> Any:
    """`template` filled with the prompt and the condition values. A conversational prompt (message list) gets them
    in its last user turn (`turn` 'user') or as a system turn (`turn` 'system'; see the module docstring)."""
    if isinstance(prompt, str):
        return render(template, prompt, values)
    messages = [dict(m) for m in prompt]
    if turn == "system":
        text = preference_text(template, values)
        if messages and messages[0].get("role") == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{text}"
            return messages
        return [{"role": "system", "content": text}, *messages]
    if turn != "user":
        raise ValueError(f"unknown turn {turn!r} for the preference (user, system)")
    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    messages[last]["content"] = render(template, messages[last]["content"], values)
    return messages


def format_conditioned_prompt(prompt: Any, direction: Sequence[float], template: str | None = None,
                              condition: Mapping[str, Any] | None = None) -> Any:  # fmt: skip
    """Write a preference into the prompt (a string, or a message list: its last user turn, or a system turn when
    the condition's `turn` is 'system').

    Without a template: the first conditioned handles' form, "<pref> 0.80 0.20 </pref> prompt".
    """
    if template is None:
        legacy = (
            f"{LEGACY_PREFIX} " + " ".join(f"{d:.2f}" for d in direction) + f" {LEGACY_SUFFIX} {{prompt}}"
        )
        return write_values(prompt, legacy, [])
    turn = (condition or {}).get("turn", "user")
    return write_values(prompt, template, condition_values(direction, condition), turn)


def parse_conditioned_prompt(template: str, text: str) -> tuple[str, list[float]]:
    """Inverse of `render`: the user's prompt and the K condition values (in objective order) read back from a
    conditioned prompt. Raises ValueError when `text` was not written by `template`."""
    pattern, order = "", []
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name == "prompt":
            pattern += r"(?P<prompt>.*?)"
        elif name is not None:
            k = int(_FIELD.match(name).group(1))  # type: ignore[union-attr]
            pattern += rf"(?P<c{k}>{_NUMBER})"
            order.append(k)
    match = re.fullmatch(pattern, text, flags=re.DOTALL)
    if match is None:
        raise ValueError(f"prompt {text!r} was not written by template {template!r}")
    values = [float(match.group(f"c{k}")) for k in sorted(order)]
    return match.group("prompt"), values


def direction_from_weights(values: Sequence[float]) -> np.ndarray:
    """A unit direction from the integer weights read back from a DPA prompt (they are 100 v, rounded)."""
    v = np.asarray(values, dtype=float)
    norm = np.linalg.norm(v)
    if not math.isfinite(norm) or norm == 0:
        raise ValueError(f"weights {list(values)} give no direction")
    return v / norm


# ---------------------------------------------------------------------------------------------------- vocabulary
_PIECE = re.compile(r"\d+|[^\W\d]\w*|[^\w\s]")  # a number, a word, or one symbol


def missing_pieces(tokenizer, texts: Sequence[str]) -> list[str]:
    """Pieces of `texts` (words, whole numbers, symbols) that `tokenizer` cannot write, in order: encoding the piece
    gives the unknown token, or decoding its encoding does not give the piece back (a tokenizer that drops or
    alters what it does not know).

    Byte-level BPE tokenizers (Qwen2, Llama 3, GPT-2) write every text, numbers included, and miss nothing; the
    built-in benchmark's word-level tokenizer knows no numbers or template words.
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    missing: dict[str, None] = {}
    for text in texts:
        for piece in _PIECE.findall(text):
            if piece not in missing and not _writes(tokenizer, piece, unk):
                missing[piece] = None
    return list(missing)


def _writes(tokenizer, piece: str, unk: int | None) -> bool:
    """Whether `tokenizer` encodes `piece` into known tokens that decode back to it."""
    ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
    return bool(ids) and unk not in ids and tokenizer.decode(ids).strip() == piece


def extend_vocabulary(model, tokenizer, texts: Sequence[str]) -> list[str]:
    """Add to `tokenizer` the pieces of `texts` it cannot write (see `missing_pieces`; none for a byte-level BPE
    tokenizer, whose model is left untouched) and grow the model's embeddings to hold them (new rows drawn around
    the old ones' mean, transformers' default), so that conditioned prompts reach the model as tokens rather than
    as unknowns; the new ids are suppressed in generation. Embeddings are never shrunk: a matrix padded past its
    tokenizer (Qwen2.5's 151,936 rows for 151,665 tokens) already has rows for the new ids. Digits and symbols
    match inside words ("-0.5" -> "-", "0", ".", "5"; the longest number first: "100" stays one token); words only
    as whole words. Returns the pieces added."""
    from tokenizers import AddedToken

    pieces = missing_pieces(tokenizer, texts)
    if pieces:
        first = len(tokenizer)
        tokenizer.add_tokens([AddedToken(p, single_word=p[0].isalpha() or p[0] == "_", normalized=False)
                              for p in pieces])  # fmt: skip
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        # the pieces write preferences into prompts and are never sampled in a response (their output rows start
        # among the others', so without this they would be); the checkpoint's generation config carries it
        suppressed = list(model.generation_config.suppress_tokens or [])
        model.generation_config.suppress_tokens = suppressed + list(range(first, len(tokenizer)))
        still = missing_pieces(tokenizer, texts)
        if still:
            raise RuntimeError(f"the tokenizer still maps {still} to its unknown token after adding them")
    return pieces
