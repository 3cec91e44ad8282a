"""Benchmark: quickstart sweep wall time from a cold cache and a warm cache, and what its front looks like.

Cold = empty benchmark cache (base model pre-training, sampling) and a fresh run dir; warm = the same cache and a
fresh run dir (the reward model and every policy are trained again). By default each run is the real command,
`pareto-align sweep CONFIG --output-dir DIR --no-progress`, in a subprocess; `--in-process` calls `run_sweep`
instead (for a machine without the plotting stack, e.g. a bare GPU box).

    python experiments/bench_quickstart.py [--config experiments/quickstart.yaml] [--out results.json]

Side by side: `--repo DIR` (repeated) runs each checkout's own code (PYTHONPATH=DIR) and config (DIR/CONFIG), each
with its own empty cache, cold runs one after the other and then warm runs, and says whether their fronts are the
same to the last digit (every point's values and stderr). For the code before a change, a worktree of it:

    git worktree add /tmp/before <commit> && python experiments/bench_quickstart.py --repo /tmp/before --repo . \
        --skip-warm --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def checkout_env(repo: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that runs `repo`'s code (run it with cwd=repo: `python -m` puts the working
    directory first on sys.path), whatever this interpreter has installed."""
    env = {**os.environ, **extra}
    if repo is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def imported_from(repo: Path | None) -> str:
    """Where the subprocesses of `run_once` import pareto_align from (a check that --repo took effect)."""
    cmd = [sys.executable, "-c", "import pareto_align; print(pareto_align.__file__)"]
    return subprocess.run(
        cmd, env=checkout_env(repo), cwd=repo, capture_output=True, text=True
    ).stdout.strip()


def cpu_seconds(in_process: bool) -> float:
    """User + system CPU seconds of this process (in-process runs) or of its finished children (subprocess runs):
    less sensitive than wall time to other work on the machine, though not immune (shared caches, hyperthreads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF if in_process else resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(
    config: Path, run_dir: Path, cache: Path, in_process: bool, repo: Path | None = None
) -> tuple[float, float]:
    """Wall and CPU seconds of one sweep."""
    env = checkout_env(repo, PARETO_ALIGN_CACHE=str(cache), TQDM_DISABLE="1")
    start, cpu = time.perf_counter(), cpu_seconds(in_process)
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
        subprocess.run(cmd, env=env, cwd=repo, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, cpu_seconds(in_process) - cpu


def revision(repo: Path) -> str:
    """The checkout's commit, with '+changes' when its tracked files differ from it."""
    git = ["git", "-C", str(repo)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"]).returncode != 0
    return (commit or "unknown") + ("+changes" if dirty else "")


def front_differences(first: Path, second: Path) -> list[str]:
    """Where two fronts' baselines and points differ (ids, weights, values and stderr compared exactly); empty when
    they are the same to the last digit."""
    fields = ("id", "weights", "values", "stderr")

    def entries(run_dir: Path) -> list[dict]:
        front = json.loads((run_dir / "front.json").read_text())
        return [{f: p.get(f) for f in fields} for p in front["baselines"] + front["points"]]

    a, b = entries(first), entries(second)
    out = [] if len(a) == len(b) else [f"{len(a)} vs {len(b)} baselines and points"]
    for x, y in zip(a, b, strict=False):
        out += [f"{x['id']}: {f} {x[f]} vs {y[f]}" for f in fields if x[f] != y[f]]
    return out


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
    parser.add_argument(
        "--repo", type=Path, action="append", help="a checkout to run (repeat to compare several)"
    )
    parser.add_argument("--skip-warm", action="store_true", help="cold runs only")
    args = parser.parse_args()
    if args.repo and args.in_process:
        parser.error("--in-process runs this interpreter's code; --repo runs each checkout in a subprocess")
    import torch

    repos = [r.resolve() for r in args.repo] if args.repo else [None]
    phases = ["cold"] if args.skip_warm else ["cold", "warm"]
    revisions = [revision(repo or Path.cwd()) for repo in repos]  # before the runs: what they run
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seconds: dict[tuple[int, str], tuple[float, float]] = {}  # (checkout, phase) -> wall, CPU
        for phase in phases:  # every checkout's cold run, then every warm run: drifting load hits them alike
            for i, repo in enumerate(repos):
                config = args.config if repo is None or args.config.is_absolute() else repo / args.config
                seconds[i, phase] = run_once(
                    config, tmp / f"{phase}-{i}", tmp / f"cache-{i}", args.in_process, repo
                )
                wall, cpu = seconds[i, phase]
                print(
                    f"{phase} {imported_from(repo)}: {wall:.0f} s (CPU {cpu:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        last = phases[-1]
        runs = [
            {
                "repo": str(repo) if repo else None,
                "revision": revisions[i],
                "imported_from": imported_from(repo),
                **{f"{phase}_seconds": seconds[i, phase][0] for phase in phases},
                **{f"{phase}_cpu_seconds": seconds[i, phase][1] for phase in phases},
                "front": describe(tmp / f"{last}-{i}"),
            }
            for i, repo in enumerate(repos)
        ]
        differences = {
            f"{runs[0]['revision']} vs {runs[i]['revision']}": front_differences(
                tmp / f"{last}-0", tmp / f"{last}-{i}"
            )
            for i in range(1, len(repos))
        }
    result = {
        "mode": "in-process run_sweep" if args.in_process else "pareto-align sweep (subprocess)",
        "device": torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"cpu ({os.cpu_count()} cores)",
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if len(runs) == 1:  # the single-checkout record, as before
        result = {
            **{k: v for k, v in runs[0].items() if k not in ("repo", "revision", "imported_from")},
            **result,
        }
    else:
        result = {**result, "runs": runs, "front_differences": differences}
    for run in runs:
        front = run["front"]
        times = ", ".join(
            f"{phase} {run[f'{phase}_seconds']:.0f} s (CPU {run[f'{phase}_cpu_seconds']:.0f} s)"
            for phase in phases
        )
        print(f"{run['revision'][:12]}: {times}; HV {front['hypervolume']:.1f} vs base {front['base_hypervolume']:.1f}; "
              f"{front['n_non_dominated']}/{front['n_points']} non-dominated")  # fmt: skip
        if len(runs) == 1:
            print(json.dumps(front["largest_weight_scores_highest"], indent=1))
    for pair, diff in (result.get("front_differences") or {}).items():
        print(f"fronts {pair}: " + ("identical to the last digit" if not diff else f"DIFFER: {diff[:5]}"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
