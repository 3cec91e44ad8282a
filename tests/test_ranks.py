"""Several processes: one sweep under torchrun (two CPU processes, gloo) writes one front; accelerate configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align import ranks
from pareto_align.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_alone_main_first_runs_the_work_and_raises_its_error():
    assert ranks.world_size() == 1 and ranks.is_main()
    assert ranks.main_first(lambda: 7) == 7
    with pytest.raises(ConfigError, match="bad field"):
        ranks.main_first(lambda: (_ for _ in ()).throw(ConfigError("bad field")))
    assert ranks.broadcast({"a": 1}) == {"a": 1}


def test_mirror_links_weights_copies_the_rest_and_skips_the_lock(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "points" / "p" / "policy").mkdir(parents=True)
    (run / "points" / "p" / "policy" / "model.safetensors").write_bytes(b"weights")
    (run / "points" / "p" / ".train-x").mkdir()
    (run / "front.json").write_text("{}")
    (run / ".lock").write_text("123")
    monkeypatch.setenv("RANK", "1")
    mirror = ranks.mirror_run_dir(run)
    assert mirror == run / ".ranks" / "rank-1"
    weights = mirror / "points" / "p" / "policy" / "model.safetensors"
    assert (
        weights.read_bytes() == b"weights"
        and weights.stat().st_ino == (run / "points/p/policy/model.safetensors").stat().st_ino
    )
    assert (mirror / "front.json").stat().st_ino != (
        run / "front.json"
    ).stat().st_ino  # copied: safe to rewrite
    assert not (mirror / ".lock").exists() and not (mirror / "points" / "p" / ".train-x").exists()


@pytest.mark.parametrize("name, kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("deepspeed_zero2", "DEEPSPEED"),
                                        ("deepspeed_zero3", "DEEPSPEED")])  # fmt: skip
def test_accelerate_config_files_parse(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "experiments" / "accelerate" / f"{name}.yaml"))
    assert config.distributed_type.name == kind and config.num_processes == 2 and config.use_cpu is False
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])
        # left to the Trainer: a fixed value clashes with the recipes' gradient_accumulation_steps at train start
        assert "gradient_accumulation_steps" not in config.deepspeed_config
    if name == "fsdp":  # every rank loads real weights: the toolkit runs models outside FSDP on each of them
        assert config.fsdp_config["fsdp_cpu_ram_efficient_loading"] is False


DPA_TINY = {"name": "dpa", "iterations": 1, "directions_per_prompt": 1, "n": 2, "max_new_tokens": 4, "front_angles": 2,
            "trl": {"max_steps": 2, "per_device_train_batch_size": 4, "logging_steps": 1}}  # fmt: skip


def _torchrun(config: Path, run: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "pareto_align.cli", "sweep", str(config), "--output-dir", str(run), "--no-progress"]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_two_gloo_processes_on_file_data_train_the_reward_model_together_and_share_dpa_sampling(
    tmp_path, benchmark_cache, pku_files
):
    """PKU-SafeRLHF-shaped files, the quickstart's tiny base model, the reward model as the evaluation scorer (it
    trains before the baseline's evaluation: once a hang, the main process training alone while the other waited),
    DPA: the run finishes with one front, each process sampled half of DPA's candidates, the front has the
    one-process front's shape, and the points and the reward model reload."""
    from conftest import TINY_SYNTHETIC, standin_sweep_dict

    from pareto_align import cli
    from pareto_align.data.synthetic import SyntheticConfig, load_synthetic_benchmark
    from pareto_align.front import read_front
    from pareto_align.models.policy import load_policy
    from pareto_align.models.reward_model import MultiHeadRewardModel

    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    bench = load_synthetic_benchmark(
        SyntheticConfig(**TINY_SYNTHETIC), cache_dir=benchmark_cache, progress=False
    )
    config = tmp_path / "sweep.yaml"
    sweep = standin_sweep_dict(str(bench.base_path), pku_files, tmp_path, DPA_TINY)
    config.write_text(yaml.safe_dump({**sweep, "tracking": {"report_to": ["tensorboard"]}}))
    done = _torchrun(config, tmp_path / "run2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Pareto front:") == 1

    assert cli.main(["sweep", str(config), "--output-dir", str(tmp_path / "run1"), "--no-progress"]) == 0
    two, one = read_front(tmp_path / "run2"), read_front(tmp_path / "run1")
    assert two.provenance["processes"] == 2 and "accuracy/helpful" in two.provenance["reward_model"]
    assert [p.id for p in two.points] == [p.id for p in one.points] == ["v00-s0", "v01-s0"]
    assert [b.id for b in two.baselines] == ["base"]
    assert [len(p.values) for p in two.points] == [len(p.values) for p in one.points]
    assert [p.n_samples for p in two.points] == [p.n_samples for p in one.points]
    (alone,) = one.points[0].metadata["rounds"][0]["candidates_per_process"]
    shares = two.points[0].metadata["rounds"][0]["candidates_per_process"]
    assert len(shares) == 2 and sum(shares) == alone and abs(shares[0] - shares[1]) <= 1
    assert not (tmp_path / "run2" / ".ranks").exists()
    for p in two.points:
        policy = load_policy(p.policy.model_dump(exclude_none=True), tmp_path / "run2")
        assert len(policy.generate(["Explain the weather?"], seed=0).responses) == 1
    reward_model = MultiHeadRewardModel.load(tmp_path / "run2" / "reward_model")
    assert reward_model.score(["Explain the weather?"], ["It rains."]).shape == (1, 2)

    # one tensorboard writer for the sweep (the main process's), its hypervolume that of front.json; every
    # trainer reported there too, once
    events = EventAccumulator(str(tmp_path / "run2" / "tensorboard" / "sweep"))
    events.Reload()
    assert len(list((tmp_path / "run2" / "tensorboard" / "sweep").iterdir())) == 1
    assert events.Scalars("front/hypervolume")[-1].value == pytest.approx(two.metrics.hypervolume)
    assert sorted(p.name for p in (tmp_path / "run2" / "tensorboard").iterdir()) == [
        "dpa-s0",
        "reward_model",
        "sweep",
    ]
    for name in ("reward_model", "dpa-s0"):  # DPA trains one model for every direction
        assert len(list((tmp_path / "run2" / "tensorboard" / name).iterdir())) == 1
        trainer = EventAccumulator(str(tmp_path / "run2" / "tensorboard" / name))
        trainer.Reload()
        assert "train/train_loss" in trainer.Tags()["scalars"]


