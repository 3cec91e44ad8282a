"""Every method end to end on the tiny benchmark, through the seam: trained points move away from the base policy
the way their weights ask (so evaluating the base model in their place would fail), compute is accounted, online
history is recorded, and an online sweep killed mid-point resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.front import read_front
from pareto_align.methods import _online, bon
from pareto_align.models.policy import BestOfNPolicy, load_policy

EVALUATION = {"samples_per_prompt": 8, "max_prompts": 12, "generation": {"max_new_tokens": 12}}
MORLHF_GOLD = {"name": "morlhf", "reward_source": "gold", "history_every": 20, "history_samples_per_prompt": 2,
               "trl": {"max_steps": 60, "max_completion_length": 12, "learning_rate": 1e-3}}  # fmt: skip


def _sweep(tmp_path, cache, method: dict, weights: list[list[float]], **overrides):
    config = tiny_sweep_dict(cache, method=method, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": weights}, **overrides)  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    return path, run_dir


def assert_moves_as_weights_ask(front):
    """Each point's utility at its own weights, w . (values - base), exceeds twice its standard error."""
    base = front.baselines[0]
    for p in front.points:
        w = np.asarray(p.weights)
        gain = w @ (np.asarray(p.values) - np.asarray(base.values))
        se = np.sqrt(np.sum(w**2 * (np.asarray(p.stderr) ** 2 + np.asarray(base.stderr) ** 2)))
        assert gain > 2 * se, f"{p.id} at weights {p.weights}: utility gain {gain:.3f} within 2 se ({se:.3f})"


@pytest.fixture(scope="module")
def morlhf_run(tmp_path_factory, benchmark_cache):
    return _sweep(tmp_path_factory.mktemp("morlhf"), benchmark_cache, MORLHF_GOLD, [[1.0, 0.0], [0.0, 1.0]])


@pytest.mark.slow
def test_morlhf_points_move_the_way_their_weights_ask(morlhf_run):
    front = read_front(morlhf_run[1])
    assert [p.method for p in front.points] == ["morlhf", "morlhf"]
    assert_moves_as_weights_ask(front)
    helpful, short = front.points
    assert helpful.values[0] > short.values[0] and short.values[1] > helpful.values[1]  # the trade-off


@pytest.mark.slow
def test_morlhf_compute_and_history(morlhf_run):
    front = read_front(morlhf_run[1])
    for p in front.points:
        assert p.compute.policy_updates == 60 and p.step == 60
        assert p.compute.generated_tokens > 0 and p.compute.trained_tokens > p.compute.generated_tokens
        training = [h for h in front.history if h.point_id == p.id and h.training]
        assert [h.step for h in training] == [
            20,
            40,
        ]  # every history_every steps, the final policy is the point
        assert all(len(h.values) == 2 and h.hypervolume is not None for h in training)
    total = front.compute.total
    assert total.policy_updates == 120
    # gold rewards and gold evaluation: no shared product asked for a reward model, so none was trained
    assert not (morlhf_run[1] / "reward_model").exists() and not list(morlhf_run[1].glob("reward_diffs*"))
    assert total.generated_tokens == sum(p.compute.generated_tokens for p in front.points)


@pytest.mark.slow
def test_morlhf_rloo_tchebycheff_par_on_the_reward_model(tmp_path, benchmark_cache):
    """The reward model's ensemble aggregated by WCO, PAR shaping and the Tchebycheff scalarizer on RLOO with LoRA:
    the PAR reference responses are generated once and recorded once as shared compute."""
    method = {"name": "morlhf", "trainer": "rloo", "reward_source": "reward_model", "aggregation": "wco",
              "par": True, "scalarization": {"kind": "tchebycheff", "ideal": [1.0, 1.0]}, "history_every": 0,
              "trl": {"max_steps": 3, "max_completion_length": 8, "per_device_train_batch_size": 8,
                      "num_generations": 4}}  # fmt: skip
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}
    _, run_dir = _sweep(tmp_path, benchmark_cache, method, [[0.5, 0.5], [0.2, 0.8]], policy={"lora": lora},
                        reward_model={"ensemble_size": 2, "training": {"num_train_epochs": 1}})  # fmt: skip
    front = read_front(run_dir)
    assert set(front.compute.shared) == {"par_reference"}
    par = front.compute.shared["par_reference"]
    assert par.generated_tokens > 0
    assert all(p.compute.shared == ["par_reference"] and p.compute.policy_updates == 3 for p in front.points)
    parts = [p.compute.generated_tokens for p in front.points]
    assert (
        front.compute.total.generated_tokens == sum(parts) + par.generated_tokens
    )  # shared work counted once
    assert front.points[0].metadata["trainer"] == "rloo"
    assert (
        run_dir / "points" / "w00-s0" / "policy" / "adapter_config.json"
    ).exists()  # LoRA through policy.lora


