"""Size a comparison before running it: run it scaled down (first seed only, training lengths divided by --scale)
and extrapolate each method's wall time to the full config.

Per method it measures the scaled sweep's wall time and, inside it, the training time its front records (every
point's and every piece of shared work's `compute.wall_seconds`, e.g. specialists, the conditioned model, C-MORL's
snapshot evaluations). Training is taken to scale with the planned policy updates (the ratio of the two configs'
`planned_updates`; DPA: iterations; RiC and best-of-n run at full size); the rest (evaluation, the baseline, the
reward model for the first method that needs one) is counted as is. Full estimate per method = (measured - training
+ training x ratio) x seeds (best-of-n: the first seed only), plus the reward model once. Linear in the updates,
this over-estimates methods with a fixed cost per training run (MODPO's reference log-probs over its data, a
trainer's start-up): an upper bound. Reported as a JSON file and a table.

    python experiments/size_compare.py [experiments/compare.yaml] [--scale 8] [--only modpo,morlhf]
        [--out runs/size_compare] [--results experiments/results/compare_sizing_cpu.json]

`--only` runs a subset of the methods (each subset its own comparison folder, its own reward model), so the
measurement can be split into several shorter runs; results of earlier subsets in --results are kept.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
from pathlib import Path

import yaml

os.environ.setdefault("TQDM_DISABLE", "1")

HERE = Path(__file__).parent


def _div(value: int, scale: float) -> int:
    return max(1, math.ceil(value / scale))


def scaled_section(section: dict, scale: float) -> dict:
    """The method section with its training lengths divided by `scale` (see the module docstring)."""
    s = copy.deepcopy(section)
    name = s.get("name", "modpo")
    if name in ("modpo", "morlhf", "dynamic_hv", "dynamic_grad", "cmorl") and "max_steps" in s.get("trl", {}):
        s["trl"]["max_steps"] = _div(s["trl"]["max_steps"], scale)
    if name == "cmorl":
        for key in ("snapshot_every", "checkpoint_every", "extension_steps"):
            if key in s:
                s[key] = _div(s[key], scale)
    if name in ("soups", "mod"):
        s["specialists"]["trl"]["max_steps"] = _div(s["specialists"]["trl"]["max_steps"], scale)
    if name == "dpa":
        s["iterations"] = 1
    return s


def scaled_comparison(raw: dict, scale: float, only: set[str] | None) -> dict:
    out = copy.deepcopy(raw)
    out["seeds"] = out.get("seeds", [0])[:1]
    methods = [m for m in out["methods"] if only is None or m.get("label", m.get("name", "modpo")) in only]
    out["methods"] = [scaled_section(m, scale) for m in methods]
    out.pop("output_dir", None)
    return out


def training_ratio(full, scaled) -> float:
    """How much more training the full method does than the scaled one."""
    method = full.config.method
    if method.name == "dpa":
        return method.iterations / scaled.config.method.iterations
    if full.plan is None or scaled.plan is None or scaled.plan.updates == 0:
        return 1.0
    return full.plan.updates / scaled.plan.updates


# handles whose cost is paid at inference: the sweep adds their evaluation's seconds to their compute
INFERENCE_TIME_KINDS = ("best_of_n", "mixture")


def training_seconds(run_dir: Path) -> float:
    """Seconds of training (points' own and shared work), evaluation excluded."""
    from pareto_align.front import read_front

    front = read_front(run_dir)
    shared = front.compute.shared.values() if front.compute else []
    own = [
        p.compute.wall_seconds
        - (p.metadata.get("eval_seconds", 0.0) if p.policy and p.policy.kind in INFERENCE_TIME_KINDS else 0.0)
        for p in front.points
    ]
    return sum(max(0.0, x) for x in own) + sum(c.wall_seconds for c in shared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default=str(HERE / "compare.yaml"))
    parser.add_argument("--scale", type=float, default=8.0)
    parser.add_argument("--only", help="comma-separated method labels (default: all)")
    parser.add_argument("--out", default="runs/size_compare")
    parser.add_argument("--results", default=str(HERE / "results" / "compare_sizing_cpu.json"))
    args = parser.parse_args()

    from pareto_align.comparison import load_comparison, parse_comparison, run_comparison

    full = load_comparison(args.config)
    only = set(args.only.split(",")) if args.only else None
    raw = scaled_comparison(yaml.safe_load(Path(args.config).read_text()), args.scale, only)
    scaled = parse_comparison(raw, source=f"{args.config} (scaled 1/{args.scale:g})")
    out = Path(args.out) / ("all" if only is None else "-".join(sorted(only)))
    times: dict[str, float] = {}
    clock = [time.perf_counter()]

    def done(label: str, run_dir: Path) -> None:
        now = time.perf_counter()
        times[label] = now - clock[0]
        clock[0] = now

    start = time.perf_counter()
    run_comparison(scaled, out, progress=False, on_method_done=done, formats=["csv", "json"])
    total = time.perf_counter() - start

    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.exists() else {"methods": {}}
    full_runs = {r.label: r for r in full.runs}
    # the reward model is trained once, while the first method that needs it runs: counted apart, once
    rm_seconds = sum(json.loads(f.read_text()).get("wall_seconds", 0.0)
                     for f in (out / "shared").glob("*/reward_model/reward_metrics.json"))  # fmt: skip
    rm_owner = next((r.label for r in scaled.runs if (out / r.label / "reward_model").exists()), None)
    for run in scaled.runs:
        results["methods"][run.label] = {
            "measured_seconds": round(times[run.label], 1),
            "training_seconds": round(training_seconds(out / run.label), 1),
            "reward_model_seconds_included": round(rm_seconds, 1) if run.label == rm_owner else 0.0,
            "training_ratio": round(training_ratio(full_runs[run.label], run), 2),
            "seeds": 1 if run.config.method.name == "bon" else len(full_runs[run.label].config.seeds),
        }
    for m in results["methods"].values():  # every estimate from the raw measurements
        rest = m["measured_seconds"] - m["training_seconds"] - m["reward_model_seconds_included"]
        m["estimated_seconds_per_seed"] = round(rest + m["training_seconds"] * m["training_ratio"], 1)
        m["estimated_seconds"] = round(m["estimated_seconds_per_seed"] * m["seeds"], 1)
    rm_once = max(m["reward_model_seconds_included"] for m in results["methods"].values())
    results.update({"config": args.config, "scale": args.scale, "machine": f"{os.cpu_count()} CPUs",
                    "reward_model_seconds": rm_once,
                    "estimated_total_seconds": round(sum(m["estimated_seconds"] for m in results["methods"].values())
                                                     + rm_once, 1)})  # fmt: skip
    results.setdefault("runs", []).append(
        {"only": sorted(only) if only else None, "wall_seconds": round(total, 1)}
    )
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{'method':14} {'measured s':>10} {'training s':>10} {'ratio':>6} {'est. s/seed':>11} {'seeds':>5} {'est. s':>8}"
    )
    for label, m in results["methods"].items():
        print(f"{label:14} {m['measured_seconds']:>10} {m['training_seconds']:>10} {m['training_ratio']:>6} "
              f"{m['estimated_seconds_per_seed']:>11} {m['seeds']:>5} {m['estimated_seconds']:>8}")  # fmt: skip
    print(
        f"reward model (once): {results['reward_model_seconds']} s; estimated total: "
        f"{results['estimated_total_seconds']:.0f} s; wrote {results_path}"
    )


if __name__ == "__main__":
    main()
