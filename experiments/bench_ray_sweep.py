"""Benchmark: a sweep on the Ray launcher (a local cluster) against the local launcher, and Ray's overhead per job.

One mode per invocation (each is a few minutes on 2 cores), results merged into one JSON file:

    python experiments/bench_ray_sweep.py --mode local --out experiments/results/ray_sweep_cpu.json
    python experiments/bench_ray_sweep.py --mode ray --cpus-per-job 2 --out ...   # one job at a time (serial)
    python experiments/bench_ray_sweep.py --mode ray --cpus-per-job 1 --out ...   # two jobs at once

Every run is `run_sweep` in this process into a fresh run directory with a warm benchmark cache (built first if
missing, not timed), so the reward model and every policy are trained in each run. A Ray run starts its own local
cluster with `--cluster-cpus` CPUs (timed apart from the sweep). Per job, the launcher records when it was submitted,
when the worker entered the task, the task's and the job's own seconds (method.run + evaluation), when the driver
received the outcome and when it had merged it into front.json. In a serial run a job's overhead is the time
between the previous job's result and its own not spent in the job:
    dispatch  = entered - max(submitted, previous received)     scheduling, worker start, arguments
    setup     = task seconds - job seconds                       worker-side tracker/workspace, torch threads
    return    = received - (entered + task seconds)              result transfer
    merge     = merged - received                                the driver's front.json write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


def _points(run_dir: Path) -> dict:
    from pareto_align.front import read_front

    front = read_front(run_dir)
    return {"hypervolume": front.metrics.hypervolume,
            "points": {p.id: {"values": p.values, "stderr": p.stderr} for p in front.points}}  # fmt: skip


def _overheads(timings: list[dict], serial: bool) -> dict:
    """Per job: setup, return and merge always; dispatch (and so the whole overhead) only in a serial run, where
    a job cannot start before the previous one's result (with jobs in parallel the gaps overlap)."""
    rows, previous = [], None
    for t in sorted(timings, key=lambda t: t["received"]):
        row = {"job": t["job"], "job_seconds": t["job_seconds"], "setup": t["task_seconds"] - t["job_seconds"],
               "return": t["received"] - (t["entered"] + t["task_seconds"]), "merge": t["merged"] - t["received"]}  # fmt: skip
        if serial:
            row["dispatch"] = t["entered"] - (
                t["submitted"] if previous is None else max(t["submitted"], previous)
            )
            row["overhead"] = row["dispatch"] + row["setup"] + row["return"] + row["merge"]
        rows.append(row)
        previous = t["received"]
    later = rows[1:] or rows
    keys = [k for k in ("dispatch", "setup", "return", "merge", "overhead") if k in rows[0]]
    out = {"per_job": rows, "mean_later_jobs": {k: statistics.mean(r[k] for r in later) for k in keys}}
    if serial:
        out["first_job_overhead"] = rows[0]["overhead"]
    return out


def run(mode: str, config_path: Path, cpus_per_job: float, cluster_cpus: int) -> dict:
    from pareto_align.config import load_config
    from pareto_align.data.synthetic import load_synthetic_benchmark
    from pareto_align.sweep import run_sweep

    config = load_config(config_path)
    load_synthetic_benchmark(
        config.data.synthetic, cache_dir=config.cache_dir, progress=False
    )  # warm, untimed
    result: dict = {"mode": mode, "config": str(config_path)}
    captured: list[dict] = []
    if mode == "ray":
        import ray

        from pareto_align import distributed

        start = time.perf_counter()
        ray.init(num_cpus=cluster_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"TQDM_DISABLE": "1"}})  # fmt: skip
        result["cluster_start_seconds"] = time.perf_counter() - start
        config.launcher = config.launcher.model_copy(update={"kind": "ray"})
        config.launcher.resources = config.launcher.resources.model_copy(update={"num_cpus": cpus_per_job})
        real_close = distributed.RayLauncher.close

        def close(self):
            captured.extend(self.timings)
            real_close(self)

        distributed.RayLauncher.close = close
        result.update(cpus_per_job=cpus_per_job, cluster_cpus=cluster_cpus)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        start, load = time.perf_counter(), os.getloadavg()[0]
        run_sweep(config, run_dir, config_path=config_path, progress=False, log=lambda *_: None)
        result["sweep_seconds"] = time.perf_counter() - start
        # other processes on the machine (1-minute load average) at the start and the end of the sweep
        result["load_average"] = [load, os.getloadavg()[0]]
        result["front"] = _points(run_dir)
    if captured:
        result["jobs"] = _overheads(captured, serial=cpus_per_job >= cluster_cpus)
        result["sum_job_seconds"] = sum(t["job_seconds"] for t in captured)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["local", "ray"], required=True)
    parser.add_argument("--config", type=Path, default=Path("experiments/quickstart.yaml"))
    parser.add_argument("--cpus-per-job", type=float, default=1.0)
    parser.add_argument("--cluster-cpus", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    result = run(args.mode, args.config, args.cpus_per_job, args.cluster_cpus)
    result.update(date=time.strftime("%Y-%m-%d"), machine=f"{platform.machine()}, {os.cpu_count()} cores")
    key = "local" if args.mode == "local" else f"ray_{args.cpus_per_job:g}cpu_per_job"
    summary = json.loads(args.out.read_text()) if args.out.exists() else {}
    summary[key] = result
    local = summary.get("local")
    for name, entry in summary.items():
        if name.startswith("ray_") and local:
            entry["wall_ratio_to_local"] = entry["sweep_seconds"] / local["sweep_seconds"]
            entry["same_values_as_local"] = all(
                entry["front"]["points"][pid] == p for pid, p in local["front"]["points"].items()
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    shown = {k: v for k, v in result.items() if k not in ("front", "jobs")}
    if "jobs" in result:
        shown["first_job_overhead"] = result["jobs"].get("first_job_overhead")
        shown["mean_later_jobs"] = result["jobs"]["mean_later_jobs"]
    print(json.dumps(shown, indent=1))


if __name__ == "__main__":
    main()
