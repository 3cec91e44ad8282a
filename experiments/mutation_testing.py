"""Mutation testing of the modules that hold a formula (issue 30): mutmut (PyPI, `pip install -e .[dev]`) mutates one
module at a time and runs only the tests that cover it; the kill rate per module goes into experiments/RESULTS.md.

    flock /tmp/pareto_cpu.lock python experiments/mutation_testing.py objectives [svd_lora ...] [--max-children 2]

Each module runs in a scratch copy of the package and its tests (mutmut's `mutants/` never touches the checkout):
a `[tool.mutmut]` section names the module (`only_mutate`) and its test selection (MODULES below), and mutmut forks
each mutant from a fork server (torch is not fork-safe once it has run). Per module it prints and writes (to
--out, default experiments/results/mutation/<module>.json) the counts by status and every survivor's name and
diff, to be judged by hand: equivalent (no input can tell it apart) or a gap to close with a test. mutmut runs only
the tests that reach the mutated function; a mutant no selected test reaches is "no tests" and counts as a survivor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# module (path in the package) -> the tests that hold its formulas (no slow ones: each runs once per mutant)
MODULES: dict[str, tuple[str, list[str]]] = {
    "objectives": ("pareto_align/objectives.py", ["tests/test_objectives.py", "tests/test_rewards.py"]),
    "indicators": ("pareto_align/front/indicators.py", ["tests/test_front_indicators.py", "tests/test_objectives.py"]),
    "weighting": ("pareto_align/weighting.py", ["tests/test_dynamic_weighting.py"]),
    "svd_lora": ("pareto_align/models/svd_lora.py", ["tests/test_svd_lora.py"]),
    "panacea_grpo": ("pareto_align/trainers/panacea_grpo.py", ["tests/test_panacea.py"]),
    "panacea_dpo": ("pareto_align/trainers/panacea_dpo.py", ["tests/test_panacea_dpo.py"]),
    "modpo_trainer": ("pareto_align/trainers/modpo_trainer.py", ["tests/test_modpo.py"]),
    "pairwise": ("pareto_align/export/pairwise.py", ["tests/test_export_report.py", "tests/test_export_tables.py"]),
    "soups": ("pareto_align/soups.py", ["tests/test_soups_mod.py"]),
    "mixture": ("pareto_align/models/mixture.py", ["tests/test_soups_mod.py"]),
}  # fmt: skip


def section(path: str, tests: list[str]) -> str:
    """The `[tool.mutmut]` section for one module and its tests."""
    quoted = ", ".join(json.dumps(t) for t in [*tests, "-m", "not slow", "-p", "no:cacheprovider"])
    return (f'\n[tool.mutmut]\nsource_paths = ["pareto_align"]\nonly_mutate = ["{path}"]\n'
            f"pytest_add_cli_args_test_selection = [{quoted}]\n"
            'also_copy = ["experiments", "apps"]\n'
            'process_isolation = "forkserver"\nuse_git_change_detection = false\n')  # fmt: skip


def run_module(name: str, max_children: int) -> dict:
    path, tests = MODULES[name]
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as tmp:
        work = Path(tmp)
        shutil.copytree(
            ROOT / "pareto_align", work / "pareto_align", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "e2e"))
        for folder in ("experiments", "apps"):  # some tests run their scripts
            shutil.copytree(
                ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "results")
            )
        project = (ROOT / "pyproject.toml").read_text()
        (work / "pyproject.toml").write_text(project.split("\n[tool.mutmut]")[0] + section(path, tests))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
        env.pop("PYTHONPATH", None)  # the mutated copy, not the checkout
        mutmut = [sys.executable, "-m", "mutmut"]
        run = subprocess.run([*mutmut, "run", "--max-children", str(max_children)], cwd=work, env=env,
                             capture_output=True, text=True)  # fmt: skip
        results = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, env=env, capture_output=True,
                                 text=True).stdout  # fmt: skip
        statuses: dict[str, str] = {}
        for line in results.splitlines():
            mutant, _, status = line.strip().rpartition(": ")
            if mutant:
                statuses[mutant] = status
        survivors = {m: subprocess.run([*mutmut, "show", m], cwd=work, env=env, capture_output=True, text=True).stdout
                     for m, s in statuses.items() if s not in ("killed", "timeout", "caught by type check")}  # fmt: skip
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    if counts.get("not checked") == len(statuses):  # mutmut stopped before any mutant (its clean run failed)
        statuses, survivors, killed = {}, {}, 0
    return {"module": path, "tests": tests, "mutants": len(statuses), "counts": counts, "killed": killed,
            "kill_rate": killed / len(statuses) if statuses else None, "survivors": survivors,
            "returncode": run.returncode, "log_tail": (run.stdout + run.stderr)[-2000:]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", default=list(MODULES), help=f"some of {', '.join(MODULES)}")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run at once")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "mutation")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.modules:
        result = run_module(name, args.max_children)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
        rate = "n/a" if result["kill_rate"] is None else f"{result['kill_rate']:.0%}"
        print(f"{name}: {result['killed']}/{result['mutants']} killed ({rate}); {result['counts']}; "
              f"survivors: {', '.join(result['survivors']) or 'none'}")  # fmt: skip
        if not result["mutants"]:
            print(result["log_tail"], file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
