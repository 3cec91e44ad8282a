"""The Ray launcher on a local 2-CPU cluster: the same front as the local launcher, a killed worker retried, a
raising worker reported while the other jobs' points are kept, and resumption; its config and CLI checks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.config import parse_config
from pareto_align.front import read_front

FAULTS_ENV = "PARETO_ALIGN_TEST_FAULTS"


def _inject_faults() -> None:
    """Ray's worker_process_setup_hook: in every worker, modpo.run obeys marker files in $PARETO_ALIGN_TEST_FAULTS:
    crash-<job> kills the worker process once (the marker is consumed), raise-<job> raises on every attempt."""
    from pareto_align.methods import modpo

    folder, real = Path(os.environ[FAULTS_ENV]), modpo.run

    def run(job, ws):
        crash = folder / f"crash-{job.id}"
        if crash.exists():
            crash.unlink()
            os._exit(1)  # a killed worker: no exception reaches Ray, only a dead process
        if (folder / f"raise-{job.id}").exists():
            raise RuntimeError(f"injected failure in {job.id}")
        return real(job, ws)

    modpo.run = run


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local Ray cluster (2 CPUs) for the module; yields the folder of fault markers."""
    ray = pytest.importorskip("ray")
    faults = tmp_path_factory.mktemp("faults")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests folder
    env = {FAULTS_ENV: str(faults), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": _inject_faults, "env_vars": env})  # fmt: skip
    yield faults
    ray.shutdown()


def _sweep(tmp_path: Path, name: str, config: dict, *extra: str) -> tuple[int, Path]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / name
    return cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress", *extra]), run_dir


def _comparable(point) -> dict:
    """What the same seeds must reproduce on any launcher (wall seconds and paths of scratch files aside)."""
    return {"id": point.id, "weights": point.weights, "seed": point.seed, "values": point.values,
            "stderr": point.stderr, "n_samples": point.n_samples, "policy": point.policy.model_dump(),
            "samples": point.samples, "updates": point.compute.policy_updates,
            "tokens": point.compute.trained_tokens}  # fmt: skip


@pytest.mark.slow
def test_ray_launcher_gives_the_local_front(ray_cluster, tmp_path, benchmark_cache):
    config = tiny_sweep_dict(benchmark_cache)
    assert _sweep(tmp_path, "local", config)[0] == 0
    # 2 CPUs per task: one job at a time with the local launcher's 2 torch threads, so the arithmetic is the same
    config["launcher"] = {"resources": {"num_cpus": 2}}
    code, ray_dir = _sweep(tmp_path, "ray", config, "--launcher", "ray")
    assert code == 0
    local, distributed = read_front(tmp_path / "local"), read_front(ray_dir)
    assert [_comparable(p) for p in distributed.points] == [_comparable(p) for p in local.points]
    assert distributed.metrics.hypervolume == local.metrics.hypervolume
    assert (
        distributed.provenance["config_hash"] == local.provenance["config_hash"]
    )  # the launcher is not hashed
    assert [h.point_id for h in distributed.history] == [h.point_id for h in local.history]
    assert not (ray_dir / "failures.json").exists()


@pytest.mark.slow
def test_killed_worker_is_retried_raising_one_reported_then_resumed(
    ray_cluster, tmp_path, benchmark_cache, capsys
):
    config = tiny_sweep_dict(benchmark_cache, launcher={"kind": "ray", "max_retries": 1})
    (ray_cluster / "crash-w00-s0").touch()
    (ray_cluster / "raise-w01-s0").touch()
    code, run_dir = _sweep(tmp_path, "faults", config)
    assert code == 1
    assert not (ray_cluster / "crash-w00-s0").exists()  # its first attempt died ...
    assert [p.id for p in read_front(run_dir).points] == ["w00-s0"]  # ... and the retry finished it
    err = capsys.readouterr().err
    assert "error: job w01-s0 failed: RuntimeError: injected failure in w01-s0" in err
    failures = json.loads((run_dir / "failures.json").read_text())["failures"]
    assert failures == [{"job": "w01-s0", "error": "RuntimeError: injected failure in w01-s0"}]

    (ray_cluster / "raise-w01-s0").unlink()
    before = read_front(run_dir).points[0]
    code, _ = _sweep(tmp_path, "faults", config)
    assert code == 0
    after = read_front(run_dir).points
    assert [p.id for p in after] == ["w00-s0", "w01-s0"]
    assert after[0].compute == before.compute  # the finished job was not run again
    assert not (run_dir / "failures.json").exists()


def test_launcher_config_is_checked_and_not_hashed(tmp_path, capsys):
    base = tiny_sweep_dict(tmp_path)
    ray_config = parse_config(
        {**base, "launcher": {"kind": "ray", "resources": {"num_cpus": 2, "num_gpus": 1}}}
    )
    assert ray_config.config_hash() == parse_config(base).config_hash()  # a run resumes on either launcher
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**base, "launcher": {"resources": {"num_cpus": 0}}}))
    assert cli.main(["sweep", str(path)]) == 2
    assert "bad.yaml: launcher.resources.num_cpus: Input should be greater than 0" in capsys.readouterr().err
    path.write_text(yaml.safe_dump(base))
    assert cli.main(["sweep", str(path), "--address", "auto"]) == 2
    assert "launcher.address: only the ray launcher takes an address" in capsys.readouterr().err


def test_failures_read_as_one_line():
    ray = pytest.importorskip("ray")
    from pareto_align.distributed import describe_failure

    crashed = describe_failure(ray.exceptions.WorkerCrashedError())
    assert crashed.startswith("WorkerCrashedError: its worker process died (killed or crashed)")
    assert "\n" not in crashed
    raised = ray.exceptions.RayTaskError(
        "run_job_in_worker", "Traceback ...\nValueError: bad", ValueError("bad")
    )
    assert describe_failure(raised.as_instanceof_cause()) == "ValueError: bad"


def test_ray_launcher_without_ray_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep_dict(tmp_path)))
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run"), "--launcher", "ray"]) == 2
    assert "launcher.kind: 'ray' needs Ray: pip install 'pareto-align[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "run" / "front.json").exists()  # nothing was run


@pytest.mark.slow
def test_a_reward_function_the_workers_cannot_import_is_refused_before_any_job(ray_cluster, tmp_path,
                                                                                benchmark_cache, capsys):  # fmt: skip
    """`reward_fns` imports here (pytest puts tests/ on the driver's path) and not in a Ray worker."""
    config = tiny_sweep_dict(benchmark_cache, launcher={"kind": "ray"})
    config["objectives"][1]["scorer"] = {"function": "reward_fns:n_words"}
    code, run_dir = _sweep(tmp_path, "unimportable", config)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: objectives[1].scorer.function: the Ray workers cannot import reward_fns: "
                          "ModuleNotFoundError: No module named 'reward_fns'"), err  # fmt: skip
    assert not (run_dir / "points").exists()
    # the same function given as a file imports in the workers
    config["objectives"][1]["scorer"] = {
        "function": str(Path(__file__).parent / "reward_fns.py") + ":n_words"
    }
    from pareto_align.distributed import RayLauncher

    RayLauncher(parse_config(config).launcher).check_scorers(parse_config(config))
