"""Benchmark: C-MORL against a linear-scalarization grid of the same cost, on the built-in benchmark.

Three arms. `cmorl` from experiments/cmorl.yaml (stage 1: 6 GRPO runs of 80 steps; 2 rounds of 6 x 3 extensions of
20 steps: 1,200 policy updates per seed). `morlhf`, equal policy updates: the same rewards (gold), trainer and
hyper-parameters on a das-dennis grid of 15 weight vectors x 80 steps (1,200 policy updates per seed).
`morlhf_tokens`, equal generated tokens: the same grid, each run given S = round(80 x T_cmorl / T_morlhf) steps,
with T the mean generated tokens per seed of the first two arms (C-MORL's snapshot evaluations included), so the
grid generates about as many tokens as C-MORL; it needs both fronts, and runs one sweep per seed
(<out>/morlhf_tokens/s<seed>) so that it can be run a seed at a time (`--arms morlhf_tokens --seeds 0`). The
table is made from every arm whose fronts exist for all of `--seeds`. Per method and seed: the gold
hypervolume of all the seed's points (raw, and normalized by [reference point, the benchmark's best values]),
expected utility (normalized, the front file's default weights), cardinality, policy updates and generated tokens
(C-MORL's snapshot evaluations included); for C-MORL, the fraction of constraints G_j >= beta G_j(pi_r) its
extensions keep on the held-out prompts (training-reward units), and how often the barrier's clamp bound. Then the
mean over seeds with 95% bootstrap intervals.

    python experiments/bench_cmorl.py [--out runs/cmorl] [--seeds 0 1 2] [--arms cmorl morlhf morlhf_tokens]
                                      [--results experiments/results/cmorl_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import yaml

os.environ.setdefault("TQDM_DISABLE", "1")

HERE = Path(__file__).parent
BASELINE_GRID = {"kind": "das-dennis", "n_partitions": 4}  # 15 weight vectors x 80 steps = 1,200 updates
ARMS = ("cmorl", "morlhf", "morlhf_tokens")


def config_for(method: str, seeds: list[int], max_steps: int | None = None):
    from pareto_align.config import parse_config

    data = yaml.safe_load((HERE / "cmorl.yaml").read_text())
    data["seeds"], data["name"] = seeds, method
    if method != "cmorl":
        keep = ("trainer", "reward_source", "scalarization", "history_every", "trl")
        data["method"] = {"name": "morlhf", **{k: data["method"][k] for k in keep}}
        data["weights"] = BASELINE_GRID
        if max_steps is not None:
            data["method"]["trl"] = {**data["method"]["trl"], "max_steps": max_steps}
    return parse_config(data, source=str(HERE / "cmorl.yaml"), base_dir=HERE)


def matched_steps(cmorl, morlhf) -> tuple[int, float]:
    """Steps per grid run so that the grid generates C-MORL's tokens: 80 x (C-MORL's mean tokens per seed / the
    equal-update grid's), over every seed in both fronts; and that ratio."""

    def per_seed(front) -> float:
        seeds = sorted({p.seed for p in front.points})
        return float(
            np.mean([sum(p.compute.generated_tokens for p in front.points if p.seed == s) for s in seeds])
        )

    steps = int(yaml.safe_load((HERE / "cmorl.yaml").read_text())["method"]["trl"]["max_steps"])
    ratio = per_seed(cmorl) / per_seed(morlhf)
    return round(steps * ratio), ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/cmorl"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--arms", nargs="*", choices=ARMS, default=list(ARMS), help="arms to run or resume (none: report)"
    )
    parser.add_argument("--results", type=Path, help="write the table as JSON here")
    args = parser.parse_args()

    from pareto_align.export.bootstrap import bootstrap_ci
    from pareto_align.front import read_front
    from pareto_align.front.indicators import cardinality, default_eu_weights, expected_utility, hypervolume
    from pareto_align.front.schema import Normalization
    from pareto_align.sweep import run_sweep

    def sweep(config, run_dir: Path) -> float:
        start = time.perf_counter()
        run_sweep(config, run_dir, config_path=HERE / "cmorl.yaml", progress=False, log=lambda *_: None)
        return time.perf_counter() - start

    seconds: dict[str, float] = {}
    for method in ("cmorl", "morlhf"):
        if method in args.arms:
            seconds[method] = sweep(config_for(method, args.seeds), args.out / method)
    fronts, points = {}, {}
    for method in ("cmorl", "morlhf"):
        if (args.out / method / "front.json").exists():
            fronts[method] = read_front(args.out / method)
            points[method] = fronts[method].points
    steps = None
    if "cmorl" in fronts and "morlhf" in fronts:
        steps, ratio = matched_steps(fronts["cmorl"], fronts["morlhf"])
        print(f"morlhf_tokens: {steps} steps per run (C-MORL / grid generated tokens: {ratio:.3f})")
        if "morlhf_tokens" in args.arms:
            seconds["morlhf_tokens"] = sum(sweep(config_for("morlhf_tokens", [s], steps),
                                                 args.out / "morlhf_tokens" / f"s{s}") for s in args.seeds)  # fmt: skip
        tokens_dirs = [args.out / "morlhf_tokens" / f"s{s}" / "front.json" for s in args.seeds]
        if all(d.exists() for d in tokens_dirs):
            points["morlhf_tokens"] = [p for d in tokens_dirs for p in read_front(d.parent).points]
    elif "morlhf_tokens" in args.arms:
        raise SystemExit("morlhf_tokens needs the cmorl and morlhf fronts first (run those arms)")

    ref = fronts["cmorl"].reference_point
    norm = Normalization(method="bounds", lower=ref, upper=[6.0, 0.0, 0.0])  # the benchmark's best values
    W, _ = default_eu_weights(len(ref))
    rows = []
    for method, arm_points in points.items():
        for seed in args.seeds:
            mine = [p for p in arm_points if p.seed == seed]
            F = np.asarray([p.values for p in mine])
            row = {"method": method, "seed": seed, "points": len(mine), "hypervolume": hypervolume(F, ref),
                   "hypervolume_normalized": hypervolume(F, ref, norm),
                   "expected_utility": expected_utility(F, W, norm), "cardinality": cardinality(F),
                   "policy_updates": sum(p.compute.policy_updates for p in mine),
                   "generated_tokens": sum(p.compute.generated_tokens for p in mine)}  # fmt: skip
            ext = [p.metadata["cmorl"] for p in mine if p.metadata.get("cmorl", {}).get("stage") == 2]
            if ext:
                held = [h for m in ext for h in m["constraints_held"]]
                row["constraints_kept"] = sum(held) / len(held)
                row["clamp_binding"] = float(np.mean([max(m["clamp_binding"]) > 0 for m in ext]))
            rows.append(row)
            print(json.dumps(row))
    summary = {}
    for method in points:
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {"wall_seconds_this_invocation": seconds.get(method, 0.0)}
        for key in ("hypervolume", "hypervolume_normalized", "expected_utility", "cardinality", "policy_updates",
                    "generated_tokens", "constraints_kept"):  # fmt: skip
            values = [r[key] for r in mine if key in r]
            if values:
                ci = bootstrap_ci(values)
                summary[method][key] = [ci.mean, ci.low, ci.high]
        print(method, json.dumps(summary[method]))
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({"summary": summary, "rows": rows, "seeds": args.seeds,
                                            "morlhf_tokens_steps": steps,
                                            "date": time.strftime("%Y-%m-%d")}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
