"""Every model a job runs sits on the job's device (issue 19, item 6), shown on CPU.

A GPU is not needed to catch a model left behind: a spy on `load_causal_lm` records where each load asks for its
model (`on`), and a spy on the Trainer records the models handed to one (a trainer places its model itself: on
the job's device, or sharded under FSDP/ZeRO-3). A model loaded without `on=device()` and run by the toolkit
itself (PAR's reference responses, dynamic_hv's base vector) fails the test on any machine. The dynamic_grad probe
is run on gradients that, as CUDA tensors do, refuse `.numpy()` until copied to the host.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
import torch
import transformers
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli, workspace
from pareto_align.front import read_front
from pareto_align.methods import dynamic_grad
from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer
from pareto_align.weighting import influence, mirror_update

TRL = {"max_steps": 2, "max_completion_length": 8, "per_device_train_batch_size": 8, "num_generations": 4,
       "logging_steps": 1}  # fmt: skip
EVALUATION = {"samples_per_prompt": 1, "max_prompts": 4, "generation": {"max_new_tokens": 8}}
COMMON = {"reward_source": "gold", "history_every": 0, "trl": TRL}


# ---------------------------------------------------------------------------------------------- model placement
@pytest.fixture
def placements(monkeypatch):
    """(on, model) of every `load_causal_lm` call, and the models given to a Trainer (the base under a LoRA);
    dynamic_grad's per-objective gradients come as a GPU's would."""
    loads: list[tuple[str | None, torch.nn.Module]] = []
    trained: list[torch.nn.Module] = []
    real_load, real_init = workspace.load_causal_lm, transformers.Trainer.__init__

    def load_causal_lm(*args, **kwargs):
        model, tokenizer = real_load(*args, **kwargs)
        loads.append((inspect.signature(real_load).bind(*args, **kwargs).arguments.get("on"), model))
        return model, tokenizer

    def trainer_init(self, model=None, *args, **kwargs):
        trained.append(model.get_base_model() if hasattr(model, "get_base_model") else model)
        real_init(self, model, *args, **kwargs)

    def objective_gradients(self, logps, inputs):  # dynamic_grad's gradients, as if on a GPU
        return real_gradients(self, logps, inputs).as_subclass(OnAccelerator)

    real_gradients = DynamicGRPOTrainer._objective_gradients
    monkeypatch.setattr(workspace, "load_causal_lm", load_causal_lm)
    monkeypatch.setattr(transformers.Trainer, "__init__", trainer_init)
    monkeypatch.setattr(DynamicGRPOTrainer, "_objective_gradients", objective_gradients)
    return SimpleNamespace(loads=loads, trained=trained)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    [
        {**COMMON, "name": "morlhf", "par": True},
        {**COMMON, "name": "dynamic_hv", "every": 1, "samples_per_prompt": 1, "checkpoint_every": 0},
        {**COMMON, "name": "dynamic_grad", "lam": 1e-3, "checkpoint_every": 0},
    ],
    ids=lambda m: m["name"],
)
def test_every_model_a_job_runs_is_on_the_jobs_device(tmp_path, benchmark_cache, placements, method):
    config = tiny_sweep_dict(benchmark_cache, method=method, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [[0.5, 0.5]]})  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run"), "--no-progress"]) == 0
    if method["name"] == "dynamic_grad":  # the probe ran on the "GPU" gradients: one update per step
        updates = [
            h for h in read_front(tmp_path / "run").history if (h.model_extra or {}).get("kind") == "weights"
        ]
        assert [h.step for h in updates] == [0, 1, 2]
    trained = {id(m) for m in placements.trained}
    run_here = [on for on, model in placements.loads if id(model) not in trained]
    # the baseline's load, and the one this method adds (PAR's references, dynamic_hv's base vector)
    assert len(run_here) == (1 if method["name"] == "dynamic_grad" else 2)
    assert run_here == [workspace.device()] * len(run_here)
    assert len(trained) == 1  # the policy the job trains, placed by its trainer
    for model in placements.trained:
        assert next(model.parameters()).device.type == torch.device(workspace.device()).type


# ---------------------------------------------------------------------------------------------- dynamic_grad probe
class OnAccelerator(torch.Tensor):
    """A tensor that, as a CUDA one, refuses `.numpy()` until `.cpu()` has copied it to the host."""

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                        "host memory first.")  # fmt: skip

    def cpu(self, *args, **kwargs):
        return self.as_subclass(torch.Tensor)


def test_weight_update_copies_the_influences_to_the_host_once(monkeypatch):
    logged = []
    ws = SimpleNamespace(tracker=SimpleNamespace(log=lambda **entry: logged.append(entry)))
    method = dynamic_grad.DynamicGradSection(
        lam=1e-3, trust_region=None
    )  # the paper's update, checked by hand below
    probe = dynamic_grad.WeightOptimizer(ws, method, "w00-s0", [0.5, 0.5], seed=0)  # type: ignore[arg-type]
    trainer = SimpleNamespace(optimizer=SimpleNamespace(param_groups=[{"lr": 1e-3}]), state=SimpleNamespace(global_step=0),
                              accelerator=SimpleNamespace(num_processes=1), reward_weights=None)  # fmt: skip
    grads = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).as_subclass(OnAccelerator)  # (K, D) on "the GPU"
    assert isinstance(influence(grads), OnAccelerator)  # the Gram matrix stays where the gradients are
    probe.observe(trainer, grads)  # type: ignore[arg-type]
    expected = mirror_update([0.5, 0.5], [2.0, 3.0], eta=1e-3, lam=1e-3)  # influences: Gram row sums 2, 3
    assert type(trainer.reward_weights) is torch.Tensor and trainer.reward_weights.device.type == "cpu"
    assert trainer.reward_weights.tolist() == pytest.approx(expected.tolist())
    assert probe.history_weights == pytest.approx(expected.tolist())
    assert logged[-1]["influence"] == [2.0, 3.0] and logged[-1]["step"] == 1
