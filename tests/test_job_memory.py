"""A finished job leaves nothing behind: no trainer, model or optimizer of it is alive once the job runner returns,
the dynamic methods' trainers are freed by reference counting alone (no cycle through their guide or probe), and
CUDA's cache is emptied after every job."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

import pytest
import torch
import transformers
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli, jobs, sweep
from pareto_align.methods import METHODS, _online

TRL = {"max_steps": 2, "max_completion_length": 8, "learning_rate": 1e-3}
EVALUATION = {"samples_per_prompt": 1, "max_prompts": 2, "generation": {"max_new_tokens": 8}}
# the methods whose trainer carries a guide or probe of its own (a cycle through it would keep the trainer alive),
# with the knobs that make it act at every step of a 2-step run
DYNAMIC = {
    "dynamic_grad": {"lam": 1e-3, "checkpoint_every": 0},
    "dynamic_hv": {"every": 1, "samples_per_prompt": 1, "checkpoint_every": 0},
}


def test_the_methods_checked_here_are_registered():
    assert set(DYNAMIC) <= set(METHODS)


def _alive(refs: list[tuple[str, weakref.ref]]) -> list[str]:
    return [name for name, ref in refs if ref() is not None]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(DYNAMIC))
def test_no_trainer_model_or_optimizer_outlives_its_job(tmp_path, benchmark_cache, monkeypatch, method):
    section = {"name": method, "reward_source": "gold", "history_every": 0, "trl": TRL, **DYNAMIC[method]}
    config = tiny_sweep_dict(benchmark_cache, method=section, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [[0.5, 0.5], [0.8, 0.2]]})  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    job_refs: list[tuple[str, weakref.ref]] = []  # what the job in flight created
    real_train = transformers.Trainer.train

    def train(self, *args, **kwargs):
        result = real_train(self, *args, **kwargs)
        job_refs.extend([("trainer", weakref.ref(self)), ("policy", weakref.ref(self.model)),
                         ("optimizer", weakref.ref(self.optimizer)), ("scheduler", weakref.ref(self.lr_scheduler))])  # fmt: skip
        return result

    real_load_policy = jobs.load_policy

    def load_policy(*args, **kwargs):  # the model each point is evaluated with
        policy = real_load_policy(*args, **kwargs)
        job_refs.append(("evaluated model", weakref.ref(policy.model)))
        return policy

    real_online_run = _online.train
    after_training: list[list[str]] = []

    def online_run(*args, **kwargs):
        gc.disable()  # what dies here dies by reference counting: no cycle holds it
        try:
            return real_online_run(*args, **kwargs)
        finally:
            trainer_side = [(n, r) for n, r in job_refs if n in ("trainer", "optimizer", "scheduler")]
            after_training.append(_alive(trainer_side))
            gc.enable()

    real_run_job = sweep.run_job
    after_job: list[list[str]] = []

    def run_job(job, ws):
        job_refs.clear()
        gc.disable()  # only the job runner's own collection may free what is left
        try:
            return real_run_job(job, ws)
        finally:
            after_job.append(_alive(job_refs) if job_refs else ["nothing recorded"])
            gc.enable()

    monkeypatch.setattr(transformers.Trainer, "train", train)
    monkeypatch.setattr(jobs, "load_policy", load_policy)
    monkeypatch.setattr(_online, "train", online_run)
    monkeypatch.setattr(sweep, "run_job", run_job)
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run"), "--no-progress"]) == 0
    # both jobs: trainer, optimizer and scheduler freed as training returned, then nothing once the runner returned
    assert after_training == [[], []]
    assert after_job == [[], []]


def test_the_job_runner_frees_memory_and_empties_the_cuda_cache_after_every_job(monkeypatch):
    emptied, collected = [], []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(len(collected)))
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(1) or 0)
    jobs.release_memory()
    assert collected == [1] and emptied == [1]  # the cache is emptied after the collection freed the tensors

    def fails(job, ws):
        raise RuntimeError("out of memory")

    released = []
    monkeypatch.setattr(jobs, "release_memory", lambda: released.append(True))
    monkeypatch.setitem(jobs.METHODS, "failing", SimpleNamespace(run=fails))
    ws = SimpleNamespace(config=SimpleNamespace(method=SimpleNamespace(name="failing")))
    with pytest.raises(RuntimeError, match="out of memory"):
        jobs.run_job(SimpleNamespace(id="j0"), ws)
    assert released == [True]  # a failed job is released too
