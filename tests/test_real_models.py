"""The real-model tier (issue 19): every method, a few steps each, on instruct stand-ins saved like hub snapshots.

Each case is a sweep through the real entry point (`run_sweep`, in this process: one trl import for the tier) with
`data.source: files`, `policy.model: <stand-in folder>`, LoRA, evaluation by the reward model, then every point and
the baseline rebuilt through `load_policy` and sampled from. Two halves, so that both families and both data shapes
are exercised:

- conversational: the Qwen2 stand-in on UltraFeedback-binarized-shaped files (pairwise, one file per objective).
  This half *is* `experiments/gpu_check.py --dry` (all eleven methods, one step each): the GPU check's code path is
  held here on CPU, and it costs the tier nothing extra;
- string prompts: the Llama-3 stand-in on a PKU-SafeRLHF-shaped file (per-objective labels).

A case passes when the sweep finished, every training loss and every front value is finite, every model sat on the
job's device with float32 trainable weights, every trained checkpoint is a LoRA adapter and every point reloads and
generates. The reward model is trained once per half and shared (`shared_dir`), as `pareto-align compare` shares it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "experiments" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


gpu_check = _load_gpu_check()
METHODS = gpu_check.METHODS

# What a point of each method is rebuilt from (contract: policy handles).
HANDLES = {"modpo": "checkpoint", "morlhf": "checkpoint", "dynamic_hv": "checkpoint", "dynamic_grad": "checkpoint",
           "bon": "best_of_n", "soups": "soup", "mod": "mixture", "dpa": "conditioned", "ric": "conditioned",
           "cmorl": "checkpoint", "panacea": "conditioned"}  # fmt: skip


def assert_case(method: str, record: dict) -> None:
    """What every case must show: see the module docstring."""
    assert "error" not in record, record.get("traceback", record.get("error"))
    assert not record["problems"], record["problems"]
    assert len(record["points"]) >= 2 and record["handles"] == [HANDLES[method]]
    if method != "bon":  # best-of-n trains nothing: its cost is generation
        assert record["steps"] > 0 and all(math.isfinite(x) for x in record["losses"])
        # LoRA through policy.lora (panacea: its own SVD-LoRA): every trained checkpoint an adapter
        assert record["checkpoints"] > 0 and record["adapters"] == record["checkpoints"]
    assert record["generated_tokens"] > 0 and all(isinstance(r, str) for r in record["responses"].values())


# ------------------------------------------------------------------------------ conversational: gpu_check --dry
@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[int, dict]:
    """`experiments/gpu_check.py --dry`: every method on the tiny Qwen2 stand-in with UltraFeedback-shaped files."""
    out = tmp_path_factory.mktemp("gpu-check")
    rc = gpu_check.main(["--dry", "--out", str(out)])
    return rc, json.loads((out / "gpu_check_cpu.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_chat_data_with_the_qwen2_standin(dry_run, method):
    assert_case(method, dry_run[1]["methods"][method])


@pytest.mark.slow
def test_gpu_check_dry_run(dry_run):
    """The script's own verdict and record: every method measured, every check (dtypes included) passed."""
    rc, result = dry_run
    assert result["device"] == "cpu" and result["dry"] and result["steps"] == 1
    assert list(result["methods"]) == METHODS
    for record in [result["reward_model"], *result["methods"].values()]:
        assert {"seconds", "step_seconds", "peak_memory_gb"} <= set(record) or "error" in record
    failed = {m: r.get("error") or r["problems"] for m, r in result["methods"].items() if not r["ok"]}
    assert rc == 0 and result["ok"], {"reward_model": result["reward_model"]["problems"], **failed}


# ------------------------------------------------------------------------------ string prompts: Llama 3 stand-in
@pytest.fixture(scope="module")
def plain_setting(tmp_path_factory, standin_dirs):
    work = tmp_path_factory.mktemp("plain")
    data, prompts = gpu_check.plain_data(work / "data")
    return gpu_check.Setting(model=standin_dirs["llama3"], data=data, prompts=prompts, device="cpu",
                             shared_dir=work / "shared")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_string_prompts_with_the_llama3_standin(plain_setting, method, tmp_path):
    assert_case(method, gpu_check.run_method(method, plain_setting, tmp_path / "run"))


def test_results_file_is_named_after_the_device():
    assert gpu_check.device_slug("NVIDIA H200") == "h200"  # experiments/results/gpu_check_h200.json
    assert gpu_check.device_slug("NVIDIA A100-SXM4-80GB") == "a100-sxm4-80gb"
    assert gpu_check.device_slug("Tesla T4") == "tesla-t4"


def test_the_gpu_runs_configs_validate_for_every_method(tmp_path):
    """The GPU run's settings (batch 4 with GRPO groups of 2, 3 steps, ...) are accepted for every method, checked
    here so that a borrowed GPU's minutes are not spent on a config error; bf16 aside (refused without a GPU)."""
    data, prompts = gpu_check.chat_data(tmp_path)
    setting = gpu_check.Setting(**{**gpu_check.GPU, "bf16": False}, model="Qwen/Qwen2.5-0.5B-Instruct", data=data,
                                prompts=prompts, shared_dir=tmp_path / "shared")  # fmt: skip
    for method in METHODS:
        config = gpu_check.sweep_config(method, setting)
        assert config.method.name == method
        assert config.policy.lora == (None if method == "panacea" else gpu_check.GPU_LORA)
        if method not in ("bon", "soups", "mod"):
            assert config.method.max_steps() == 3
