"""Benchmark: a `morlhf` GRPO step in N data-parallel processes against one process (same per-process batch).

Each run trains the benchmark-sized model (K = 3 reward heads, as bench_morlhf_step.py) for `--steps` optimizer
steps and records every step's wall time (CUDA synchronized) on the main process. One process runs with plain
Python; N processes run under a launcher: `accelerate launch --multi_gpu` on GPUs, `torchrun` on CPUs (gloo;
accelerate's own multi-CPU launch needs MPI). With the same per-process batch, N processes do N times the work
of one per step: the report gives the step-time ratio and the throughput ratio (completions per second).

    python experiments/bench_ddp_step.py [--processes 2] [--steps 20] [--repeats 2] [--out experiments/results/F]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
HERE = Path(__file__).resolve().parent


def worker(args) -> None:
    """One training run (in every process of a launcher); the main process writes its step times."""
    import datasets
    import torch
    from bench_morlhf_step import WEIGHTS, _setting
    from step_clock import StepClock
    from trl import GRPOConfig, GRPOTrainer

    from pareto_align.models.tiny import build_tiny_causal_lm
    from pareto_align.rewards import ObjectiveRewards

    cuda = torch.cuda.is_available()
    tok, prompts, rm = _setting(args.hidden, args.layers)
    model = build_tiny_causal_lm(tok, hidden_size=args.hidden, num_layers=args.layers, num_heads=4, seed=0)
    rewards = ObjectiveRewards(rm, ["a", "b", "c"], WEIGHTS)
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), use_cpu=not cuda, bf16=cuda and args.bf16, report_to="none",
                        seed=0, max_steps=args.steps, per_device_train_batch_size=args.batch, num_generations=8,
                        max_completion_length=28, learning_rate=3e-4, save_strategy="no", logging_steps=10**9,
                        disable_tqdm=True, reward_weights=rewards.weights())  # fmt: skip
    trainer = GRPOTrainer(model=model, reward_funcs=rewards.functions(), args=config, processing_class=tok,
                          train_dataset=datasets.Dataset.from_dict({"prompt": prompts}))  # fmt: skip
    rm.to(trainer.accelerator.device)
    clock = StepClock()
    trainer.add_callback(clock)
    trainer.train()
    if trainer.accelerator.is_main_process:
        processes = trainer.accelerator.num_processes
        step = statistics.median(clock.times[3:])
        result = {"processes": processes, "sec_per_step": step,
                  "completions_per_second": args.batch * processes / step,
                  "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                  "device": torch.cuda.get_device_name() if cuda else "cpu"}  # fmt: skip
        args.worker.write_text(json.dumps(result))


def launch(processes: int, args, out: Path) -> dict:
    import torch

    common = ["--steps", str(args.steps), "--batch", str(args.batch), "--hidden", str(args.hidden),
              "--layers", str(args.layers), "--worker", str(out)] + (["--bf16"] if args.bf16 else [])  # fmt: skip
    script = str(Path(__file__).resolve())
    if processes == 1:
        command = [sys.executable, script, *common]
    elif torch.cuda.is_available():
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   script, *common]  # fmt: skip
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   script, *common]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    if not torch.cuda.is_available():  # share the cores out instead of oversubscribing them
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="completions per process per step")
    parser.add_argument("--bf16", action="store_true", help="bf16 on a GPU")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # alternating order, so that drift hits both sides
            order = (1, args.processes) if r % 2 == 0 else (args.processes, 1)
            pair = {n: launch(n, args, Path(tmp) / f"r{r}-n{n}.json") for n in order}
            runs.append(pair)
            print(f"repeat {r}: 1 process {pair[1]['sec_per_step'] * 1e3:.1f} ms/step, {args.processes} processes "
                  f"{pair[args.processes]['sec_per_step'] * 1e3:.1f} ms/step")  # fmt: skip
    step_ratio = statistics.median(p[args.processes]["sec_per_step"] / p[1]["sec_per_step"] for p in runs)
    speedup = statistics.median(
        p[args.processes]["completions_per_second"] / p[1]["completions_per_second"] for p in runs
    )
    summary = {f"step_time_ratio_{args.processes}_over_1": step_ratio, f"throughput_ratio_{args.processes}_over_1":
               speedup, "settings": vars(args) | {"out": str(args.out), "worker": None},
               "runs": [{str(k): v for k, v in p.items()} for p in runs], "device": runs[0][1]["device"],
               "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    print(f"{args.processes} processes / 1: time per step x{step_ratio:.2f}, completions per second "
          f"x{speedup:.2f} (median of {args.repeats})")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
