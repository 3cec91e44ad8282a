"""Benchmark: quickstart sweep wall time from a cold cache and a warm cache, and what its front looks like.

Cold = empty benchmark cache (base model pre-training, sampling) and a fresh run dir; warm = the same cache and a
fresh run dir (the reward model and every policy are trained again). By default each run is the real command,
`pareto-align sweep CONFIG --output-dir DIR --no-progress`, in a subprocess; `--in-process` calls `run_sweep`
instead (for a machine without the plotting stack, e.g. a bare GPU box).

    python experiments/bench_quickstart.py [--config experiments/quickstart.yaml] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(config: Path, run_dir: Path, cache: Path, in_process: bool) -> float:
    env = {**os.environ, "PARETO_ALIGN_CACHE": str(cache), "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    if in_process:
        os.environ.update(env)
        from pareto_align.config import load_config
        from pareto_align.sweep import run_sweep

        cfg = load_config(config)
        run_sweep(cfg, run_dir, config_path=config, progress=False, log=lambda *_: None)
    else:
        cmd = [
            sys.executable,
            "-m",
            "pareto_align.cli",
            "sweep",
            str(config),
            "--output-dir",
            str(run_dir),
            "--no-progress",
        ]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def describe(run_dir: Path) -> dict:
    """Front summary and the check 'the point with the largest weight on j scores highest on j (within stderr)'."""
    import numpy as np

    from pareto_align.front import hypervolume, read_front

    front = read_front(run_dir)
    values = np.array([p.values for p in front.points])  # (n, K)
    stderr = np.array([p.stderr for p in front.points])
    weights = np.array([p.weights for p in front.points])
    per_objective = {}
    for j, name in enumerate(front.objective_names):
        top_w = int(np.argmax(weights[:, j]))  # point with the largest weight on j (first on ties)
        best = int(np.argmax(values[:, j]))
        gap = values[best, j] - values[top_w, j]
        per_objective[name] = {
            "largest_weight_point": front.points[top_w].id, "its_value": values[top_w, j],
            "best_point": front.points[best].id, "best_value": values[best, j],
            "gap_in_stderr": float(gap / np.hypot(stderr[best, j], stderr[top_w, j])) if gap > 0 else 0.0,
        }  # fmt: skip
    rm = front.provenance.get("reward_model", {})
    return {
        "reference_point": front.reference_point,
        "hypervolume": front.metrics.hypervolume,
        "base_hypervolume": hypervolume(front.F("baselines"), front.reference_point, front.normalization),
        "n_points": front.metrics.n_points,
        "n_non_dominated": len(front.metrics.non_dominated_ids),
        "points": {
            p.id: {"weights": p.weights, "values": p.values, "stderr": p.stderr} for p in front.points
        },
        "base": {"values": front.baselines[0].values, "stderr": front.baselines[0].stderr},
        "largest_weight_scores_highest": per_objective,
        "reward_model_accuracy": {k: v for k, v in rm.items() if "accuracy" in k},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("experiments/quickstart.yaml"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cold = run_once(args.config, tmp / "cold", tmp / "cache", args.in_process)
        warm = run_once(args.config, tmp / "warm", tmp / "cache", args.in_process)
        result = {
            "cold_seconds": cold,
            "warm_seconds": warm,
            "mode": "in-process run_sweep" if args.in_process else "pareto-align sweep (subprocess)",
            "device": torch.cuda.get_device_name()
            if torch.cuda.is_available()
            else f"cpu ({os.cpu_count()} cores)",
            "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d"),
            "front": describe(tmp / "warm"),
        }
    print(json.dumps({k: v for k, v in result.items() if k != "front"}, indent=1))
    print(json.dumps(result["front"]["largest_weight_scores_highest"], indent=1))
    print(f"HV {result['front']['hypervolume']:.1f} vs base {result['front']['base_hypervolume']:.1f}; "
          f"{result['front']['n_non_dominated']}/{result['front']['n_points']} non-dominated")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
