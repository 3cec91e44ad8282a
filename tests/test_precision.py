"""The precision policy (models/loading.py) on a bf16-saved instruct stand-in: every trainer's trainable weights and
optimizer states are float32 (a bf16 master weight rounds a 1e-5 step away), LoRA adapters train in float32 on a
frozen base in `policy.dtype`, and frozen models (base, reward model, rebuilt policies, TRL's KL reference) load in
the dtype `policy.dtype` asks for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import transformers
import yaml
from conftest import standin_sweep_dict
from transformers import TrainerCallback

from pareto_align.config import parse_config
from pareto_align.front import FrontTracker, Objective
from pareto_align.models.loading import load_causal_lm
from pareto_align.models.policy import load_policy
from pareto_align.models.reward_model import MultiHeadRewardModel
from pareto_align.sweep import run_sweep
from pareto_align.workspace import Workspace

LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
ONLINE_TRL = {"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2,
              "max_completion_length": 4}  # fmt: skip
SFT_TRL = {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 160}  # chat prompts run long


def _dtypes(module) -> tuple[set, set]:
    """dtypes of a module's trainable and of its frozen parameters."""
    params = list(module.parameters())
    return {p.dtype for p in params if p.requires_grad}, {p.dtype for p in params if not p.requires_grad}


def test_frozen_and_trainable_dtypes_of_the_loaders(standin_dirs, tmp_path):
    path = standin_dirs["qwen2"]  # saved in bf16
    assert load_causal_lm(path)[0].dtype == torch.bfloat16  # auto: the checkpoint's
    assert load_causal_lm(path, dtype="float32")[0].dtype == torch.float32
    assert load_causal_lm(path, dtype="bfloat16")[0].dtype == torch.bfloat16
    assert load_causal_lm(path, dtype="bfloat16", trainable=True)[0].dtype == torch.float32
    llama, tokenizer = load_causal_lm(standin_dirs["llama3"])
    assert tokenizer.pad_token_id in llama.generation_config.eos_token_id  # no pad token: an end id pads

    # rebuilt policies: in the dtype asked for, else the run's (config.yaml), else the checkpoint's
    hub = {"kind": "checkpoint", "path": path, "hub": True}
    assert load_policy(hub, tmp_path).model.dtype == torch.bfloat16
    assert load_policy(hub, tmp_path, dtype="float32").model.dtype == torch.float32
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"config": {"policy": {"dtype": "float32"}}}))
    assert load_policy(hub, tmp_path).model.dtype == torch.float32

    # a LoRA adapter trains in float32 on the bf16 base (PEFT's autocast_adapter_dtype), and is merged into a base
    # in the dtype asked for
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(load_causal_lm(path)[0], LoraConfig(task_type="CAUSAL_LM", **LORA))
    trainable, frozen = _dtypes(peft_model)
    assert trainable == {torch.float32} and frozen == {torch.bfloat16}
    peft_model.save_pretrained(tmp_path / "points" / "p0" / "policy")
    handle = {"kind": "checkpoint", "path": "points/p0/policy"}
    shutil.copy(Path(path) / "tokenizer.json", tmp_path / "points" / "p0" / "policy")
    shutil.copy(Path(path) / "tokenizer_config.json", tmp_path / "points" / "p0" / "policy")
    assert load_policy(handle, tmp_path, dtype="bfloat16").model.dtype == torch.bfloat16
    assert load_policy(handle, tmp_path, dtype="float32").model.dtype == torch.float32


