"""Generation on instruct-model stand-ins (models/generation.py): a response ends at any end id the model declares,
nothing after it is returned or counted, and only the toolkit's sampling settings apply, never the sampling
defaults of the model's generation_config.json (nor, under TRL's online trainers, those TRL leaves unset)."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
)

from pareto_align.methods import morlhf
from pareto_align.models.generation import (
    GenerationSettings,
    end_token_ids,
    ensure_pad_token,
    generate,
    toolkit_sampling,
)
from pareto_align.models.standin import FAMILIES

PROMPTS = ["Explain the weather", "Write a list of steps", "Why is water wet", "Tell me about music"]


def _load(path):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer


class ForceTokens(LogitsProcessor):
    """Row i emits `plans[i][t]` at step t (one-hot scores), `filler` once its plan is spent."""

    def __init__(self, prompt_length: int, plans: list[list[int]], filler: int) -> None:
        self.prompt_length, self.plans, self.filler = prompt_length, plans, filler

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_length
        forced = torch.full_like(scores, float("-inf"))  # (B, V)
        for i, plan in enumerate(self.plans):
            forced[i, plan[step] if step < len(plan) else self.filler] = 0.0
        return forced


@pytest.mark.parametrize("family", ["qwen2", "llama3"])
def test_a_response_ends_at_the_models_other_end_id(standin_dirs, family):
    model, tokenizer = _load(standin_dirs[family])
    spec = FAMILIES[family]
    other_end = tokenizer.convert_tokens_to_ids(next(t for t in spec.end_tokens if t != spec.eos_token))
    assert other_end != tokenizer.eos_token_id and other_end in model.generation_config.eos_token_id
    words = tokenizer(" water music garden health", add_special_tokens=False)["input_ids"]
    # row 0 ends after 3 tokens, row 1 after 1, with the end id the tokenizer does not call its eos; the filler
    # after it is what a generation that does not stop there would return and score
    plans = [[words[0], words[1], words[2], other_end], [words[3], other_end]]
    filler = words[1]

    def processors(enc):
        return LogitsProcessorList([ForceTokens(enc["input_ids"].shape[1], plans, filler)])

    out = generate(
        model, tokenizer, PROMPTS[:2], GenerationSettings(max_new_tokens=12), logits_processor=processors
    )
    assert out.responses == [tokenizer.decode(words[:3]), tokenizer.decode(words[3:4])]
    assert out.n_tokens == (3 + 1) + (1 + 1)  # up to and including each row's end token, no padding
    # the tokenizer's eos is one of the model's end ids, so the union is the model's list
    assert end_token_ids(model, tokenizer) == model.generation_config.eos_token_id


def test_llama3_pads_with_an_end_id(standin_dirs):
    _, tokenizer = _load(standin_dirs["llama3"])
    assert tokenizer.pad_token is None
    ensure_pad_token(tokenizer)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|eot_id|>")


def _reference(model, tokenizer, prompts, seed, **sampling) -> list[str]:
    """Sampling with every setting stated, from a model whose generation config holds only its token ids."""
    end_ids = list(model.generation_config.eos_token_id)
    ensure_pad_token(tokenizer)
    tokenizer.padding_side = "left"
    model.generation_config = GenerationConfig(eos_token_id=end_ids, pad_token_id=tokenizer.pad_token_id)
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(seed)
    out = model.generate(**enc, max_new_tokens=16, **sampling)[:, enc["input_ids"].shape[1] :]  # (B, T)
    responses = []
    for row in out.tolist():
        stop = next((t for t, tok in enumerate(row) if tok in end_ids), len(row))
        responses.append(tokenizer.decode(row[:stop], skip_special_tokens=True))
    return responses


PURE = {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 1.0, "repetition_penalty": 1.0}


def test_the_models_sampling_defaults_do_not_apply(standin_dirs):
    model, tokenizer = _load(standin_dirs["qwen2"])
    gen = model.generation_config
    assert gen.top_k == 20 and gen.repetition_penalty > 1 and gen.temperature < 1  # what the file brings
    gen.repetition_penalty, gen.min_p, gen.no_repeat_ngram_size = (
        3.0,
        0.2,
        2,
    )  # louder, so no sample escapes them
    prompts = PROMPTS * 4
    ours = generate(model, tokenizer, prompts, GenerationSettings(max_new_tokens=16), seed=3).responses
    with_defaults = generate(model, tokenizer, prompts, GenerationSettings(max_new_tokens=16), seed=3)
    assert model.generation_config is gen and gen.repetition_penalty == 3.0  # the model's config is restored
    assert ours == with_defaults.responses  # deterministic for a seed
    pure = _reference(model, tokenizer, prompts, seed=3, **PURE)
    assert ours == pure
    model.generation_config = gen  # the model's defaults, as transformers applies them when asked to
    torch.manual_seed(3)
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    leaked = model.generate(**enc, max_new_tokens=16, do_sample=True)
    assert tokenizer.batch_decode(leaked[:, enc["input_ids"].shape[1] :], skip_special_tokens=True) != pure


def test_sampling_settings_the_user_sets_apply(standin_dirs):
    model, tokenizer = _load(standin_dirs["qwen2"])
    settings = GenerationSettings(
        max_new_tokens=16, temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.5
    )
    prompts = PROMPTS * 4
    ours = generate(model, tokenizer, prompts, settings, seed=5).responses
    expected = _reference(model, tokenizer, prompts, seed=5, do_sample=True, temperature=0.7, top_k=5, top_p=0.9,
                          repetition_penalty=1.5)  # fmt: skip
    assert ours == expected
    assert ours != _reference(model, tokenizer, prompts, seed=5, **PURE)


def test_online_trainers_stop_on_every_end_id_and_sample_with_the_toolkits_settings(standin_dirs, tmp_path):
    """TRL's GRPO generates with its own GenerationConfig, which generate() completes from the model's: inside
    `toolkit_sampling` (as morlhf.train runs it) nothing of the model's sampling defaults is left."""
    from datasets import Dataset
    from trl import GRPOTrainer

    model, tokenizer = _load(standin_dirs["llama3"])
    model.generation_config.min_p, model.generation_config.typical_p = 0.3, 0.5  # defaults TRL does not state
    section = morlhf.MORLHFSection(
        trl={"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2}
    )
    args = section.build_trl_config(output_dir=str(tmp_path), reward_weights=[1.0], seed=0)
    trainer = GRPOTrainer(model=model, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)], args=args,
                          train_dataset=Dataset.from_dict({"prompt": ["hello"] * 2}), processing_class=tokenizer)  # fmt: skip
    assert sorted(trainer.eos_token_ids) == sorted(model.generation_config.eos_token_id)  # both end ids
    assert tokenizer.pad_token_id in trainer.eos_token_ids  # Llama 3: padded with an end id
    leaked, _ = model._prepare_generation_config(trainer.generation_config)
    assert leaked.min_p == 0.3  # what TRL would sample with on its own
    with toolkit_sampling(model):
        used, _ = model._prepare_generation_config(trainer.generation_config)
    assert (used.temperature, used.top_k, used.top_p, used.repetition_penalty) == (1.0, 0, 1.0, 1.0)
    assert (
        used.min_p is None
        and used.typical_p == 1.0
        and sorted(used.eos_token_id) == sorted(trainer.eos_token_ids)
    )
    assert model.generation_config.min_p == 0.3  # restored: a saved checkpoint keeps the model's own defaults
