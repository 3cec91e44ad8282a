"""Callbacks that evaluate while a policy trains, under torchrun with two CPU processes (gloo): Panacea's anytime
front (`front_every`) beside its adaptive sampler, morlhf's history, C-MORL's snapshots and dynamic_hv's
measurements. Under several processes `Workspace.evaluate` is a collective (the main process samples, the others
receive its result): a callback that calls it on the main process alone hangs the run, or hands the other process
the wrong object at its next broadcast. One launch runs every sweep; a timeout turns a hang into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align.front import read_front

ROOT = Path(__file__).resolve().parents[1]
# two processes of 4 rows each: one GRPO group of 4 per process, 2 updates
TRL = {"max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 6,
       "logging_steps": 1}  # fmt: skip
EVALUATION = {"samples_per_prompt": 1, "max_prompts": 4, "generation": {"max_new_tokens": 6}}
SWEEPS = {
    "panacea": {"name": "panacea", "reward_source": "gold", "rank": 2, "history_every": 1, "spread_prompts": 2,
                "history_samples_per_prompt": 1, "front_every": 1, "front_samples_per_prompt": 1,
                "sampling": "adaptive", "adaptive": {"every": 1, "prompts": 2, "samples_per_prompt": 1},
                "trl": TRL},
    "morlhf": {"name": "morlhf", "reward_source": "gold", "history_every": 1, "history_samples_per_prompt": 1,
               "trl": TRL},
    "cmorl": {"name": "cmorl", "reward_source": "gold", "history_every": 0, "snapshot_every": 1,
              "samples_per_prompt": 1, "n_select": 1, "rounds": 1, "extension_steps": 2, "checkpoint_every": 0,
              "trl": TRL},
    "dynamic_hv": {"name": "dynamic_hv", "reward_source": "gold", "history_every": 0, "every": 1,
                   "samples_per_prompt": 1, "checkpoint_every": 0, "trl": TRL},
}  # fmt: skip


@pytest.mark.slow
def test_every_evaluating_callback_runs_on_every_process(tmp_path, benchmark_cache):
    args = []
    for name, method in SWEEPS.items():
        config = tiny_sweep_dict(benchmark_cache, method=method, evaluation=EVALUATION,
                                 weights={"kind": "explicit", "weights": [[0.5, 0.5]]})  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(config))
        args += [str(tmp_path / f"{name}.yaml"), str(tmp_path / name)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "tests" / "callbacks_worker.py"), *args]  # fmt: skip
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the sweeps hung under two processes: {str(err.stderr)[-2000:]}")
    assert done.returncode == 0, done.stderr[-3000:]

    history = {name: read_front(tmp_path / name).history for name in SWEEPS}
    kinds = [(h.step, getattr(h, "kind", None)) for h in history["panacea"]]
    # step 1 of 2: the front and the adaptive sampler's update (the last step is the front itself)
    assert (1, "front") in kinds and (1, "preference_sampling") in kinds
    (sampling,) = [h for h in history["panacea"] if getattr(h, "kind", None) == "preference_sampling"]
    assert len(sampling.grid_values) == len(sampling.grid) and all(len(v) == 2 for v in sampling.grid_values)
    assert [h.step for h in history["morlhf"] if h.training] == [1]
    # stage 1's snapshot, then one per stage-2 extension (two objectives raised in turn)
    assert [(h.step, h.stage) for h in history["cmorl"] if h.training] == [(1, 1), (1, 2), (1, 2)]
    (measured,) = [h for h in history["dynamic_hv"] if h.training]
    assert measured.step == 1 and measured.multiplier >= 0.5


class _Counting:
    """An `EvaluatingCallback` that records the steps it evaluates at."""

    @staticmethod
    def make(every: int, at_end: bool = False, skip=lambda step: False):
        from pareto_align.trainers.evaluating import EvaluatingCallback

        class Counting(EvaluatingCallback):
            def __init__(self) -> None:
                self.every, self.at_end, self.steps = every, at_end, []

            def skip(self, step: int) -> bool:
                return skip(step)

            def evaluate_at(self, step, model, **kwargs):
                self.steps.append((step, kwargs.get("optimizer")))

        return Counting()


def _drive(callback, max_steps: int) -> list[int]:
    from transformers import TrainerControl, TrainerState

    state = TrainerState(max_steps=max_steps)
    for step in range(1, max_steps + 1):
        state.global_step = step
        callback.on_step_end(None, state, TrainerControl(), model=None, optimizer="opt")
    assert all(opt == "opt" for _, opt in callback.steps)  # the trainer's arguments reach evaluate_at
    return [step for step, _ in callback.steps]


def test_the_callback_base_evaluates_every_n_steps_before_the_last_and_at_the_end_when_asked():
    assert _drive(_Counting.make(3), 9) == [
        3,
        6,
    ]  # the last step is the final evaluation's, not the callback's
    assert _drive(_Counting.make(3, at_end=True), 9) == [3, 6, 9]
    assert _drive(_Counting.make(4, at_end=True), 9) == [4, 8, 9]
    assert _drive(_Counting.make(0, at_end=True), 9) == []  # 0: off
    assert _drive(_Counting.make(2, skip=lambda s: s == 4), 9) == [2, 6, 8]


def test_every_callback_of_a_method_that_runs_per_step_derives_from_the_one_base():
    # a method's callback that evaluates decides its own steps only through EvaluatingCallback (correct under
    # several processes, written once): no method module defines on_step_end itself
    import ast

    for path in sorted((ROOT / "pareto_align" / "methods").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                defined = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                assert "on_step_end" not in defined, f"{path.name}: {node.name} defines on_step_end"
