"""Tiny local language models for tests and the built-in benchmark: no download, trained on the machine.

A word-level tokenizer trained with `tokenizers` and a randomly initialised Llama (a real transformers
architecture), so that every code path that later runs on a hub model runs here on a model of a few hundred
thousand parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"


def train_word_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer whose vocabulary is every word in `texts`.

    The end-of-sequence marker is a special token, so TRL's string concatenation `prompt + completion + eos`
    tokenizes into the same ids as the pieces (completions need a leading space, as with any word-level vocab).
    Prompts are padded on the left, as generation and TRL's DPO trainer expect.
    """
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, UNK, BOS, EOS], min_frequency=1)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_causal_lm(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 128,
    seed: int = 0,
) -> LlamaForCausalLM:
    """A randomly initialised Llama sized for two CPU cores (2 layers, hidden 128: ~0.4M parameters)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
