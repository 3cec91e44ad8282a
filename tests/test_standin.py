"""The local stand-ins look to the toolkit like the instruct models they stand for (models/standin.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pareto_align.data.examples import pku_rows, ultrafeedback_rows


@pytest.mark.parametrize("family", ["qwen2", "llama3"])
def test_standin_reads_like_a_hub_snapshot(standin_dirs, family):
    path = standin_dirs[family]
    model = AutoModelForCausalLM.from_pretrained(path)  # no dtype: transformers 5 takes the checkpoint's
    tok = AutoTokenizer.from_pretrained(path)
    assert model.dtype == torch.bfloat16
    assert type(model).__name__ == {"qwen2": "Qwen2ForCausalLM", "llama3": "LlamaForCausalLM"}[family]
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # grouped-query attention
    end_ids = model.generation_config.eos_token_id
    assert isinstance(end_ids, list) and len(end_ids) == 2 and tok.eos_token_id in end_ids
    assert model.generation_config.top_k > 0 and model.generation_config.repetition_penalty > 1
    assert model.generation_config.do_sample is True
    assert tok.chat_template is not None
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert chat.endswith({"qwen2": "<|im_start|>assistant\n",
                          "llama3": "<|start_header_id|>assistant<|end_header_id|>\n\n"}[family])  # fmt: skip
    gen = json.loads((Path(path) / "generation_config.json").read_text())
    assert gen["eos_token_id"] == end_ids


def test_family_quirks(standin_dirs):
    qwen = AutoTokenizer.from_pretrained(standin_dirs["qwen2"])
    llama = AutoTokenizer.from_pretrained(standin_dirs["llama3"])
    # digits: Qwen2 one per token, Llama 3 in groups of up to three (as the real pre-tokenizers split them)
    assert [t for t in qwen.tokenize(" 2024") if t != "Ġ"] == ["2", "0", "2", "4"]
    assert [t for t in llama.tokenize(" 2024") if t != "Ġ"] == ["202", "4"]
    # Llama 3 writes <|begin_of_text|> before every text and has no pad token; Qwen adds nothing
    assert llama("hello")["input_ids"][0] == llama.bos_token_id and llama.pad_token is None
    assert (
        qwen("hello")["input_ids"][0] != qwen.convert_tokens_to_ids("<|endoftext|>")
        and qwen.bos_token is None
    )
    # Qwen's embedding matrix is larger than its tokenizer, Llama's matches it
    qwen_rows = AutoModelForCausalLM.from_pretrained(standin_dirs["qwen2"]).config.vocab_size
    llama_rows = AutoModelForCausalLM.from_pretrained(standin_dirs["llama3"]).config.vocab_size
    assert qwen_rows > len(qwen) and llama_rows == len(llama)
    # byte-level BPE round-trips any text
    text = "Café 3.14 — ünïcode?"
    assert qwen.decode(qwen(text)["input_ids"]) == text


def test_example_rows_have_the_data_sets_shapes():
    uf = ultrafeedback_rows(5)
    assert isinstance(uf[0]["prompt"], str) and uf[0]["chosen"][0] == {
        "role": "user",
        "content": uf[0]["prompt"],
    }
    assert uf[0]["chosen"][1]["role"] == "assistant" and uf[0]["chosen"] != uf[0]["rejected"]
    pku = pku_rows(5)
    assert {"response_0", "response_1", "better_response_id", "safer_response_id"} <= set(pku[0])
    assert all(r["safer_response_id"] in (0, 1) for r in pku)
    assert ultrafeedback_rows(5) == uf  # deterministic for a seed