@pytest.mark.slow
def test_helpers_long_waits_and_trainer_saves_under_two_gloo_processes(tmp_path):
    """One launch (tests/ranks_worker.py): sharded work comes back whole and in order; a main-process phase longer
    than the training group's timeout (3 s there) does not end the run; a reward model trained data-parallel and
    saved through its Trainer reloads to the in-memory weights."""
    out = tmp_path / "seen.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "tests" / "ranks_worker.py"), str(out)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(out.read_text())
    assert seen["sharding"] == {"mine": [0, 1], "list": [0, 10, 20, 30, 40], "tensor": [0.0, 2.0, 4.0, 6.0, 8.0],
                                "array": [5, 2], "map": [1, 2, 3, 4, 5], "total": 3}  # fmt: skip
    assert seen["waited"] >= 5.0
    assert seen["reward_model_max_diff"] == 0.0


def test_alone_shard_is_everything_and_gather_returns_its_part():
    assert ranks.shard(7) == slice(0, 7)
    assert ranks.map_shards(lambda xs: [2 * x for x in xs], [1, 2, 3]) == [2, 4, 6]
    assert ranks.total(4) == 4


def test_shards_cover_the_items_once_in_order(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    blocks = []
    for r in range(3):
        monkeypatch.setenv("RANK", str(r))
        blocks.append(list(range(10))[ranks.shard(10)])
    assert blocks == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


def test_reward_model_save_writes_the_state_dict_the_trainer_passes(tmp_path):
    """Under FSDP/ZeRO-3 the Trainer hands `_save` the gathered weights; the module's own are a shard."""
    import torch
    from transformers import TrainingArguments

    from pareto_align.models.reward_model import MultiHeadRewardModel
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
    from pareto_align.trainers.reward_model_trainer import MultiHeadRewardTrainer, RewardRows

    tokenizer = train_word_tokenizer(["a b c d"])
    backbone = build_tiny_causal_lm(tokenizer, hidden_size=16, num_layers=1, num_heads=2, seed=0)
    model = MultiHeadRewardModel.from_backbone(backbone, tokenizer, ["x", "y"], seed=0)
    args = TrainingArguments(output_dir=str(tmp_path / "t"), use_cpu=True, report_to="none")
    trainer = MultiHeadRewardTrainer(model, args, RewardRows([]))
    gathered = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    trainer._save(str(tmp_path / "rm"), state_dict=gathered)
    saved = MultiHeadRewardModel.load(tmp_path / "rm").state_dict()
    assert saved.keys() == model.state_dict().keys()
    assert all(bool((v == 0.5).all()) for v in saved.values())


def test_save_policy_through_the_trainer_reloads_the_trained_weights(tmp_path, tiny_policy_dir):
    """A point saved through its trainer (`save_model`: what gathers FSDP/ZeRO-3 shards) is the in-memory model,
    with no pickled training arguments beside it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from pareto_align.config import parse_config
    from pareto_align.sweep import _new_tracker
    from pareto_align.workspace import Workspace

    config = parse_config(tiny_sweep_dict(tmp_path))
    ws = Workspace(config, tmp_path / "run", _new_tracker(config, None), progress=False)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # "trained": not the weights on disk
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    trainer = Trainer(model=model, args=TrainingArguments(output_dir=str(tmp_path / "t"), use_cpu=True,
                                                          report_to="none"))  # fmt: skip
    (tmp_path / "work").mkdir()
    handle = ws.save_policy("p", model, tokenizer, tmp_path / "work", trainer=trainer)
    folder = tmp_path / "run" / handle["path"]
    assert not (folder / "training_args.bin").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "env, method, message",
    [
        ({"ACCELERATE_USE_FSDP": "true"}, {"name": "dpa"}, "accelerate launcher config (FSDP): method dpa samples from the policy outside the trainer"),
        ({"ACCELERATE_USE_FSDP": "true"}, {"name": "morlhf"}, "accelerate launcher config (FSDP): history_every > 0 samples"),
        ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, {"name": "modpo"},
         "accelerate launcher config (DeepSpeed ZeRO-3): ZeRO-3 turns every model load into a collective"),
        ({"ACCELERATE_USE_FSDP": "true"}, {"name": "modpo"}, None),
        ({"ACCELERATE_USE_FSDP": "true"}, {"name": "morlhf", "history_every": 0}, None),
        ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, {"name": "dpa"}, None),
    ],
)  # fmt: skip
def test_sharded_weight_launchers_are_refused_in_one_line_where_unsupported(tmp_path, monkeypatch, env, method,
                                                                            message):  # fmt: skip
    from pareto_align.config import parse_config
    from pareto_align.sweep import check_sharded_weights

    config = parse_config(tiny_sweep_dict(tmp_path, method=method))
    for name, value in env.items():  # as `accelerate launch` announces its config to the processes
        monkeypatch.setenv(name, value)
    if message is None:
        check_sharded_weights(config, Path("c.yaml"))
        return
    with pytest.raises(ConfigError) as err:
        check_sharded_weights(config, Path("c.yaml"))
    assert str(err.value).startswith(f"c.yaml: {message}") and "\n" not in str(err.value)


def test_par_reference_is_shared_out_over_processes(tmp_path, benchmark_cache, monkeypatch):
    """Under two processes each answers half of the training prompts (what rank 1 sees is simulated here: the
    gather that a launch would do hands back rank 0's rows beside its own); the main process alone writes."""
    from pareto_align.config import parse_config
    from pareto_align.front.schema import Compute
    from pareto_align.methods import _online
    from pareto_align.models.policy import Policy
    from pareto_align.sweep import _new_tracker
    from pareto_align.workspace import Workspace

    config = parse_config(
        tiny_sweep_dict(benchmark_cache, method={"name": "morlhf", "par": True, "reward_source": "gold"})
    )
    prompts = [f"tell me about topic {i}" for i in range(6)]
    asked: list[int] = []
    generate = Policy.generate
    monkeypatch.setattr(
        Policy, "generate", lambda self, p, *a, **k: asked.append(len(p)) or generate(self, p, *a, **k)
    )
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(ranks, "broadcast", lambda value: False)  # the main process has not built it either
    monkeypatch.setattr(ranks, "barrier", lambda: None)
    monkeypatch.setattr(ranks, "gather", lambda part: np.concatenate([np.zeros_like(part), part])
                        if isinstance(part, np.ndarray) else [0, *part])  # fmt: skip
    main_dir = tmp_path / "main"
    ws = Workspace(config, tmp_path / "mirror", _new_tracker(config, None), progress=False, collective=True)
    ws.shared_root = main_dir
    main_dir.mkdir()
    (tmp_path / "mirror").mkdir()
    written = np.full((6, 2), 7.0)  # what the main process wrote, from both halves
    np.save(main_dir / "par_reference_gold.npy", written)
    (main_dir / "par_reference_gold.json").write_text(Compute(generated_tokens=5).model_dump_json())
    reference = _online.reference_rewards(ws, config.method, prompts, ws.scorer("gold"))
    assert np.array_equal(reference, written)  # read from the main process's run directory
    assert asked == [3]  # its half of the 6 prompts
    assert not list((tmp_path / "mirror").glob("par_reference*"))
