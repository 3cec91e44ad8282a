"""Record a finished comparison's report as a raw result file for experiments/RESULTS.md.

    python experiments/record_compare.py runs/compare --out experiments/results/compare_cpu.json \
        [--rerun runs/compare-fresh] [--wall-seconds S] [--note TEXT]

Keeps the report's `summary.json` (per-method statistics, per-seed indicators, ratios to the grid, compute to
reach, pairwise statistics, the true-front bound) without its attainment surfaces and reference-set points, adds
`compare_summary.json` (compute used against the budget), each method's wall seconds over its seeds and, with
`--rerun`, how far a second run of the same comparison is from the first: per (method, seed), the absolute
difference of hypervolume, and whether every point's objective vector is identical.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pareto_align.comparison.runner import REPORT_DIR, SUMMARY_FILE
from pareto_align.export.runs import expand_run_dirs
from pareto_align.front import read_front

DROPPED = ("attainment_surfaces", "reference_set")


def _report(folder: Path) -> dict:
    return json.loads((folder / REPORT_DIR / "summary.json").read_text())


def _wall_seconds(report: dict) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for row in report["seeds"]:
        total[row["label"]] += row["wall_seconds"] or 0.0
    return {label: round(s, 1) for label, s in total.items()}


def _reproduction(first: Path, second: Path, first_report: dict, second_report: dict) -> dict:
    """Per method: the largest |HV difference| over seeds, and whether every point's values are identical."""
    hv = {(r["label"], r["seed"]): r["hypervolume"] for r in first_report["seeds"]}
    out = {}
    for run_dir in expand_run_dirs([first]):
        label = run_dir.name
        a, b = read_front(run_dir), read_front(second / label)
        same = [p.id for p in a.points] == [p.id for p in b.points] and all(
            p.values == q.values for p, q in zip(a.points, b.points, strict=True)
        )
        diffs = [abs(r["hypervolume"] - hv[(label, r["seed"])]) for r in second_report["seeds"]
                 if r["label"] == label]  # fmt: skip
        out[label] = {"identical_points": same, "max_abs_hypervolume_difference": max(diffs)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a comparison folder (pareto-align compare's --output-dir)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rerun", type=Path, help="a second run of the same comparison, from scratch")
    parser.add_argument(
        "--wall-seconds", type=float, help="the whole command's wall time, measured outside it"
    )
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    report = _report(args.folder)
    record = {
        "note": args.note,
        "report": {k: v for k, v in report.items() if k not in DROPPED},
        "reference_set_points": len(report["reference_set"].get("points", [])),
        "budget_use": json.loads((args.folder / SUMMARY_FILE).read_text()),
        "wall_seconds_per_method": _wall_seconds(report),
        "command_wall_seconds": args.wall_seconds,
    }
    if args.rerun is not None:
        rerun = _report(args.rerun)
        record["rerun"] = {"wall_seconds_per_method": _wall_seconds(rerun),
                           "against_first": _reproduction(args.folder, args.rerun, report, rerun)}  # fmt: skip
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: record[k] for k in ("wall_seconds_per_method", "command_wall_seconds")}, indent=1))
    if args.rerun is not None:
        print(json.dumps(record["rerun"], indent=1))


if __name__ == "__main__":
    main()
