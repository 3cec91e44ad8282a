"""Sampling responses from a causal LM: the one place that knows how this toolkit generates.

What a model's own files bring to generation, and what the toolkit does with it (contract: real models):
- end of sequence: instruct models declare several end ids in generation_config.json (Qwen2.5-Instruct ends a turn
  with <|im_end|> or <|endoftext|>; Llama 3 with <|eot_id|> or <|end_of_text|>). A response ends at the first of
  any of them or the tokenizer's eos (`end_token_ids`); nothing after it is returned, scored or counted.
- sampling: generation_config.json also sets sampling defaults (Qwen2.5: temperature 0.7, top_k 20, top_p 0.8,
  repetition_penalty 1.05), and transformers fills every field a generate() call leaves unset from them. The
  toolkit samples with its own settings (`GenerationSettings`, defaults: pure ancestral sampling) and nothing else:
  while it generates, the model's generation config is replaced by one that keeps only its token ids.
- padding: a tokenizer without a pad token (Llama 3) pads with its eos, which is one of the end ids
  (`ensure_pad_token`), so a padded position is never mistaken for text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

# what the toolkit keeps of a model's generation config while it generates: token ids and cache layout, no sampling
# (suppress_tokens: ids a model must never write, as the template pieces `extend_vocabulary` adds)
_KEPT_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "suppress_tokens",
                "use_cache", "cache_implementation", "cache_config")  # fmt: skip


class GenerationSettings(BaseModel):
    """Sampling settings. Defaults are pure ancestral sampling, whatever the model's generation_config.json sets
    (see the module docstring): transformers would otherwise apply its top_k=50, or the model's own defaults."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(32, ge=1, description="Maximum number of generated tokens per response.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_k: int = Field(0, ge=0, description="Top-k sampling; 0 disables it.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling; 1.0 disables it.")
    min_p: float = Field(
        0.0, ge=0, le=1, description="Min-p sampling (relative to the most likely token); 0 disables it."
    )
    repetition_penalty: float = Field(
        1.0,
        gt=0,
        description="Divides the scores of tokens already in the text (CTRL's penalty); 1.0 disables it.",
    )
    do_sample: bool = Field(True, description="Sample (True) or decode greedily (False).")
    batch_size: int = Field(128, ge=1, description="Prompts per generate() call.")

    def generation_config(self, end_ids: list[int], pad_id: int | None) -> GenerationConfig:
        """The transformers config of these settings, stopping at any of `end_ids` and padding with `pad_id`."""
        sampling = {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p,
                    "min_p": self.min_p or None} if self.do_sample else {}  # fmt: skip
        return GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                                repetition_penalty=self.repetition_penalty, eos_token_id=list(end_ids),
                                pad_token_id=pad_id, **sampling)  # fmt: skip


@dataclass
class Generated:
    prompts: list[str]
    responses: list[str]
    n_tokens: int  # generated tokens in total, for compute accounting


def render_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list) -> tuple[list[str], bool]:
    """Prompts as the model sees them, and whether the tokenizer adds its special tokens (as TRL tokenizes them).

    Plain strings are tokenized as they are (TRL calls the tokenizer with its defaults); conversational prompts
    (message lists) go through the chat template with a generation prompt, which writes its own special tokens.
    """
    if prompts and not isinstance(prompts[0], str):
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("conversational prompts need a tokenizer with a chat template")
        return [
            tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts
        ], False
    return list(prompts), True


def scorable_responses(prompts: list, responses: list[str]) -> list[str]:
    """Generated texts as the toolkit's scorers take them: plain completions are joined to their prompt as strings
    (TRL's convention), so they start with a space; completions of chat prompts are stripped."""
    conversational = bool(prompts) and not isinstance(prompts[0], str)
    return [r.strip() if conversational else " " + r.strip() for r in responses]


def end_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every id that ends a response: those the model's generation config declares, and the tokenizer's eos."""
    declared = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [] if declared is None else [declared] if isinstance(declared, int) else list(declared)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give a tokenizer without a pad token (Llama 3) its eos as pad: an end id, as TRL's trainers choose too."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@contextlib.contextmanager
def toolkit_sampling(model: PreTrainedModel) -> Iterator[None]:
    """While inside, `model.generation_config` keeps only the model's token ids (and cache layout): generate()
    fills the fields a call leaves unset from it (transformers 5's `_prepare_generation_config`), so a model's
    sampling defaults (top_k, repetition_penalty, min_p, ...) would otherwise reach every call. The original config
    is restored afterwards (it is what a saved checkpoint keeps). A PEFT model's base holds the config."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    original = inner.generation_config
    kept = {
        name: getattr(original, name) for name in _KEPT_FIELDS if getattr(original, name, None) is not None
    }
    inner.generation_config = GenerationConfig(**kept)
    try:
        yield
    finally:
        inner.generation_config = original


def response_lengths(completion_ids: torch.Tensor, end_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """For generated ids (B, T): the position of each row's first end id (T where none), (B,), and whether the row
    ended, (B,). The text is what comes before that position; its cost, that position plus the end token."""
    is_end = torch.isin(completion_ids, torch.tensor(end_ids, device=completion_ids.device))  # (B, T)
    ended = is_end.any(dim=1)  # (B,)
    first = torch.where(ended, is_end.int().argmax(dim=1), completion_ids.shape[1])  # (B,)
    return first, ended


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list,
    settings: GenerationSettings | None = None,
    seed: int = 0,
    progress: bool = False,
    logits_processor=None,
) -> Generated:
    """Sample one response per prompt (repeat prompts for several samples). Prompts are left-padded; strings or,
    for chat models, message lists (see `render_prompts`).

    Returns the decoded continuations up to the first end id (see `end_token_ids`), without special tokens, in
    prompt order, and the tokens generated up to and including that end id. Only `settings` decide how tokens are
    sampled, never the model's generation config (see `toolkit_sampling`). The torch RNG is forked, so the
    caller's random state is untouched and a (model, prompts, seed) triple always gives the same responses.
    `logits_processor` (a factory called once per batch with the batch's encoding, returning a transformers
    `LogitsProcessorList`) changes the next-token scores, as decoding-time mixtures of specialists do.
    """
    settings = settings or GenerationSettings()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    ensure_pad_token(tokenizer)
    end_ids = end_token_ids(model, tokenizer)
    config = settings.generation_config(end_ids, tokenizer.pad_token_id)
    texts, add_special_tokens = render_prompts(tokenizer, list(prompts))
    responses: list[str] = []
    n_tokens = 0
    starts = range(0, len(prompts), settings.batch_size)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), toolkit_sampling(model):
        torch.manual_seed(seed)
        for start in tqdm(starts, desc="generating", disable=not progress, leave=False):
            batch = texts[start : start + settings.batch_size]
            enc = tokenizer(
                batch, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens
            ).to(device)
            out = model.generate(**enc, generation_config=config,
                                 logits_processor=logits_processor(enc) if logits_processor is not None else None)  # fmt: skip
            completion_ids = out[:, enc["input_ids"].shape[1] :]  # (B, T_new)
            first, ended = response_lengths(completion_ids, end_ids)  # (B,), (B,)
            n_tokens += int((first + ended.long()).sum())
            texts_ids = [
                row[:n] for row, n in zip(completion_ids, first.tolist(), strict=True)
            ]  # before the end
            responses.extend(tokenizer.batch_decode(texts_ids, skip_special_tokens=True))
    model.train(was_training)
    return Generated(prompts=list(prompts), responses=responses, n_tokens=n_tokens)
