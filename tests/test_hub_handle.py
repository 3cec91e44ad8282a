"""A base policy named by hub name (a local folder stands in: from_pretrained accepts both) gets a handle that
load_policy rebuilds, and handles written before the `hub` field still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from conftest import standin_sweep_dict
from pydantic import ValidationError

from pareto_align.config import parse_config
from pareto_align.explorer.live import missing_checkpoints
from pareto_align.front import read_front
from pareto_align.front.schema import PolicyHandle
from pareto_align.methods import bon
from pareto_align.models.policy import PolicyLoadError, load_policy
from pareto_align.sweep import run_sweep


def test_hub_handle_is_rebuilt_by_name(tiny_policy_dir, tmp_path):
    handle = {"kind": "checkpoint", "path": tiny_policy_dir, "hub": True, "revision": "main"}
    assert PolicyHandle.model_validate(handle).model_dump(exclude_none=True) == handle
    run_dir = tmp_path / "run"  # the model lives outside it
    run_dir.mkdir()
    policy = load_policy(handle, run_dir)
    reference = load_policy({"kind": "checkpoint", "path": "."}, tiny_policy_dir).model.state_dict()
    assert all(torch.equal(policy.model.state_dict()[k], v) for k, v in reference.items())
    assert policy.tokenizer.padding_side == "left"
    assert (
        missing_checkpoints(run_dir, handle) == []
    )  # not a path in the run: the explorer does not look for it
    assert len(policy.generate(["a b"]).responses) == 1


def test_unknown_hub_model_is_a_policy_load_error(tmp_path):
    with pytest.raises(PolicyLoadError, match="'no-such-org/no-such-model'"):
        load_policy({"kind": "checkpoint", "path": "no-such-org/no-such-model", "hub": True}, tmp_path)


def test_old_handles_read_and_revision_needs_hub():
    old = {"kind": "checkpoint", "path": "points/p0/policy"}  # as front.json files before `hub` wrote it
    assert PolicyHandle.model_validate(old).model_dump(exclude_none=True) == old
    with pytest.raises(ValidationError, match="'revision' needs 'hub': true"):
        PolicyHandle.model_validate({**old, "revision": "v1"})
    with pytest.raises(ValidationError, match="'hub' is not used by policy kind 'soup'"):
        PolicyHandle.model_validate(
            {"kind": "soup", "checkpoints": ["a"], "coefficients": [1.0], "hub": True}
        )


@pytest.fixture
def revisions(monkeypatch) -> list[tuple[str, str | None]]:
    """Every model `from_pretrained` loads, with the revision it was asked for: (path, revision)."""
    calls: list[tuple[str, str | None]] = []
    load = transformers.PreTrainedModel.from_pretrained.__func__

    def spy(cls, path, *args, **kwargs):
        calls.append((str(path), kwargs.get("revision")))
        return load(cls, path, *args, **kwargs)

    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(spy))
    return calls


def _adapter_on(base: str, run_dir: Path, revision: str | None) -> dict:
    """A LoRA adapter on `base` (outside the run: a hub name) saved as points/p0/policy; its checkpoint handle."""
    from peft import LoraConfig, get_peft_model

    model = transformers.AutoModelForCausalLM.from_pretrained(base)
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj"]))
    target = run_dir / "points" / "p0" / "policy"
    peft_model.save_pretrained(target)
    transformers.AutoTokenizer.from_pretrained(base).save_pretrained(target)
    config = json.loads((target / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == base
    if revision is not None:  # as the sweep records it (Workspace.relocatable_adapter)
        (target / "adapter_config.json").write_text(json.dumps({**config, "revision": revision}))
    return {"kind": "checkpoint", "path": "points/p0/policy"}


@pytest.mark.parametrize("revision", ["v1.0", None])  # None: an adapter saved before revisions were recorded
def test_a_lora_point_reloads_its_hub_base_at_its_revision(standin_dirs, tmp_path, revisions, revision):
    base = standin_dirs["qwen2"]
    handle = _adapter_on(base, tmp_path, revision)
    two = ["points/p0/policy"] * 2
    revisions.clear()
    load_policy(handle, tmp_path)
    load_policy({"kind": "soup", "checkpoints": two, "coefficients": [0.5, 0.5]}, tmp_path)
    load_policy({"kind": "mixture", "checkpoints": two, "weights": [0.5, 0.5]}, tmp_path)
    # the point, then the soup and the mixture: each loads its base once, its two adapters on it
    assert [r for p, r in revisions if p == base] == [revision] * 3


def test_best_of_n_handles_name_a_hub_base():
    handle = {"kind": "best_of_n", "path": "Qwen/Qwen2.5-0.5B-Instruct", "hub": True, "revision": "abc",
              "n": 4, "reward_model": "reward_model", "weights": [0.5, 0.5]}  # fmt: skip
    assert PolicyHandle.model_validate(handle).model_dump(exclude_none=True) == handle
    old = {k: v for k, v in handle.items() if k not in ("hub", "revision")}
    old["path"] = "base/policy"  # as best_of_n handles were written before, inside the run
    assert PolicyHandle.model_validate(old).model_dump(exclude_none=True) == old


@pytest.mark.slow
def test_sweeps_pin_a_hub_base_in_every_handle(standin_dirs, pku_files, tmp_path, revisions, monkeypatch):
    """policy.model is a folder standing for a hub name, policy.revision pins it: the LoRA point's adapter, the
    best-of-n handle, the baseline and TRL's KL reference of a full fine-tune all load it at that revision."""
    base, shared = standin_dirs["qwen2"], tmp_path / "shared"
    lora = {"r": 2, "target_modules": ["q_proj"]}
    online = {"history_every": 0, "trl": {"max_steps": 1, "per_device_train_batch_size": 2,
                                          "num_generations": 2, "max_completion_length": 4}}  # fmt: skip
    runs = {  # rloo: a full fine-tune with beta 0.05, for which TRL loads a KL reference
        "lora": ({"name": "modpo", "trl": {"max_steps": 1, "per_device_train_batch_size": 2}}, {"lora": lora}),
        "rloo": ({"name": "morlhf", "trainer": "rloo", **online}, {}),
        "bon": ({"name": "bon", "n": 2}, {}),
    }  # fmt: skip
    for name, (method, policy) in runs.items():
        sweep = standin_sweep_dict(base, pku_files, tmp_path, method, revision="v1.0", **policy)
        config = parse_config(sweep)
        revisions.clear()
        run_sweep(config, tmp_path / name, progress=False, log=lambda *a: None, shared_dir=shared)
        assert {r for p, r in revisions if p == base} == {"v1.0"}, name  # every load of the base, pinned
        front = read_front(tmp_path / name)
        assert front.baselines[0].policy.revision == "v1.0"
        handle = front.points[0].policy.model_dump(exclude_none=True)
        if name == "lora":
            adapter = json.loads((tmp_path / name / handle["path"] / "adapter_config.json").read_text())
            assert adapter["base_model_name_or_path"] == base and adapter["revision"] == "v1.0"
        if name == "rloo":  # the baseline, the policy and the reference TRL built from its path
            assert sum(p == base for p, _ in revisions) == 3
        if name == "bon":
            assert {k: handle[k] for k in ("kind", "path", "hub", "revision")} == {
                "kind": "best_of_n", "path": base, "hub": True, "revision": "v1.0"}  # fmt: skip
            # resumed, the job is finished (its sampling policy is no checkpoint of the run): nothing is re-run
            monkeypatch.setattr(bon, "run", lambda job, ws: pytest.fail("bon job re-run"))
            run_sweep(config, tmp_path / name, progress=False, log=lambda *a: None, shared_dir=shared)
