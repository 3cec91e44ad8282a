"""What the step benchmarks share: the wall time of every optimizer step (CUDA synchronized), and their command line."""

from __future__ import annotations

import time

import torch
from transformers import TrainerCallback


class StepClock(TrainerCallback):
    """Appends each step's seconds to `times`."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cuda = torch.cuda.is_available()

    def on_step_begin(self, *args, **kwargs):
        if self.cuda:
            torch.cuda.synchronize()
        self.start = time.perf_counter()

    def on_step_end(self, *args, **kwargs):
        if self.cuda:
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.start)


def step_benchmark_args(doc: str, steps: int):
    """The command line shared by the step benchmarks: model size, batch, steps, repeats, output file."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def alternating_pairs(kinds: tuple[str, str], run, repeats: int, report) -> list[dict]:
    """`repeats` pairs of runs `run(kind)` of the two kinds, the order alternated so that warm-up and drift fall
    on both; `report(r, pair)` prints each pair as it comes."""
    runs = []
    for r in range(repeats):
        order = kinds if r % 2 == 0 else kinds[::-1]
        pair = {k: run(k) for k in order}
        runs.append(pair)
        report(r, pair)
    return runs
