"""Record the real-model comparison (`pareto-align compare experiments/smollm2.yaml`) for experiments/RESULTS.md.

    python experiments/record_smollm2.py runs/smollm2 [--out experiments/results/smollm2_cpu.json] [--log FILE]

Per method: the front's hypervolume beside the base policy's (the base point alone, same reference point), how
many points dominate the base point, the objective vector of every point, the compute (policy updates, trained
and generated tokens, wall seconds, shared work included once), and sample responses at the front's corners
(the weight vectors that put all weight on one objective) and middle (the vector nearest the simplex centre), so
a reader sees the trade-off in text. `--log` reads the peak resident memory of the run from a `/usr/bin/time -v`
log of the command.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from pareto_align.front import read_front
from pareto_align.front.indicators import hypervolume

ROOT = Path(__file__).resolve().parents[1]


def _preference(point) -> list[float] | None:
    value = point.weights if point.weights is not None else point.direction
    return None if value is None else [float(x) for x in value]


def _picks(points) -> dict[str, object]:
    """The corner points (all weight on one objective) and the one nearest the simplex centre."""
    prefs = [(p, _preference(p)) for p in points]
    prefs = [(p, np.asarray(w) / max(sum(w), 1e-12)) for p, w in prefs if w is not None and len(w)]
    if not prefs:
        return {}
    k = len(prefs[0][1])
    picks = {}
    for j in range(k):
        corner = next((p for p, w in prefs if w[j] > 0.999), None)
        if corner is not None:
            picks[f"corner {j}"] = corner
    centre = np.full(k, 1.0 / k)
    picks["middle"] = min(prefs, key=lambda pw: float(np.abs(pw[1] - centre).sum()))[0]
    return picks


def record_method(run_dir: Path) -> dict:
    front = read_front(run_dir)
    names = [o.name for o in front.objectives]
    base = next((b for b in front.baselines if b.method == "base"), None)
    F = np.asarray([p.values for p in front.points])  # (n, K), every objective maximized
    ref = front.reference_point
    norm = front.normalization
    base_hv = hypervolume(np.asarray([base.values]), ref, norm) if base is not None else None
    dominating = 0
    if base is not None:
        b = np.asarray(base.values)
        dominating = int(sum(bool(np.all(f >= b) and np.any(f > b)) for f in F))
    samples = {}
    for label, point in _picks(front.points).items():
        shown = [
            {"prompt": s.prompt, "response": s.response, "values": s.values}
            for s in (point.samples or [])[:2]
        ]
        samples[label] = {
            "id": point.id,
            "preference": _preference(point),
            "values": point.values,
            "samples": shown,
        }
    return {
        "objectives": names,
        "hypervolume": hypervolume(F, ref, norm) if len(F) else None,
        "base_hypervolume": base_hv,
        "base_values": base.values if base is not None else None,
        "points_dominating_base": dominating,
        "n_points": len(F),
        "points": [
            {"id": p.id, "preference": _preference(p), "values": p.values, "stderr": p.stderr}
            for p in front.points
        ],  # fmt: skip
        "compute": front.compute.model_dump(mode="json") if front.compute is not None else None,
        "samples": samples,
    }


def peak_memory_gib(log: Path) -> float | None:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
    return int(match.group(1)) / 2**20 if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/results/smollm2_cpu.json")
    parser.add_argument(
        "--log", type=Path, action="append", default=[], help="/usr/bin/time -v logs of the run"
    )
    args = parser.parse_args()
    methods = {p.parent.name: record_method(p.parent) for p in sorted(args.folder.glob("*/front.json"))}
    summary_path = args.folder / "compare_summary.json"
    record = {"methods": methods,
              "compare_summary": json.loads(summary_path.read_text()) if summary_path.exists() else None,
              "peak_memory_gib": [peak_memory_gib(log) for log in args.log]}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, ensure_ascii=False))
    for name, m in methods.items():
        if not m["n_points"]:
            print(f"{name:10s} no points yet")
            continue
        print(f"{name:10s} HV {m['hypervolume']:.2f}  base {m['base_hypervolume']:.2f}  "
              f"{m['points_dominating_base']}/{m['n_points']} points dominate the base  "
              f"updates {m['compute'] and m['compute']['total']['policy_updates']}")  # fmt: skip


if __name__ == "__main__":
    main()
