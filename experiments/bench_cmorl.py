"""Benchmark: C-MORL against a linear-scalarization grid of the same cost, on the built-in benchmark.

`cmorl` from experiments/cmorl.yaml (stage 1: 6 GRPO runs of 80 steps; 2 rounds of 6 x 3 extensions of 20 steps:
1,200 policy updates per seed) and `morlhf` with the same rewards (gold), trainer and hyper-parameters on a
das-dennis grid of 15 weight vectors x 80 steps (1,200 policy updates per seed). Per method and seed: the gold
hypervolume of all the seed's points (raw, and normalized by [reference point, the benchmark's best values]),
expected utility (normalized, the front file's default weights), cardinality, policy updates and generated tokens
(C-MORL's snapshot evaluations included); for C-MORL, the fraction of constraints G_j >= beta G_j(pi_r) its
extensions keep on the held-out prompts (training-reward units), and how often the barrier's clamp bound. Then the
mean over seeds with 95% bootstrap intervals.

    python experiments/bench_cmorl.py [--out runs/cmorl] [--seeds 0 1 2] [--results experiments/results/cmorl_cpu.json]
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


def config_for(method: str, seeds: list[int]):
    from pareto_align.config import parse_config

    data = yaml.safe_load((HERE / "cmorl.yaml").read_text())
    data["seeds"], data["name"] = seeds, method
    if method == "morlhf":
        keep = ("trainer", "reward_source", "scalarization", "history_every", "trl")
        data["method"] = {"name": "morlhf", **{k: data["method"][k] for k in keep}}
        data["weights"] = BASELINE_GRID
    return parse_config(data, source=str(HERE / "cmorl.yaml"), base_dir=HERE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/cmorl"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, help="write the table as JSON here")
    args = parser.parse_args()

    from pareto_align.export.bootstrap import bootstrap_ci
    from pareto_align.front import read_front
    from pareto_align.front.indicators import cardinality, default_eu_weights, expected_utility, hypervolume
    from pareto_align.front.schema import Normalization
    from pareto_align.sweep import run_sweep

    fronts, seconds = {}, {}
    for method in ("cmorl", "morlhf"):
        start = time.perf_counter()
        run_sweep(config_for(method, args.seeds), args.out / method, config_path=HERE / "cmorl.yaml", progress=False,
                  log=lambda *_: None)  # fmt: skip
        seconds[method] = time.perf_counter() - start
        fronts[method] = read_front(args.out / method)

    ref = fronts["cmorl"].reference_point
    norm = Normalization(method="bounds", lower=ref, upper=[6.0, 0.0, 0.0])  # the benchmark's best values
    W, _ = default_eu_weights(len(ref))
    rows = []
    for method, front in fronts.items():
        for seed in args.seeds:
            mine = [p for p in front.points if p.seed == seed]
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
    for method in fronts:
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {"wall_seconds_all_seeds": seconds[method]}
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
                                            "date": time.strftime("%Y-%m-%d")}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