@pytest.mark.slow
def test_killed_online_sweep_resumes_and_drops_stale_history(tmp_path, benchmark_cache, monkeypatch):
    method = {**MORLHF_GOLD, "history_every": 2, "trl": {**MORLHF_GOLD["trl"], "max_steps": 6}}
    config = tiny_sweep_dict(benchmark_cache, method=method, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.0, 1.0]]})  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    real_record = _online.HistoryCallback.on_step_end

    def killed_in_second_point(self, args, state, control, **kwargs):
        real_record(self, args, state, control, **kwargs)
        if self.point_id == "w01-s0" and state.global_step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(_online.HistoryCallback, "on_step_end", killed_in_second_point)
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 130
    front = read_front(run_dir)
    assert [p.id for p in front.points] == ["w00-s0"]
    assert [h.step for h in front.history if h.point_id == "w01-s0"] == [
        2,
        4,
    ]  # the interrupted point's history

    monkeypatch.setattr(_online.HistoryCallback, "on_step_end", real_record)
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    front = read_front(run_dir)
    assert [p.id for p in front.points] == ["w00-s0", "w01-s0"]
    steps = [h.step for h in front.history if h.point_id == "w01-s0" and h.training]
    assert steps == [2, 4]  # one attempt's entries, not two
    assert not list(run_dir.glob("points/*/.train-*"))


@pytest.fixture(scope="module")
def bon_run(tmp_path_factory, benchmark_cache):
    return _sweep(tmp_path_factory.mktemp("bon"), benchmark_cache, {"name": "bon", "n": 8},
                  [[0.0, 1.0], [0.5, 0.5]])  # fmt: skip


@pytest.mark.slow
def test_bon_points_move_the_way_their_weights_ask(bon_run):
    front = read_front(bon_run[1])
    assert_moves_as_weights_ask(front)


@pytest.mark.slow
def test_bon_handle_cost_and_kl_bound(bon_run):
    _, run_dir = bon_run
    front = read_front(run_dir)
    for p in front.points:
        handle = p.policy.model_dump(exclude_none=True)
        assert handle == {"kind": "best_of_n", "path": "base/policy", "n": 8, "reward_model": "reward_model",
                          "weights": p.weights, "prompt_format": "plain"}  # fmt: skip
        policy = load_policy(handle, run_dir)
        assert isinstance(policy, BestOfNPolicy)
        assert p.compute.policy_updates == 0 and p.compute.trained_tokens == 0
        # its cost: 8 candidates for each of the 96 evaluated responses
        assert p.compute.generated_tokens > 96 * 8 * 1
        assert p.metadata["kl_bound"] == pytest.approx(bon.kl_bound(8))
    # the explorer generates from a best-of-n point like from any other
    from pareto_align.explorer.live import describe_handle, generate_responses

    assert len(generate_responses(policy, front.baselines[0].samples[0].prompt, n=2)) == 2
    assert describe_handle(handle).startswith("best of 8 from base/policy by reward_model")


@pytest.mark.slow
def test_modpo_points_move_the_way_their_weights_ask(tmp_path, benchmark_cache):
    method = {
        "name": "modpo",
        "trl": {"max_steps": 30, "learning_rate": 1e-3, "per_device_train_batch_size": 16},
    }
    _, run_dir = _sweep(tmp_path, benchmark_cache, method, [[0.0, 1.0], [0.3, 0.7]])
    assert_moves_as_weights_ask(read_front(run_dir))


@pytest.mark.slow
def test_swapping_in_the_base_policy_fails_the_check(bon_run):
    """The check above is not vacuous: the base policy's own evaluation in place of the points fails it."""
    front = read_front(bon_run[1])
    base = front.baselines[0]
    for p in front.points:
        p.values, p.stderr = list(base.values), list(base.stderr)
    with pytest.raises(AssertionError, match="within 2 se"):
        assert_moves_as_weights_ask(front)


@pytest.mark.slow
def test_run_dir_files_are_private(bon_run):
    _, run_dir = bon_run
    modes = {p.relative_to(run_dir): p.stat().st_mode & 0o777 for p in [run_dir, *run_dir.rglob("*")]}
    assert modes and all(m == (0o700 if (run_dir / p).is_dir() else 0o600) for p, m in modes.items()), {
        str(p): oct(m) for p, m in modes.items() if m not in (0o600, 0o700)
    }


@pytest.mark.slow
def test_config_records_the_effective_config(bon_run):
    path, run_dir = bon_run
    record = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert record["hash_version"] == 3
    assert record["effective"]["method"] == {
        "name": "bon",
        "n": 8,
        "scalarization": {"kind": "linear", "ideal": None},
        "reward_source": "objectives",
    }
    assert record["effective"]["scorers"]["objectives"]["helpful"] == {"kind": "reward_model"}
    assert json.loads((run_dir / "front.json").read_text())["schema"] == "pareto_align.front/v3"


@pytest.mark.slow
def test_library_sweep_and_export_write_private_files(bon_run, tmp_path):
    """`run_sweep` and `export_runs` called from Python (not the CLI) keep runs and exports private too."""
    from pareto_align.config import load_config
    from pareto_align.export import export_runs
    from pareto_align.sweep import run_sweep

    path, run_dir = bon_run
    copy = tmp_path / "again"
    run_sweep(load_config(path), copy, progress=False, log=lambda *_: None)
    export_runs([copy], tmp_path / "paper", formats=["csv", "json"])
    for root in (copy, tmp_path / "paper"):
        for p in [root, *root.rglob("*")]:
            assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p
