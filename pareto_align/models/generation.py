"""Sampling responses from a causal LM: the one place that knows how this toolkit generates."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase


class GenerationSettings(BaseModel):
    """Sampling settings. Defaults are pure ancestral sampling: transformers 5 applies top_k=50 when top_k is unset."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(32, ge=1, description="Maximum number of generated tokens per response.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_k: int = Field(0, ge=0, description="Top-k sampling; 0 disables it.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling; 1.0 disables it.")
    do_sample: bool = Field(True, description="Sample (True) or decode greedily (False).")
    batch_size: int = Field(128, ge=1, description="Prompts per generate() call.")


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

    Returns the decoded continuations without special tokens, in prompt order. The torch RNG is forked, so the
    caller's random state is untouched and a (model, prompts, seed) triple always gives the same responses.
    `logits_processor` (a factory called once per batch with the batch's encoding, returning a transformers
    `LogitsProcessorList`) changes the next-token scores, as decoding-time mixtures of specialists do.
    """
    settings = settings or GenerationSettings()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    texts, add_special_tokens = render_prompts(tokenizer, list(prompts))
    responses: list[str] = []
    n_tokens = 0
    starts = range(0, len(prompts), settings.batch_size)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in tqdm(starts, desc="generating", disable=not progress, leave=False):
            batch = texts[start : start + settings.batch_size]
            enc = tokenizer(
                batch, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens
            ).to(device)
            out = model.generate(
                **enc,
                max_new_tokens=settings.max_new_tokens,
                do_sample=settings.do_sample,
                temperature=settings.temperature if settings.do_sample else None,
                top_k=settings.top_k if settings.do_sample else None,
                top_p=settings.top_p if settings.do_sample else None,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                logits_processor=logits_processor(enc) if logits_processor is not None else None,
            )
            completion_ids = out[:, enc["input_ids"].shape[1] :]  # (B, T_new)
            n_tokens += int((completion_ids != tokenizer.pad_token_id).sum())
            responses.extend(tokenizer.batch_decode(completion_ids, skip_special_tokens=True))
    model.train(was_training)
    return Generated(prompts=list(prompts), responses=responses, n_tokens=n_tokens)
