"""Wall time of every optimizer step of a transformers/TRL trainer (CUDA synchronized), for the benchmark scripts."""

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
