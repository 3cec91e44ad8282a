"""Run by test_evaluating_callbacks.py under `torchrun --nproc_per_node 2` (gloo): the sweeps named on the command
line (CONFIG RUN_DIR pairs), one after the other in one launch, each with callbacks that evaluate while training.
A callback that evaluates on the main process alone makes the run hang (or the other process fail): the test's
timeout catches it."""

from __future__ import annotations

import sys
from pathlib import Path

from pareto_align.config import load_config
from pareto_align.sweep import run_sweep


def main() -> None:
    args = sys.argv[1:]
    for config, run_dir in zip(args[::2], args[1::2], strict=True):
        run_sweep(load_config(config), Path(run_dir), progress=False, log=lambda *a, **k: None)


if __name__ == "__main__":
    main()
