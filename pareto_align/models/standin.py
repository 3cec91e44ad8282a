"""Local stand-ins for the instruct model families users point the toolkit at (contract: real models,
docs/contracts.md).

No hub download is possible in tests, the demo or CI, so a stand-in reproduces, at a few hundred thousand
parameters, what a hub snapshot of Qwen2.5-Instruct or Llama-3-Instruct brings into the toolkit's code paths:

- the architecture: transformers' own `Qwen2ForCausalLM` / `LlamaForCausalLM` with grouped-query attention, random
  init, a few layers, small width; Qwen's tied embeddings, Llama's untied ones; an embedding matrix larger than the
  tokenizer (Qwen2.5 pads its 151,665 tokens to 151,936 rows), so code that equates the two is caught;
- the tokenizer: byte-level BPE trained here with `tokenizers`, with the family's pre-tokenizer pattern (Qwen2 splits
  every digit into its own token, Llama 3 groups up to three digits), the family's special tokens appended after the
  learned vocabulary (as their ids are in the real files), its beginning-of-text handling (Llama 3 prepends
  `<|begin_of_text|>` when tokenizing; Qwen adds nothing), no pad token for Llama 3, and a chat template of the
  family's shape (ChatML with a default system turn; Llama 3's header/eot turns);
- the weights saved in bfloat16 (`dtype: bfloat16` in config.json, as instruct checkpoints are), so that
  `from_pretrained` without a dtype loads bf16 weights as it does for a real model;
- a `generation_config.json` that, like the instruct models', declares several end-of-sequence ids and its own
  sampling defaults (`do_sample`, `temperature`, `top_k`, `top_p`, `repetition_penalty`).

The folder is read by `from_pretrained` like a hub snapshot, so `policy.model: <path>` runs the user's code path.

    path = save_standin("qwen2", tmp_dir / "qwen2")      # or "llama3"; size="0.5b" for a Qwen2.5-0.5B-sized model
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

Family = Literal["qwen2", "llama3"]

# The families' pre-tokenizer patterns: they differ in how digits split (one per token vs up to three).
_WORDS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
_REST = r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_DIGITS = {"qwen2": r"\p{N}", "llama3": r"\p{N}{1,3}"}

# ChatML (Qwen2.5-Instruct's shape): a default system turn when the conversation has none.
QWEN2_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Llama 3 Instruct's shape: the template writes <|begin_of_text|> itself, and each turn ends with <|eot_id|>.
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class FamilySpec:
    """What a family's tokenizer and generation config declare (token strings; ids follow the trained vocab)."""

    special_tokens: list[str]
    eos_token: str  # the tokenizer's eos (what `tokenizer.eos_token_id` returns)
    end_tokens: list[str]  # generation_config.eos_token_id: every token that ends a response
    pad_token: str | None
    bos_token: str | None
    prepend_bos: bool  # the tokenizer's post-processor writes bos before every text
    chat_template: str
    sampling: dict[str, Any] = field(default_factory=dict)  # the generation config's sampling defaults
    model: Literal["qwen2", "llama"] = "qwen2"


FAMILIES: dict[str, FamilySpec] = {
    "qwen2": FamilySpec(
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        eos_token="<|im_end|>",
        end_tokens=["<|im_end|>", "<|endoftext|>"],
        pad_token="<|endoftext|>",
        bos_token=None,
        prepend_bos=False,
        chat_template=QWEN2_CHAT_TEMPLATE,
        sampling={
            "do_sample": True,
            "temperature": 0.7,
            "top_k": 20,
            "top_p": 0.8,
            "repetition_penalty": 1.1,
        },
        model="qwen2",
    ),
    "llama3": FamilySpec(
        special_tokens=[
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
        ],  # fmt: skip
        eos_token="<|eot_id|>",
        end_tokens=["<|end_of_text|>", "<|eot_id|>"],
        pad_token=None,
        bos_token="<|begin_of_text|>",
        prepend_bos=True,
        chat_template=LLAMA3_CHAT_TEMPLATE,
        sampling={
            "do_sample": True,
            "temperature": 0.6,
            "top_p": 0.9,
            "top_k": 50,
            "repetition_penalty": 1.05,
        },
        model="llama",
    ),
}

# Sizes: "tiny" for tests (a few hundred thousand parameters); "0.5b" is Qwen2.5-0.5B's shape, for benchmarks.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },  # fmt: skip
    "small": {  # a few million parameters: benchmarks where the forward pass, not the overhead, should dominate
        "hidden_size": 256,
        "intermediate_size": 768,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
    },  # fmt: skip
    "0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
    },  # fmt: skip
}
# Rows of the embedding matrix: Qwen pads past its tokenizer (151,665 -> 151,936), Llama 3 matches it (128,256).
VOCAB_SIZE = {"tiny": 1024, "small": 1024, "0.5b": 151_936}
TOKENIZER_SIZE = {"qwen2": 960, "llama3": 2048}

# Words for the tokenizer's training corpus and the stand-in data sets (see `example_texts`).
WORDS = (  # noqa: SIM905 -- a word list reads better as text
    "the a an of to in and is it that for on with as be this are or by from at not but what all were when can "
    "there use your how said each which do their time if will way about many then them write would like so these "
    "her long make thing see him two has look more day could go come did number sound no most people my over know "
    "water than call first who may down side been now find any new work part take get place made live where after "
    "back little only round man year came show every good me give our under name very through just form sentence "
    "great think say help low line differ turn cause much mean before move right boy old too same tell does set "
    "three want air well also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again animal point mother "
    "world near build self earth father safe harmful answer question explain please sorry cannot kindly steps "
    "recipe code python list summary weather travel health money history science music sport garden"
).split()


