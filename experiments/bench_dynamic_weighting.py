"""Benchmark: does dynamic reward weighting beat fixed weights? `morlhf` (fixed), `dynamic_hv` and `dynamic_grad`
on the built-in benchmark from the same three presets (experiments/dynamic_hv.yaml: favour helpful, favour length,
balanced), over 3 seeds, each method with the same policy updates (80 per preset) and the same RL batches.

Every method's runs are evaluated by the gold functions every 10 steps into the history (monitoring only, not
counted as compute; dynamic_hv's own measurements, which steer it, are counted). Per method and seed it reports:
- the final gold hypervolume of the three preset policies, raw (the configs' reference point) and normalized
  (bounds [reference point, the benchmark's best values]);
- the first step at which the hypervolume of the three presets' training policies reaches the fixed-weight run's
  final hypervolume (same seed), or "never" within the budget;
- the compute actually used (policy updates, generated tokens, including dynamic_hv's measurements);
then the mean over seeds with 95% bootstrap intervals, and exports the paper figures (fronts, trajectories of the
objective vectors over training) with the exporter into OUT/paper.

    python experiments/bench_dynamic_weighting.py [--out runs/dynamic_weighting] [--seeds 0 1 2]
        [--results experiments/results/dynamic_weighting_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

import yaml

os.environ.setdefault("TQDM_DISABLE", "1")

HERE = Path(__file__).parent
METHODS = {"morlhf": "morlhf.yaml", "dynamic_hv": "dynamic_hv.yaml", "dynamic_grad": "dynamic_grad.yaml"}
HISTORY_EVERY = 10


def config_for(method: str, seeds: list[int]):
    from pareto_align.config import parse_config

    data = yaml.safe_load((HERE / METHODS[method]).read_text())
    data["weights"] = yaml.safe_load((HERE / "dynamic_hv.yaml").read_text())["weights"]  # the same presets
    data["seeds"], data["name"] = seeds, method
    data["method"]["history_every"] = HISTORY_EVERY
    return parse_config(data, source=str(HERE / METHODS[method]), base_dir=HERE)


def hv_curve(front, seed: int, normalization=None) -> dict[int, float]:
    """Step -> hypervolume of the presets' policies of one seed at that step (training entries, then the
    final points at the last step); only steps at which every preset was measured."""
    from pareto_align.front import hypervolume

    at: dict[int, dict[str, list[float]]] = defaultdict(dict)
    ids = {p.id for p in front.points if p.seed == seed}
    for e in front.history:
        values = (e.model_extra or {}).get("values")
        if e.training and e.point_id in ids and values is not None:
            at[e.step][e.point_id] = values
    for p in front.points:
        if p.id in ids:
            at[p.step][p.id] = p.values
    return {s: hypervolume(list(v.values()), front.reference_point, normalization)
            for s, v in sorted(at.items()) if len(v) == len(ids)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/dynamic_weighting"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, help="write the table as JSON here")
    args = parser.parse_args()

    from pareto_align.export import export_runs
    from pareto_align.export.bootstrap import bootstrap_ci
    from pareto_align.front import hypervolume, read_front
    from pareto_align.front.schema import Normalization
    from pareto_align.sweep import run_sweep

    fronts, seconds = {}, {}
    for method in METHODS:
        config = config_for(method, args.seeds)
        run_dir = args.out / method
        first = args.out / next(iter(METHODS))
        if (
            method != "morlhf"
            and (first / "reward_model").exists()
            and not (run_dir / "reward_model").exists()
        ):
            # the reward model is a shared product of identical reward_model/data sections: train it once
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(first / "reward_model", run_dir / "reward_model")
        start = time.perf_counter()
        run_sweep(config, run_dir, config_path=HERE / METHODS[method], progress=False, log=lambda *_: None)
        seconds[method] = time.perf_counter() - start
        fronts[method] = read_front(run_dir)

    ref = fronts["morlhf"].reference_point
    best = [6.0, 0.0, 0.0]  # the benchmark's best values of topic_coverage, -flagged_words, -word_count
    norm = Normalization(method="bounds", lower=ref, upper=best)
    rows = []
    for method, front in fronts.items():
        for seed in args.seeds:
            mine = [p for p in front.points if p.seed == seed]
            F = [p.values for p in mine]
            fixed_final = hypervolume([p.values for p in fronts["morlhf"].points if p.seed == seed], ref)
            curve = hv_curve(front, seed)
            reached = next((s for s, hv in curve.items() if hv >= fixed_final), None)
            rows.append({"method": method, "seed": seed, "hypervolume": hypervolume(F, ref),
                         "hypervolume_normalized": hypervolume(F, ref, norm), "steps_to_fixed_final": reached,
                         "hv_curve": curve, "policy_updates": sum(p.compute.policy_updates for p in mine),
                         "generated_tokens": sum(p.compute.generated_tokens for p in mine),
                         "meta_evaluation_tokens": sum(p.metadata.get("meta_evaluation_tokens", 0) for p in mine),
                         "final_weights": {p.id: p.metadata.get("final_weights", p.weights) for p in mine},
                         "multipliers": {p.id: [m["multiplier"] for m in p.metadata.get("multipliers", [])]
                                         for p in mine},
                         "values": {p.id: p.values for p in mine}})  # fmt: skip
            r = rows[-1]
            print(f"{method:13s} seed {seed}: HV {r['hypervolume']:8.1f} (normalized {r['hypervolume_normalized']:.4f})"
                  f", reaches fixed-weight final HV at step {reached}, {r['policy_updates']} updates, "
                  f"{r['generated_tokens']} generated tokens")  # fmt: skip
    summary = {}
    for method in fronts:
        mine = [r for r in rows if r["method"] == method]
        hv = bootstrap_ci([r["hypervolume"] for r in mine])
        hvn = bootstrap_ci([r["hypervolume_normalized"] for r in mine])
        summary[method] = {"hypervolume": [hv.mean, hv.low, hv.high],
                           "hypervolume_normalized": [hvn.mean, hvn.low, hvn.high],
                           "steps_to_fixed_final": [r["steps_to_fixed_final"] for r in mine],
                           "policy_updates": sum(r["policy_updates"] for r in mine) / len(mine),
                           "generated_tokens": sum(r["generated_tokens"] for r in mine) / len(mine),
                           "wall_seconds_all_seeds": seconds[method]}  # fmt: skip
        s = summary[method]
        print(f"{method:13s} HV {hv.mean:.1f} [{hv.low:.1f}, {hv.high:.1f}]  normalized {hvn.mean:.4f} "
              f"[{hvn.low:.4f}, {hvn.high:.4f}]  steps to fixed final {s['steps_to_fixed_final']}  "
              f"updates/seed {s['policy_updates']:.0f}  generated tokens/seed {s['generated_tokens']:.0f}  "
              f"{seconds[method]:.0f} s")  # fmt: skip
    try:
        export_runs([args.out / m for m in fronts], args.out / "paper", formats=["csv", "json", "tex", "png"],
                    force=True)  # fmt: skip
    except Exception as err:  # the table above is the result; the figures are a convenience
        print(f"export: {err}")
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({"summary": summary, "rows": rows, "seeds": args.seeds,
                                            "date": time.strftime("%Y-%m-%d")}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
