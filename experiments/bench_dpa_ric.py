"""Benchmark: DPA and RiC on the built-in benchmark (experiments/dpa.yaml, experiments/ric.yaml), per seed:
- gold hypervolume (the configs' reference point, raw objectives) against the run's compute (policy updates,
  trained and generated tokens, the shared conditioned model counted once);
- how faithfully the one model follows the preference: per objective, the Spearman rank correlation between the
  weight asked on it (DPA: the direction's component; RiC: the simplex weight) and the value reached, over the
  front's grid;
- the time to generate one response at a new preference: the conditioned model loaded once (as the explorer holds
  it), then one response at each of 20 random new directions (median).

Each method and seed is a resumable sweep in OUT/<method>; run one seed at a time (`--seeds 0`) and then all, the
finished ones are only read back.

    python experiments/bench_dpa_ric.py [--out runs/dpa_ric] [--seeds 0 1 2] [--methods dpa ric] [--results F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

CONFIGS = {"dpa": "dpa.yaml", "ric": "ric.yaml"}


def spearman(x, y) -> float | None:
    import pandas as pd

    x, y = pd.Series(x, dtype=float), pd.Series(y, dtype=float)
    if x.nunique() < 2 or y.nunique() < 2:
        return None
    return float(x.corr(y, method="spearman"))


def new_direction_latency(run_dir: Path, handle: dict, prompt: str, k: int, repeats: int = 20) -> dict:
    """Median seconds to write a new preference into the prompt and sample one response, the model loaded once."""
    import numpy as np

    from pareto_align.models.generation import GenerationSettings
    from pareto_align.models.policy import load_policy

    start = time.perf_counter()
    policy = load_policy(handle, run_dir)
    load_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    settings = GenerationSettings(max_new_tokens=28)
    times = []
    for i in range(repeats + 2):
        w = rng.dirichlet(np.ones(k))
        policy.direction = (
            w / np.linalg.norm(w) if handle["condition"]["kind"] == "integer_weights" else w
        ).tolist()
        t0 = time.perf_counter()
        policy.generate([prompt], settings, seed=i)
        if i >= 2:  # two warm-up calls
            times.append(time.perf_counter() - t0)
    return {"load_seconds": load_seconds, "median_seconds_per_response": statistics.median(times),
            "repeats": repeats}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/dpa_ric"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--results", type=Path, help="write the per-seed table as JSON here")
    parser.add_argument(
        "--no-run", action="store_true", help="only read back the seeds already in OUT/<method>"
    )
    args = parser.parse_args()

    from pareto_align.config import load_config
    from pareto_align.front import hypervolume, read_front
    from pareto_align.sweep import run_sweep

    here = Path(__file__).parent
    rows = []
    for method in args.methods:
        name = CONFIGS[method]
        config = load_config(here / name).model_copy(update={"seeds": args.seeds, "name": method})
        start = time.perf_counter()
        run_dir = args.out / method
        if not args.no_run:
            run_sweep(config, run_dir, config_path=here / name, progress=False, log=lambda *_: None)
        front = read_front(run_dir)
        names = [o.name for o in front.objectives]
        for seed in args.seeds:
            mine = [p for p in front.points if p.seed == seed]
            if not mine:
                continue
            used = sorted({s for p in mine for s in p.compute.shared})
            parts = [p.compute for p in mine] + [front.compute.shared[s] for s in used]
            F = [p.values for p in mine]
            asked = [p.direction for p in mine]
            faithfulness = {
                n: spearman([a[k] for a in asked], [f[k] for f in F]) for k, n in enumerate(names)
            }
            latency = new_direction_latency(run_dir, mine[0].policy.model_dump(exclude_none=True),
                                            front.baselines[0].samples[0].prompt, len(names))  # fmt: skip
            row = {
                "method": method,
                "seed": seed,
                "points": len(mine),
                "hypervolume": hypervolume(F, front.reference_point, front.normalization),
                "policy_updates": sum(c.policy_updates for c in parts),
                "trained_tokens": sum(c.trained_tokens for c in parts),
                "generated_tokens": sum(c.generated_tokens for c in parts),
                "training_wall_seconds": sum(c.wall_seconds for c in parts),
                "eval_seconds": sum(p.metadata.get("eval_seconds", 0.0) for p in mine),
                "spearman_asked_vs_achieved": faithfulness,
                "new_direction": latency,
            }
            rows.append(row)
            rho = ", ".join(f"{n} {r:+.2f}" if r is not None else f"{n} n/a" for n, r in faithfulness.items())
            print(f"{method} seed {seed}: hypervolume {row['hypervolume']:7.1f}  updates {row['policy_updates']:5d}  "
                  f"trained tokens {row['trained_tokens']:8d}  generated tokens {row['generated_tokens']:8d}  "
                  f"training {row['training_wall_seconds']:.0f} s  spearman {rho}  new direction "
                  f"{1000 * latency['median_seconds_per_response']:.1f} ms")  # fmt: skip
        print(f"{method}: {time.perf_counter() - start:.0f} s")
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({"rows": rows, "date": time.strftime("%Y-%m-%d")}, indent=2))


if __name__ == "__main__":
    main()