def test_reward_model_trains_in_float32_and_scores_in_the_dtype_asked_for(standin_dirs, tmp_path):
    base, tokenizer = load_causal_lm(standin_dirs["qwen2"])  # bf16, as a frozen load gives it
    model = MultiHeadRewardModel.from_backbone(base, tokenizer, ["a", "b"])
    assert _dtypes(model) == ({torch.float32}, set())  # built to be trained in full
    model.save(tmp_path / "rm")
    assert {p.dtype for p in MultiHeadRewardModel.load(tmp_path / "rm").parameters()} == {torch.float32}
    frozen = MultiHeadRewardModel.load(tmp_path / "rm", dtype=torch.bfloat16)
    assert {p.dtype for p in frozen.members.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in frozen.heads.parameters()} == {torch.float32}  # the heads stay float32
    assert frozen.score(["Hi"], [" there"]).dtype == torch.float32


@pytest.mark.parametrize(
    ("setting", "lora", "frozen", "to_train"),
    [("auto", None, torch.bfloat16, torch.float32), ("float32", None, torch.float32, torch.float32),
     ("bfloat16", LORA, torch.bfloat16, torch.bfloat16)],
)  # fmt: skip
def test_workspace_base_policy_dtypes(standin_dirs, pku_files, tmp_path, setting, lora, frozen, to_train):
    policy = {"dtype": setting, **({"lora": lora} if lora else {})}
    sweep = standin_sweep_dict(standin_dirs["qwen2"], pku_files, tmp_path, {"name": "modpo"}, **policy)
    config = parse_config(sweep)
    tracker = FrontTracker([Objective(name="helpful"), Objective(name="harmless")], [-10.0, -10.0])
    ws = Workspace(config, tmp_path / "run", tracker, progress=False, log=lambda *a: None)
    (tmp_path / "run").mkdir()
    assert ws.load_base()[0].dtype == frozen
    assert ws.load_base(trainable=True)[0].dtype == torch.float32  # what the reward model trains from
    assert ws.load_base_to_train()[0].dtype == to_train  # full fine-tuning: float32; LoRA: the frozen base


class _Record(TrainerCallback):
    """After a trainer's first optimizer step: dtypes of its trainable and frozen weights, of Adam's moments, of
    TRL's KL reference, and for online trainers the end ids and the sampling generate() would use."""

    def __init__(self, trainer, records: list) -> None:
        self.trainer, self.records = trainer, records

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        if state.global_step != 1:
            return
        trainer = self.trainer
        trainable, frozen = _dtypes(trainer.model)
        inner = getattr(optimizer, "optimizer", optimizer)
        adam = [s[k] for s in inner.state.values() for k in ("exp_avg", "exp_avg_sq")]  # Adam's moments
        moments = {t.dtype for t in adam}
        record = {"trainer": type(trainer).__name__, "trainable": trainable, "frozen": frozen,
                  "moments": moments}  # fmt: skip
        if getattr(trainer, "ref_model", None) is not None:
            record["reference"] = trainer.ref_model.dtype
        if hasattr(trainer, "eos_token_ids"):
            model = getattr(trainer.model, "get_base_model", lambda: trainer.model)()
            record["end_ids"] = sorted(trainer.eos_token_ids)
            record["sampling"] = model._prepare_generation_config(trainer.generation_config)[0]
        self.records.append(record)


@pytest.fixture
def trainer_records(monkeypatch) -> list:
    records: list = []
    init = transformers.Trainer.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.add_callback(_Record(self, records))

    monkeypatch.setattr(transformers.Trainer, "__init__", recording_init)
    return records


@pytest.fixture(scope="module")
def sampling_standin(standin_dirs, tmp_path_factory) -> str:
    """The bf16 Qwen2 stand-in whose generation_config.json also sets min_p and no_repeat_ngram_size, defaults
    that TRL's own generation config leaves unset (so generate() would take them from the model)."""
    path = tmp_path_factory.mktemp("qwen2-sampling") / "model"
    shutil.copytree(standin_dirs["qwen2"], path)
    gen = json.loads((path / "generation_config.json").read_text())
    (path / "generation_config.json").write_text(json.dumps({**gen, "min_p": 0.3, "no_repeat_ngram_size": 2}))
    return str(path)


