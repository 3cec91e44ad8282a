"""Benchmark: gold hypervolume against total training compute for soups and MOD next to the MODPO and MORLHF grids,
over 3 seeds, on the built-in benchmark (the configs under experiments/ with `seeds: [0, 1, 2]`), each method a
resumable sweep in OUT/<method>, then the paper exporter over all four (OUT/paper: tables with bootstrap intervals
over seeds, figures). Prints, per method and seed, the hypervolume (reference point of the configs, raw objectives)
and the run's compute (policy updates, trained and generated tokens, shared work counted once).

    python experiments/bench_fronts_vs_compute.py [--out runs/fronts_vs_compute] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

CONFIGS = {"modpo": "quickstart.yaml", "morlhf": "morlhf.yaml", "soups": "soups.yaml", "mod": "mod.yaml"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/fronts_vs_compute"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", type=Path, help="write the per-seed table as JSON here")
    args = parser.parse_args()

    from pareto_align.config import load_config
    from pareto_align.export import export_runs
    from pareto_align.front import hypervolume, read_front
    from pareto_align.sweep import run_sweep

    here = Path(__file__).parent
    rows = []
    for method, name in CONFIGS.items():
        config = load_config(here / name).model_copy(update={"seeds": args.seeds, "name": method})
        start = time.perf_counter()
        run_sweep(config, args.out / method, config_path=here / name, progress=False, log=lambda *_: None)
        front = read_front(args.out / method)
        for seed in args.seeds:
            mine = [p for p in front.points if p.seed == seed]
            # this seed's cost: its points, plus each piece of shared work they used (its specialists) once
            used = sorted({s for p in mine for s in p.compute.shared})
            parts = [p.compute for p in mine] + [front.compute.shared[s] for s in used]
            updates = sum(c.policy_updates for c in parts)
            trained = sum(c.trained_tokens for c in parts)
            generated = sum(c.generated_tokens for c in parts)
            F = [p.values for p in mine]
            hv = hypervolume(F, front.reference_point, front.normalization)
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "points": len(mine),
                    "hypervolume": hv,
                    "policy_updates": updates,
                    "trained_tokens": trained,
                    "generated_tokens": generated,
                }
            )
            print(
                f"{method:7s} seed {seed}: hypervolume {hv:7.1f}  points {len(mine):2d}  updates {updates:5d}  "
                f"trained tokens {trained:8d}  generated tokens {generated:8d}"
            )
        print(f"{method}: {time.perf_counter() - start:.0f} s")
    export_runs([args.out / m for m in CONFIGS], args.out / "paper", force=True)
    print(f"paper tables and figures: {args.out / 'paper'}")
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({"rows": rows, "date": time.strftime("%Y-%m-%d")}, indent=2))


if __name__ == "__main__":
    main()
