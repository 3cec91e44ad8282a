"""The sweep end to end on a tiny config: front file, checkpoints, resumption after SIGINT and SIGKILL, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.front import read_front
from pareto_align.methods import modpo
from pareto_align.models.policy import load_policy


def _write(path, config: dict):
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, benchmark_cache):
    root = tmp_path_factory.mktemp("sweep")
    config = _write(root / "tiny.yaml", tiny_sweep_dict(benchmark_cache))
    run_dir = root / "run"
    assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 0
    return config, run_dir


@pytest.mark.slow
def test_front_file_points_and_checkpoints(finished_run):
    _, run_dir = finished_run
    front = read_front(run_dir)
    assert front.objective_names == ["helpful", "length"]
    assert [p.id for p in front.points] == ["w00-s0", "w01-s0"]
    assert [b.id for b in front.baselines] == ["base"]
    by_id = {p.id: p for p in front.points}
    assert by_id["w00-s0"].weights == [1.0, 0.0] and by_id["w01-s0"].weights == [0.3, 0.7]
    # k = largest weight, recorded per point
    assert by_id["w00-s0"].metadata["trained_objective"] == "helpful"
    assert by_id["w01-s0"].metadata["trained_objective"] == "length"
    for p in front.points:
        assert p.n_samples == 12 and len(p.values) == 2 and all(s >= 0 for s in p.stderr)
        assert p.compute.policy_updates == 4 and p.compute.wall_seconds > 0 and p.compute.trained_tokens > 0
        policy = load_policy(p.policy.model_dump(exclude_none=True), run_dir)  # rebuilt without re-training
        assert policy.model.config.hidden_size == 32
    assert front.metrics.hypervolume > 0 and front.metrics.n_points == 2
    assert front.provenance["config_hash"] and "gold_accuracy/helpful" in front.provenance["reward_model"]
    assert len(front.history) == 2
    assert (run_dir / "front.csv").read_text().count("\n") >= 3
    assert (run_dir / "front.html").stat().st_size > 1000
    assert not list(run_dir.rglob(".*tmp*")) and not list(run_dir.glob("points/*/.train-*"))


@pytest.mark.slow
def test_rerun_resumes_without_retraining(finished_run, monkeypatch):
    config, run_dir = finished_run
    before = (run_dir / "front.json").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished point was trained again")

    monkeypatch.setattr(modpo, "run", no_training)
    assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 0
    assert json.loads((run_dir / "front.json").read_text())["points"] == json.loads(before)["points"]


@pytest.mark.slow
def test_interrupt_keeps_finished_points_then_resume(tmp_path, benchmark_cache, monkeypatch):
    config = _write(tmp_path / "tiny.yaml", tiny_sweep_dict(benchmark_cache))
    run_dir = tmp_path / "run"
    real_run, calls = modpo.run, []

    def interrupted_second(job, ws):
        calls.append(job.id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run(job, ws)

    monkeypatch.setattr(modpo, "run", interrupted_second)
    assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 130
    assert [p.id for p in read_front(run_dir).points] == ["w00-s0"]

    calls.clear()
    monkeypatch.setattr(modpo, "run", lambda job, ws: (calls.append(job.id), real_run(job, ws))[1])
    assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 0
    assert calls == ["w01-s0"]  # only the point in flight is redone
    assert [p.id for p in read_front(run_dir).points] == ["w00-s0", "w01-s0"]


@pytest.mark.slow
def test_sigkill_mid_sweep_never_corrupts_the_front(tmp_path, benchmark_cache):
    config = tiny_sweep_dict(benchmark_cache)
    config["weights"] = {"kind": "explicit", "weights": [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]}
    path = _write(tmp_path / "tiny.yaml", config)
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "pareto_align.cli",
        "sweep",
        str(path),
        "--output-dir",
        str(run_dir),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (run_dir / "front.json").exists() and read_front(run_dir).points:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = [p.id for p in read_front(run_dir).points]  # parses: the file was replaced atomically
    assert done and len(done) < 3
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    assert [p.id for p in read_front(run_dir).points] == ["w00-s0", "w01-s0", "w02-s0"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 3}, "epochs: unknown field"),
        ({"weights": {"kind": "explicit", "weights": [[0.5, 0.3, 0.2]]}}, "weights.weights[0]: expected 2 values"),
        ({"weights": {"kind": "explicit", "weights": [[1.5, -0.5]]}}, "weights.weights[0]: weights must be non-negative"),
        ({"weights": {"kind": "explicit", "weights": [[0.5, 0.6]]}}, "weights.weights[0]: weights must sum to 1"),
        ({"reference_point": [0.0]}, "reference_point: expected 2 values"),
        ({"method": {"trl": {"lerning_rate": 1e-4}}}, "method.trl.lerning_rate: unknown DPOConfig field"),
        ({"method": {"trl": {"bf16": True}}}, "method.trl.bf16: needs a CUDA GPU with bf16 support"),
        ({"method": {"trl": {"fp16": True}}}, "method.trl.fp16: needs a CUDA GPU"),
        ({"method": {"trl": {"loss_type": ["ipo"]}}}, "method.trl: MODPOConfig refuses these values: MODPO supports"),
        ({"method": {"trl": {"loss_type": ["sigmoid"], "loss_weights": [1.0, 0.1]}}}, "`loss_weights` must have"),
        ({"method": {"trl": {"seed": 1}}}, "method.trl: ['seed'] are set by the sweep"),
        ({"method": {"name": "ppo"}}, "method.name: unknown method 'ppo'; available: 'modpo', 'morlhf', 'dynamic_hv', 'dynamic_grad', 'bon', 'soups', 'mod'"),
        ({"method": {"name": "morlhf", "trl": {"num_generations": 3}}}, "must be divisible by num_generations"),
        ({"method": {"name": "morlhf", "trl": {"lerning_rate": 1}}}, "method.trl.lerning_rate: unknown GRPOConfig"),
        ({"method": {"name": "morlhf", "trainer": "rloo", "trl": {"scale_rewards": "group"}}},
         "method.trl.scale_rewards: unknown RLOOConfig field"),
        ({"method": {"name": "morlhf", "trainer": "ppo"}}, "method.trainer: Input should be 'grpo' or 'rloo'"),
        ({"method": {"name": "morlhf", "trl": {"multi_objective_aggregation": "sum"}}},
         "method.trl.multi_objective_aggregation: 'sum' is not one of"),
        ({"method": {"name": "morlhf", "trl": {"scale_rewards": "std"}}}, "method.trl.scale_rewards: 'std' is not"),
        ({"method": {"name": "morlhf", "scalarization": {"kind": "tchebycheff"}}}, "ideal: required"),
        ({"method": {"name": "morlhf", "scalarization": {"kind": "tchebycheff", "ideal": [1.0]}}},
         "method.scalarization.ideal: expected 2 values, got 1"),
        ({"method": {"name": "morlhf", "aggregation": "median"}}, "method.aggregation: Input should be"),
        ({"method": {"name": "morlhf", "reward_source": "gold", "aggregation": "wco"}},
         "method.aggregation: ensemble aggregation applies to reward_source 'reward_model' only"),
        ({"method": {"name": "morlhf", "history_every": -1}}, "method.history_every: Input should be greater"),
        ({"method": {"name": "morlhf", "trl": {"reward_weights": [1, 0]}}}, "method.trl: ['reward_weights'] are set"),
        ({"method": {"name": "bon", "n": 0}}, "method.n: Input should be greater than or equal to 1"),
        ({"method": {"name": "bon", "trl": {}}}, "method.trl: unknown field"),
        ({"method": {"name": "bon", "scalarization": {"kind": "tchebycheff", "ideal": [1, 2, 3]}}},
         "method.scalarization.ideal: expected 2 values, got 3"),
        ({"method": {"trained_objective": "funny"}}, "method.trained_objective: 'funny' is not an objective"),
        ({"objectives": [{"name": "a", "gold": "nope"}, {"name": "b", "gold": "word_count"}]}, "unknown gold function"),
        ({"data": {"source": "files", "files": [{"path": "missing.jsonl", "format": "pairwise", "objective": "helpful"}]},
          "evaluation": {"scorer": "reward_model"}}, "data.files[0].path: "),
    ],
)  # fmt: skip
def test_config_errors_name_file_and_field(tmp_path, capsys, change, message):
    path = _write(tmp_path / "bad.yaml", {**tiny_sweep_dict(tmp_path / "cache"), **change})
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: ") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # nothing created for a bad config


@pytest.mark.slow
def test_changed_config_refuses_to_resume_into_old_run(finished_run, tmp_path, capsys, benchmark_cache):
    _, run_dir = finished_run
    before = (run_dir / "front.json").read_bytes()
    changed = _write(tmp_path / "changed.yaml", tiny_sweep_dict(benchmark_cache, seeds=[1]))
    assert cli.main(["sweep", str(changed), "--output-dir", str(run_dir)]) == 2
    assert "holds a sweep of a different config" in capsys.readouterr().err
    assert (run_dir / "front.json").read_bytes() == before


@pytest.mark.slow
def test_lora_sweep_saves_relocatable_adapters(tmp_path, benchmark_cache):
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}
    config = _write(tmp_path / "lora.yaml", tiny_sweep_dict(benchmark_cache, policy={"lora": lora}))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 0
    adapter = run_dir / "points" / "w00-s0" / "policy"
    assert (adapter / "adapter_config.json").exists() and not (adapter / "config.json").exists()
    assert (
        json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == "base/policy"
    )

    moved = tmp_path / "moved"
    run_dir.rename(moved)  # handles stay valid when the run directory moves
    front = read_front(moved)
    handles = [p.policy.model_dump(exclude_none=True) for p in front.points]
    merged = [load_policy(h, moved).model.state_dict() for h in handles]
    base = load_policy(front.baselines[0].policy.model_dump(exclude_none=True), moved).model.state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[0][key], base[key])  # the adapter was trained and merged
    soup = load_policy({"kind": "soup", "checkpoints": [h["path"] for h in handles], "coefficients": [0.25, 0.75]},
                       moved).model.state_dict()  # fmt: skip
    torch.testing.assert_close(soup[key], 0.25 * merged[0][key] + 0.75 * merged[1][key])


def test_lora_config_rejects_unknown_field(tmp_path, capsys):
    path = _write(tmp_path / "bad.yaml", tiny_sweep_dict(tmp_path / "cache", policy={"lora": {"rank": 4}}))
    assert cli.main(["sweep", str(path)]) == 2
    assert "policy.lora.rank: unknown LoraConfig field" in capsys.readouterr().err


@pytest.mark.slow
def test_second_sweep_on_a_run_dir_is_refused_while_the_first_holds_it(finished_run, capsys):
    config, run_dir = finished_run
    before = (run_dir / "front.json").read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"is in use by another sweep (pid {holder.pid})" in err and "\n" not in err.strip()
    finally:
        holder.kill()  # the OS releases the lock of a process that dies
        holder.wait(timeout=30)
    assert (run_dir / "front.json").read_bytes() == before
    assert cli.main(["sweep", str(config), "--output-dir", str(run_dir), "--no-progress"]) == 0


HOLD_LOCK = """
import sys, time
from pathlib import Path
from pareto_align.sweep import run_lock
with run_lock(Path(sys.argv[1]), None):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_config_hash_covers_defaults_in_code(monkeypatch, tmp_path):
    from pareto_align.config import parse_config

    config = tiny_sweep_dict(tmp_path)
    before = parse_config(config).config_hash()
    monkeypatch.setitem(modpo.MODPOSection.DEFAULT_TRL, "beta", 0.2)  # a default changed in code
    assert parse_config(config).config_hash() != before
    monkeypatch.setitem(modpo.MODPOSection.DEFAULT_TRL, "beta", 0.1)
    assert parse_config(config).config_hash() == before
    explicit = {**config, "method": {**config["method"], "trl": {**config["method"]["trl"], "beta": 0.1}}}
    assert parse_config(explicit).config_hash() == before  # writing a default out is the same config


@pytest.mark.slow
def test_run_dir_of_an_older_hash_is_refused_and_stays_readable(finished_run, tmp_path, capsys):
    import shutil

    config, run_dir = finished_run
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    record = yaml.safe_load((old / "config.yaml").read_text())
    del record["hash_version"]  # as written before hash version 2
    (old / "config.yaml").write_text(yaml.safe_dump(record))
    assert cli.main(["sweep", str(config), "--output-dir", str(old), "--no-progress"]) == 2
    assert "made by an earlier pareto_align whose config hash covered less (hash version 1, now 3)" in (
        capsys.readouterr().err
    )
    assert [p.id for p in read_front(old).points] == ["w00-s0", "w01-s0"]