ONLINE = {"history_every": 0, "trl": ONLINE_TRL}
RUNS = {  # method section, policy fields, trainers expected (the first run also trains the shared reward model)
    "modpo": ({"name": "modpo", "trl": SFT_TRL}, {}, ["MultiHeadRewardTrainer", "MODPOTrainer"]),
    "morlhf-grpo": ({"name": "morlhf", **ONLINE}, {}, ["GRPOTrainer"]),
    "morlhf-rloo": ({"name": "morlhf", "trainer": "rloo", **ONLINE}, {}, ["RLOOTrainer"]),
    "dynamic_hv": ({"name": "dynamic_hv", "checkpoint_every": 0, "samples_per_prompt": 1, **ONLINE}, {},
                   ["DynamicGRPOTrainer"]),
    "dynamic_grad": ({"name": "dynamic_grad", "checkpoint_every": 0, **ONLINE}, {}, ["DynamicGRPOTrainer"]),
    "cmorl": ({"name": "cmorl", "checkpoint_every": 0, "rounds": 0, "snapshot_every": 1, "samples_per_prompt": 1,
               **ONLINE}, {}, ["DynamicGRPOTrainer"]),
    "dpa": ({"name": "dpa", "iterations": 1, "directions_per_prompt": 1, "n": 1, "front_angles": 1,
             "max_new_tokens": 4, "trl": SFT_TRL}, {}, ["SFTTrainer"]),
    "ric": ({"name": "ric", "online_iterations": 0, "max_new_tokens": 4, "trl": SFT_TRL}, {}, ["SFTTrainer"]),
    "modpo-lora": ({"name": "modpo", "trl": SFT_TRL}, {"lora": LORA, "dtype": "float32"}, ["MODPOTrainer"]),
    "morlhf-lora": ({"name": "morlhf", **ONLINE}, {"lora": LORA}, ["GRPOTrainer"]),
}  # fmt: skip


@pytest.mark.slow
def test_every_trainer_keeps_float32_master_weights_on_a_bf16_checkpoint(
    sampling_standin, pku_files, tmp_path, trainer_records
):
    shared = tmp_path / "shared"  # one reward model for every run (trained by the first)
    model = transformers.AutoModelForCausalLM.from_pretrained(sampling_standin)
    assert model.dtype == torch.bfloat16
    end_ids = sorted(model.generation_config.eos_token_id)
    for name, (method, policy, expected) in RUNS.items():
        trainer_records.clear()
        sweep = standin_sweep_dict(sampling_standin, pku_files, tmp_path / "cache", method, **policy)
        config = parse_config(sweep)
        run_sweep(config, tmp_path / name, progress=False, log=lambda *a: None, shared_dir=shared)
        assert [r["trainer"] for r in trainer_records] == expected, name
        lora = "lora" in policy
        for record in trainer_records:
            where = f"{name}: {record['trainer']}"
            assert record["trainable"] == {torch.float32} and record["moments"] == {torch.float32}, where
            # LoRA: the frozen base in policy.dtype (auto: the checkpoint's bf16); otherwise nothing is frozen
            assert record["frozen"] == ({torch.float32} if policy.get("dtype") == "float32" else {torch.bfloat16}
                                        if lora else set()), where  # fmt: skip
            if "reference" in record:  # TRL's KL reference of a full fine-tune: frozen, so policy.dtype
                assert record["reference"] == torch.bfloat16, where
            if "end_ids" in record:  # online trainers stop on both end ids and sample purely
                used = record["sampling"]
                assert record["end_ids"] == end_ids, where
                neutral = (used.temperature, used.top_k, used.top_p, used.repetition_penalty)
                assert neutral == (1.0, 0, 1.0, 1.0), where
                assert used.min_p is None and used.no_repeat_ngram_size == 0, where
        if name == "morlhf-rloo":  # RLOO's default beta 0.05: TRL built a reference
            assert "reference" in trainer_records[0]