def example_texts(n: int, seed: int = 0) -> list[str]:
    """`n` short English-like sentences with numbers and punctuation (deterministic for a seed)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = rng.choices(WORDS, k=rng.randint(4, 14))
        if rng.random() < 0.4:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 2026)))
        text = " ".join(words).capitalize() + rng.choice([".", "?", "!", ":", ","])
        texts.append(text)
    return texts


def build_standin_tokenizer(family: Family, vocab_size: int | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer of the family's shape (see the module docstring), trained on `example_texts`."""
    spec = FAMILIES[family]
    vocab_size = vocab_size or TOKENIZER_SIZE[family]
    tokenizer = Tokenizer(models.BPE())
    pattern = Regex(_WORDS + _DIGITS[family] + _REST)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern, behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]  # fmt: skip
    )
    tokenizer.decoder = decoders.ByteLevel()
    n_special = len(spec.special_tokens)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - n_special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    numbers = [" ".join(str(i) for i in range(j, j + 50)) for j in range(0, 1000, 50)]  # 3-digit merges
    tokenizer.train_from_iterator(example_texts(4000) + numbers * 4, trainer=trainer)
    tokenizer.add_special_tokens(spec.special_tokens)  # after the learned vocabulary, as in the real files
    if spec.prepend_bos:
        bos_id = tokenizer.token_to_id(spec.bos_token)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{spec.bos_token} $A", pair=f"{spec.bos_token} $A {spec.bos_token} $B",
            special_tokens=[(spec.bos_token, bos_id)],
        )  # fmt: skip
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=spec.eos_token,
        pad_token=spec.pad_token,
        bos_token=spec.bos_token,
        additional_special_tokens=[
            t for t in spec.special_tokens if t not in {spec.eos_token, spec.pad_token, spec.bos_token}
        ],  # fmt: skip
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    fast.chat_template = spec.chat_template
    return fast


def build_standin_model(family: Family, tokenizer: PreTrainedTokenizerFast, size: str = "tiny",
                        seed: int = 0) -> PreTrainedModel:  # fmt: skip
    """A randomly initialised model of the family's architecture, its embeddings padded past the tokenizer."""
    spec = FAMILIES[family]
    vocab_size = max(VOCAB_SIZE[size], len(tokenizer)) if family == "qwen2" else len(tokenizer)
    if size == "0.5b" and family == "llama3":
        raise ValueError("size '0.5b' is Qwen2.5-0.5B's shape; use family 'qwen2'")
    common = dict(vocab_size=vocab_size, max_position_embeddings=2048, **SIZES[size])
    ids = {"bos_token_id": tokenizer.convert_tokens_to_ids(spec.bos_token or spec.special_tokens[0]),
           "eos_token_id": tokenizer.convert_tokens_to_ids(spec.special_tokens[0] if family == "qwen2"
                                                           else "<|end_of_text|>")}  # fmt: skip
    if spec.model == "qwen2":
        config = Qwen2Config(**common, **ids, tie_word_embeddings=True, rope_theta=1_000_000.0)
        cls = Qwen2ForCausalLM
    else:
        config = LlamaConfig(**common, **ids, tie_word_embeddings=False, rope_theta=500_000.0)
        cls = LlamaForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    model.generation_config = standin_generation_config(family, tokenizer)
    return model


def standin_generation_config(family: Family, tokenizer: PreTrainedTokenizerFast) -> GenerationConfig:
    """The family's generation defaults: several end ids and sampling settings the toolkit must not inherit."""
    spec = FAMILIES[family]
    end_ids = tokenizer.convert_tokens_to_ids(spec.end_tokens)
    bos = tokenizer.convert_tokens_to_ids(spec.bos_token) if spec.bos_token else end_ids[-1]
    pad = tokenizer.convert_tokens_to_ids(spec.pad_token) if spec.pad_token else None
    return GenerationConfig(bos_token_id=bos, eos_token_id=end_ids, pad_token_id=pad, **spec.sampling)


def save_standin(family: Family, path: str | Path, size: str = "tiny", dtype: torch.dtype = torch.bfloat16,
                 seed: int = 0) -> Path:  # fmt: skip
    """Build a stand-in and save it as a folder `from_pretrained` reads like a hub snapshot (weights in `dtype`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown stand-in family {family!r}; expected one of {sorted(FAMILIES)}")
    path = Path(path)
    tokenizer = build_standin_tokenizer(family)
    model = build_standin_model(family, tokenizer, size, seed).to(dtype)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def save_standin_classifier(path: str | Path, labels: list[str] | None = None, family: Family = "qwen2",
                            chat_template: bool = True, size: str = "tiny", seed: int = 0) -> Path:  # fmt: skip
    """A reward model the user would bring, built locally: the family's `*ForSequenceClassification` (random init,
    one output per label; None: one output, as Skywork-Reward and OpenAssistant's are), with or without its chat
    template, saved in float32 as a folder `from_pretrained` reads like a hub snapshot."""
    from transformers import AutoModelForSequenceClassification

    path = Path(path)
    tokenizer = build_standin_tokenizer(family)
    if not chat_template:
        tokenizer.chat_template = None
    causal = build_standin_model(family, tokenizer, size, seed)
    config = causal.config
    config.num_labels = len(labels) if labels else 1
    config.id2label = dict(enumerate(labels)) if labels else {0: "LABEL_0"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    config.pad_token_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else config.eos_token_id
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
